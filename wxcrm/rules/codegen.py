"""Code generation: a rule's folded conditions and hours become one Python function
whose ``and``/``or`` short-circuit natively.

The source is built from the fact catalogue's attribute names and the operator
allow-list only; every value a marketer typed sits in a constant slot (a closure cell),
so no text from a rule ever reaches the generated source. Each name that does reach it is
mapped through an allow-list here (operators, fact attributes, whole numbers), so even a
rule that skipped validation (a row changed in the database) cannot put code in.
"""
from __future__ import annotations

import re
from typing import Callable

from wxcrm.rules.conditions import AllOf, AnyOf, Leaf, NotOf
from wxcrm.rules.facts import FACTS

# operator in a rule -> the Python operator written into the source
_COMPARISONS = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$")
_ATTRS = frozenset(spec.attr for spec in FACTS.values() if _IDENTIFIER.match(spec.attr or ""))


class UnsafeRule(ValueError):
    """A rule asked for something code generation does not allow (never from a validated rule)."""


def _whole(value, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise UnsafeRule(f"not a whole number in {low}..{high}: {value!r}")
    return value


class _Constants:
    """Constant slots of one generated predicate: values never appear in source text."""

    def __init__(self):
        self.values: dict[str, object] = {}

    def slot(self, value: object) -> str:
        name = f"k{len(self.values)}"
        self.values[name] = value
        return name


def _read_code(leaf: Leaf, k: _Constants) -> str:
    name = leaf.spec.name
    if FACTS.get(name) is not leaf.spec:
        raise UnsafeRule(f"unknown fact {name!r}")
    if name == "member.spend_fen":
        return f"s.spend_in({_whole(leaf.window_days, 0, 100_000)})"
    if name == "member.purchase_count" and leaf.window_days:
        return f"s.purchases_in({_whole(leaf.window_days, 0, 100_000)})"
    if name in ("item.qty", "item.amount_fen"):
        if name == "item.amount_fen" and leaf.selector.chooses_every_line:
            return "s.total_fen"
        method = "chosen_qty" if name == "item.qty" else "chosen_amount_fen"
        return f"s.{method}({k.slot(leaf.selector)})"
    if name == "item.sku":
        return "s.skus"
    if name == "item.category":
        return "s.categories"
    if name == "payment.methods":
        return "s.payment_methods"
    if leaf.spec.attr not in _ATTRS:
        raise UnsafeRule(f"fact {name!r} has no readable attribute")
    return f"s.{leaf.spec.attr}"


def _leaf_code(leaf: Leaf, k: _Constants) -> str:
    read = _read_code(leaf, k)
    op = leaf.op
    if op not in leaf.spec.operators:
        raise UnsafeRule(f"operator {op!r} is not allowed for {leaf.spec.name}")
    if leaf.spec.type == "lines":
        test = f"{k.slot(leaf.value)}.isdisjoint({read})"
        return f"(not {test})" if op == "in" else test
    if leaf.spec.type == "bool":
        return read if leaf.value else f"(not {read})"
    if op == "between":
        code = f"({k.slot(leaf.value[0])} <= {read} <= {k.slot(leaf.value[1])})"
    elif op in ("in", "not_in"):
        code = f"({read} {'in' if op == 'in' else 'not in'} {k.slot(leaf.value)})"
    elif op in _COMPARISONS:
        code = f"({read} {_COMPARISONS[op]} {k.slot(leaf.value)})"
    else:
        raise UnsafeRule(f"operator {op!r} cannot be compiled")
    if leaf.spec.nullable:
        code = f"({read} is not None and {code})"
    return code


def _node_code(node, k: _Constants) -> str:
    if isinstance(node, bool):
        return repr(node)
    if isinstance(node, Leaf):
        return _leaf_code(node, k)
    if isinstance(node, NotOf):
        return f"(not {_node_code(node.child, k)})"
    if not isinstance(node, (AllOf, AnyOf)):
        raise UnsafeRule(f"not a condition: {type(node).__name__}")
    joiner = " and " if isinstance(node, AllOf) else " or "
    return "(" + joiner.join(_node_code(c, k) for c in node.children) + ")"


def _hours_code(hours: tuple[tuple[int, int], ...]) -> str:
    return "(" + " or ".join(f"({_whole(start, 0, 1440)} <= s.minute_of_day < {_whole(end, 0, 1440)})"
                             for start, end in hours) + ")"


def generate_predicate(node, hours: tuple[tuple[int, int], ...]) -> Callable | None:
    """One function for the rule's conditions and hours; None when it always holds."""
    k = _Constants()
    parts = []
    if hours:
        parts.append(_hours_code(hours))
    if node is False:
        parts = ["False"]
    elif node is not True:
        parts.append(_node_code(node, k))
    if not parts:
        return None
    # The constants become closure cells of the predicate (fast to read, unlike globals),
    # through a factory taking them as arguments.
    names = ", ".join(k.values)
    source = f"lambda {names}: lambda s: {' and '.join(parts)}"
    factory = eval(compile(source, "<rule predicate>", "eval"), {"__builtins__": {}})
    return factory(**k.values)

