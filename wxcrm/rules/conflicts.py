"""What the console's rule editor warns about before a rule set goes live.

* ``exclusive_overlap``: two rules of one exclusive group can match the same event, so
  one of them will sometimes not apply (only the better one does). Often intended;
  the editor shows it so it is a choice.
* ``unreachable``: a higher rule that always matches where this one could (no
  conditions, no limits, a scope and validity that cover this one's) says ``stop``,
  so this rule can never run.
* ``never_matches``: the rule's own scope and conditions contradict each other (for
  example scope tiers [gold] and a condition tier == silver).

"Can match" is decided on what is certain from the rule's shape: the scope, the
validity window, and the simple tests at the top of the conditions (a fact compared
with a constant). When those leave room, the rules are reported: better a warning
about a pair that real baskets never bring together than silence about one they do.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from wxcrm.rules.compiler import CompiledRule, CompiledRuleSet
from wxcrm.rules.conditions import AllOf, Leaf, fold
from wxcrm.rules.scope import Scope


@dataclass(frozen=True)
class Conflict:
    kind: str                     # exclusive_overlap / unreachable / never_matches
    rule_ids: tuple[int, ...]
    message: str                  # English
    message_zh: str = ""          # the same, in the console's Chinese


def find_conflicts(compiled: CompiledRuleSet) -> list[Conflict]:
    live = [rule for rule in compiled.rules if rule.status in compiled.live_statuses]
    found: list[Conflict] = []
    for rule in live:
        if rule.never_matches:
            found.append(Conflict("never_matches", (rule.id,),
                                  f"rule {rule.id} ({rule.name}) can never match: its scope or "
                                  "conditions contradict each other",
                                  f"规则 {rule.id}（{rule.name}）永远不会匹配：它的适用范围或条件相互矛盾"))
    by_event: dict[str, list[CompiledRule]] = {}
    for rule in live:
        if not rule.never_matches:
            by_event.setdefault(rule.event, []).append(rule)
    for rules in by_event.values():                 # already in evaluation order
        for i, later in enumerate(rules):
            for earlier in rules[:i]:
                if _shadows(earlier, later):
                    found.append(Conflict(
                        "unreachable", (later.id, earlier.id),
                        f"rule {later.id} ({later.name}) never runs: rule {earlier.id} "
                        f"({earlier.name}) always matches before it and says stop",
                        f"规则 {later.id}（{later.name}）永远不会执行：规则 {earlier.id}"
                        f"（{earlier.name}）总在它之前匹配，并停止执行后面的规则"))
                    break
        groups: dict[str, list[CompiledRule]] = {}
        for rule in rules:
            if rule.exclusive_group:
                groups.setdefault(rule.exclusive_group, []).append(rule)
        for group, members in groups.items():
            for i, a in enumerate(members):
                for b in members[i + 1:]:
                    if _can_both_match(a, b):
                        found.append(Conflict(
                            "exclusive_overlap", (a.id, b.id),
                            f"rules {a.id} ({a.name}) and {b.id} ({b.name}) can match the same "
                            f"event; group {group} gives only the better of them",
                            f"规则 {a.id}（{a.name}）和规则 {b.id}（{b.name}）可能在同一事件中同时"
                            f"匹配；互斥组 {group} 只给其中更优的一个"))
    return found


# ---------------------------------------------------------------- unreachable

def _shadows(earlier: CompiledRule, later: CompiledRule) -> bool:
    """``earlier`` matches wherever ``later`` could, and stops the walk."""
    if not earlier.stop or earlier.predicate is not None or earlier.limits is not None:
        return False
    return (_scope_covers(earlier.index_scope, later.index_scope)
            and _days_cover(earlier, later) and _hours_cover(earlier, later))


def _scope_covers(wide: Scope, narrow: Scope) -> bool:
    for key in ("stores", "store_kinds", "tiers", "groups"):
        outer, inner = getattr(wide, key), getattr(narrow, key)
        if outer is not None and (inner is None or not inner <= outer):
            return False
    return True


def _days_cover(wide: CompiledRule, narrow: CompiledRule) -> bool:
    w, n = wide.validity, narrow.validity
    if w.starts is not None and (n.starts is None or n.starts < w.starts):
        return False
    if w.ends is not None and (n.ends is None or n.ends > w.ends):
        return False
    outer, inner = _weekdays(wide), _weekdays(narrow)
    return outer is None or (inner is not None and inner <= outer)


def _hours_cover(wide: CompiledRule, narrow: CompiledRule) -> bool:
    outer, inner = wide.validity.hours, narrow.validity.hours
    if not outer:
        return True
    if not inner:
        return False
    return all(any(a <= c and d <= b for a, b in outer) for c, d in inner)


def _weekdays(rule: CompiledRule) -> frozenset[int] | None:
    days = rule.validity.weekdays
    if rule.index_weekdays is not None:
        days = rule.index_weekdays if days is None else days & rule.index_weekdays
    return days


# ---------------------------------------------------------------- overlap

def _can_both_match(a: CompiledRule, b: CompiledRule) -> bool:
    return (_scopes_meet(a.index_scope, b.index_scope) and _days_meet(a, b) and _hours_meet(a, b)
            and not _conditions_exclude(a, b))


def _scopes_meet(a: Scope, b: Scope) -> bool:
    for key in ("stores", "store_kinds", "tiers", "groups"):
        x, y = getattr(a, key), getattr(b, key)
        if x is not None and y is not None and not x & y:
            return False
    return True


def _days_meet(a: CompiledRule, b: CompiledRule) -> bool:
    start = max((d for d in (a.validity.starts, b.validity.starts) if d), default=date.min)
    end = min((d for d in (a.validity.ends, b.validity.ends) if d), default=date.max)
    if start > end:
        return False
    x, y = _weekdays(a), _weekdays(b)
    return x is None or y is None or bool(x & y)


def _hours_meet(a: CompiledRule, b: CompiledRule) -> bool:
    x, y = a.validity.hours, b.validity.hours
    if not x or not y:
        return True
    return any(p < s and r < q for p, q in x for r, s in y)


def _conditions_exclude(a: CompiledRule, b: CompiledRule) -> bool:
    """Some fact both rules test at their top level cannot satisfy both tests."""
    first, second = _top_tests(a), _top_tests(b)
    for key in first.keys() & second.keys():
        if not _allowed_meet(first[key], second[key]):
            return True
    return False


def _top_tests(rule: CompiledRule) -> dict[tuple, tuple]:
    """Fact (with its window and items) -> what its top-level tests allow:
    ("range", low, high) for numbers and dates, ("set", values) or ("not", values)."""
    node = fold(rule.condition)
    leaves = node.children if isinstance(node, AllOf) else (node,)
    allowed: dict[tuple, tuple] = {}
    for leaf in leaves:
        if not isinstance(leaf, Leaf) or leaf.spec.type == "lines":
            continue
        key = (leaf.spec.name, leaf.window_days, leaf.selector)
        test = _allowed_by(leaf)
        if test is not None:
            allowed[key] = test if key not in allowed else _narrow(allowed[key], test)
    return allowed


def _allowed_by(leaf: Leaf) -> tuple | None:
    op, value = leaf.op, leaf.value
    if isinstance(value, date):
        value = value.toordinal()
    elif isinstance(value, tuple) and value and isinstance(value[0], date):
        value = (value[0].toordinal(), value[1].toordinal())
    numeric = leaf.spec.type in ("money", "count", "int", "date")
    if op == "==":
        return ("set", frozenset({value}))
    if op == "in":
        return ("set", value)
    if op in ("!=", "not_in"):
        return ("not", frozenset({value}) if op == "!=" else value)
    if not numeric:
        return None
    if op == "between":
        return ("range", value[0], value[1])
    # Whole numbers and days: "> 5" is ">= 6".
    return {">": ("range", value + 1, None), ">=": ("range", value, None),
            "<": ("range", None, value - 1), "<=": ("range", None, value)}[op]


def _narrow(x: tuple, y: tuple) -> tuple:
    """Both tests of one rule on one fact: keep the first unless both are ranges."""
    if x[0] == y[0] == "range":
        return ("range", _max(x[1], y[1]), _min(x[2], y[2]))
    return x


def _allowed_meet(x: tuple, y: tuple) -> bool:
    if x[0] == "range" and y[0] == "range":
        low, high = _max(x[1], y[1]), _min(x[2], y[2])
        return low is None or high is None or low <= high
    if x[0] == "set" and y[0] == "set":
        return bool(x[1] & y[1])
    if x[0] == "set" and y[0] == "not":
        return bool(x[1] - y[1])
    if x[0] == "not" and y[0] == "set":
        return bool(y[1] - x[1])
    if "range" in (x[0], y[0]) and "set" in (x[0], y[0]):
        values, (_, low, high) = (x[1], y) if x[0] == "set" else (y[1], x)
        return any(isinstance(v, int) and (low is None or v >= low) and (high is None or v <= high)
                   for v in values)
    return True


def _max(a, b):
    return b if a is None else a if b is None else max(a, b)


def _min(a, b):
    return b if a is None else a if b is None else min(a, b)
