"""Condition trees: parsed once from a rule's JSON, folded, and tested.

``parse_condition`` turns ``{"all": [...]}`` / ``{"fact", "op", "value"}`` into a tree of
``Leaf``/``AllOf``/``AnyOf``/``NotOf``; ``fold`` simplifies it (constants propagated,
groups flattened, cheap tests first); ``hoist_index_tests`` moves top-level store, tier
and weekday tests into the event index; ``holds`` is the interpreted test the
explanations use (the compiled predicate of ``codegen`` gives the same answers faster).
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from operator import attrgetter

from wxcrm.rules.facts import FACTS, FactSnapshot, FactSpec, LineSelector
from wxcrm.rules.schema import parse_date


@dataclass(frozen=True, eq=False)
class Leaf:
    spec: FactSpec
    op: str
    value: object           # int / str / bool / date; frozenset for in; (low, high) for between
    window_days: int | None
    selector: LineSelector | None
    path: str


@dataclass(frozen=True, eq=False)
class AllOf:
    children: tuple
    path: str


@dataclass(frozen=True, eq=False)
class AnyOf:
    children: tuple
    path: str


@dataclass(frozen=True, eq=False)
class NotOf:
    child: object
    path: str


def parse_condition(node: dict, path: str = "conditions"):
    if "all" in node:
        return AllOf(tuple(parse_condition(c, f"{path}.all[{i}]") for i, c in enumerate(node["all"])),
                     path)
    if "any" in node:
        return AnyOf(tuple(parse_condition(c, f"{path}.any[{i}]") for i, c in enumerate(node["any"])),
                     path)
    if "not" in node:
        return NotOf(parse_condition(node["not"], f"{path}.not"), path)
    spec = FACTS[node["fact"]]
    op, raw = node["op"], node["value"]
    convert = parse_date if spec.type == "date" else (lambda v: v)
    if op in ("in", "not_in"):
        value = frozenset(convert(v) for v in raw)
    elif op == "between":
        value = (convert(raw[0]), convert(raw[1]))
    else:
        value = convert(raw)
    selector = LineSelector.from_json(node.get("items")) if spec.takes_items else None
    return Leaf(spec, op, value, node.get("window_days"), selector, path)


def fold(node):
    """The same test, simpler: constants propagated, groups flattened, cheap tests first."""
    if isinstance(node, bool):
        return node
    if isinstance(node, Leaf):
        if node.op in ("in", "not_in") and node.spec.type != "lines":
            if not node.value:
                return node.op == "not_in"
            if len(node.value) == 1:
                (only,) = node.value
                return Leaf(node.spec, "==" if node.op == "in" else "!=", only, node.window_days,
                            node.selector, node.path)
        if node.op == "between" and node.value[0] > node.value[1]:
            return False
        return node
    if isinstance(node, NotOf):
        child = fold(node.child)
        if isinstance(child, bool):
            return not child
        if isinstance(child, NotOf):
            return child.child
        return NotOf(child, node.path)
    is_all = isinstance(node, AllOf)
    absorbing = not is_all                   # False ends an all, True ends an any
    kept = []
    for child in map(fold, node.children):
        if isinstance(child, bool):
            if child is absorbing:
                return absorbing
            continue                          # True in an all / False in an any changes nothing
        if isinstance(child, type(node)):
            kept.extend(child.children)
        else:
            kept.append(child)
    if not kept:
        return is_all
    if len(kept) == 1:
        return kept[0]
    kept.sort(key=_cost)                      # stable: equal costs keep the marketer's order
    return type(node)(tuple(kept), node.path)


def _cost(node) -> int:
    if isinstance(node, Leaf):
        spec = node.spec
        if spec.takes_items or spec.type == "lines":
            return 8
        if spec.window or spec.nullable or spec.name.startswith("member.birthday") \
                or spec.name.startswith("member.tenure"):
            return 3
        return 1
    if isinstance(node, NotOf):
        return _cost(node.child)
    return sum(map(_cost, node.children))


# Facts that the index answers: fact name -> Scope field.
_HOISTABLE = {"store.code": "stores", "store.kind": "store_kinds", "member.tier": "tiers",
              "member.group": "groups", "time.weekday": "weekdays"}


def hoist_index_tests(node) -> tuple[object, dict[str, frozenset]]:
    """Move top-level store/kind/tier/group/weekday membership tests into the index.

    Only tests every match must pass (the root, or a child of a root ``all``) can move.
    """
    if isinstance(node, bool):
        return node, {}
    children = node.children if isinstance(node, AllOf) else (node,)
    hoisted: dict[str, frozenset] = {}
    kept = []
    for child in children:
        dimension = _HOISTABLE.get(child.spec.name) if isinstance(child, Leaf) else None
        if dimension and child.op in ("==", "in"):
            values = child.value if child.op == "in" else frozenset({child.value})
            hoisted[dimension] = hoisted.get(dimension, values) & values
        else:
            kept.append(child)
    if not hoisted:
        return node, {}
    if not kept:
        return True, hoisted
    if len(kept) == 1:
        return kept[0], hoisted
    return AllOf(tuple(kept), node.path), hoisted


def read_fact(leaf: Leaf, s: FactSnapshot):
    """The interpreted twin of _read_code, for explanations."""
    name = leaf.spec.name
    if name == "member.spend_fen":
        return s.spend_in(leaf.window_days)
    if name == "member.purchase_count" and leaf.window_days:
        return s.purchases_in(leaf.window_days)
    if name == "item.qty":
        return s.chosen_qty(leaf.selector)
    if name == "item.amount_fen":
        return s.chosen_amount_fen(leaf.selector)
    if name == "item.sku":
        return s.skus
    if name == "item.category":
        return s.categories
    return attrgetter(leaf.spec.attr)(s)


def leaf_holds(leaf: Leaf, actual) -> bool:
    """The interpreted twin of _leaf_code: same answers, slower, explainable."""
    if leaf.spec.type == "lines":
        overlap = not leaf.value.isdisjoint(actual)
        return overlap if leaf.op == "in" else not overlap
    if actual is None and leaf.spec.nullable:
        return False                      # an unknown birthday satisfies no test on age
    op, value = leaf.op, leaf.value
    if op == "between":
        return value[0] <= actual <= value[1]
    if op == "in":
        return actual in value
    if op == "not_in":
        return actual not in value
    if leaf.spec.type == "bool":
        return bool(actual) == value
    return _COMPARE[op](actual, value)


_COMPARE = {"==": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge,
            "<": operator.lt, "<=": operator.le}


def holds(node, s: FactSnapshot) -> bool:
    if isinstance(node, bool):
        return node
    if isinstance(node, Leaf):
        return leaf_holds(node, read_fact(node, s))
    if isinstance(node, NotOf):
        return not holds(node.child, s)
    if isinstance(node, AllOf):
        return all(holds(c, s) for c in node.children)
    return any(holds(c, s) for c in node.children)



def leaves(node):
    """Every Leaf of a tree, in order."""
    if isinstance(node, Leaf):
        yield node
    elif isinstance(node, NotOf):
        yield from leaves(node.child)
    elif isinstance(node, (AllOf, AnyOf)):
        for child in node.children:
            yield from leaves(child)
