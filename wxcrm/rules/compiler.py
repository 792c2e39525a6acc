"""Compile a rule set once into an index the engine walks in microseconds.

What compiling does, and why:

* **Order.** Rules are put in evaluation order once: priority high to low, ties by lower
  id. The order rules were stored in never matters.
* **Fold.** Condition trees are simplified: nested ``all``/``any`` flattened, ``not not``
  removed, ``in`` a single value turned into ``==``, constant branches cut. Within a
  group, cheap tests (member tier) go before dear ones (scanning basket lines) so
  short-circuiting skips the dear ones most of the time.
* **Hoist.** A top-level test on the store, store kind, tier, group account or weekday
  is moved out of the conditions into the index, where it costs nothing per rule.
* **Generate.** What is left, with the rule's hours, becomes one Python function per
  rule whose ``and``/``or`` short-circuit natively. The source is built from our own
  fact attribute names and constant slots only; no text from a rule reaches it.
* **Index.** Per event, every rule gets a bit. A purchase's candidates are the AND of
  a few precomputed bitsets (its store, store kind, tier, group account, and the rules
  open on its business day), so a rule scoped to another store costs nothing.

The parsed (unfolded) condition tree is kept too, for the simulator's explanations.
"""
from __future__ import annotations

import operator
from operator import attrgetter
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Callable, Iterable

from wxcrm.rules.context import BudgetUsage, RuleUsage
from wxcrm.rules.facts import FACTS, FactSnapshot, FactSpec, LineSelector
from wxcrm.rules.schema import InvalidRule, Problem, parse_clock, parse_date, validate_rule
from wxcrm.rules.wording import (DATE_OP_ZH, OP_ZH, VALUES_ZH, clock, listed_zh, money_zh, phrases,
                                  weekday_zh)

LIVE_STATUSES = ("active",)


# ---------------------------------------------------------------- condition trees

@dataclass(frozen=True, eq=False)
class Leaf:
    spec: FactSpec
    op: str
    value: object           # int / str / bool / date; frozenset for in; (low, high) for between
    window_days: int | None
    selector: LineSelector | None
    path: str

    def describe(self) -> str:
        name = self.spec.name
        if self.window_days:
            name += f" (last {self.window_days} days)"
        if self.selector is not None and not self.selector.chooses_every_line:
            name += f" [{self.selector.describe()}]"
        return f"{name} {self.op} {_show(self.value)}"

    def describe_zh(self) -> str:
        """The same test in the console's Chinese: 购物篮总额 至少 300.00 元."""
        spec = self.spec
        name = fact_name_zh(spec)
        if self.window_days:
            name = f"最近 {self.window_days} 天{name}"
        if self.selector is not None and not self.selector.chooses_every_line:
            name += f"（{_selector_zh(self.selector)}）"
        if self.op == "between":
            low, high = self.value
            return f"{name} 介于 {_one_zh(spec, low)} 与 {_one_zh(spec, high)} 之间"
        if spec.type == "bool":
            return f"{name} 为 {_one_zh(spec, self.value)}"
        words = DATE_OP_ZH if spec.type == "date" else OP_ZH
        return f"{name} {words[self.op]} {_show_zh(spec, self.value)}"


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


def _show(value: object) -> str:
    if isinstance(value, frozenset):
        return "[" + ", ".join(sorted(map(str, value))) + "]"
    if isinstance(value, tuple):
        return f"[{value[0]}, {value[1]}]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def fact_name_zh(spec: FactSpec) -> str:
    """The fact's Chinese label without its unit note: amounts are shown in 元, weekdays
    by name (购物篮总额（分） -> 购物篮总额, 星期（1=周一） -> 星期)."""
    return spec.label_zh.split("（", 1)[0]


def _ordered(values) -> list:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def _one_zh(spec: FactSpec, value: object) -> str:
    if value is None:
        return "未知"
    if isinstance(value, bool):
        return "是" if value else "否"
    if spec.type == "money" and isinstance(value, int):
        return money_zh(value)
    if spec.name == "time.weekday":
        return weekday_zh(value)
    return VALUES_ZH.get(spec.name, {}).get(value, str(value))


def _show_zh(spec: FactSpec, value: object) -> str:
    if isinstance(value, (frozenset, set)):
        return listed_zh(_one_zh(spec, v) for v in _ordered(value)) or "无"
    return _one_zh(spec, value)


def _selector_zh(selector: LineSelector) -> str:
    parts = []
    if selector.skus:
        parts.append("商品 " + listed_zh(sorted(selector.skus)))
    if selector.categories:
        parts.append("品类 " + listed_zh(sorted(selector.categories)))
    if selector.exclude_skus:
        parts.append("不含商品 " + listed_zh(sorted(selector.exclude_skus)))
    if selector.exclude_categories:
        parts.append("不含品类 " + listed_zh(sorted(selector.exclude_categories)))
    return "；".join(parts) or "全部商品"


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


def explain_failure(node, s: FactSnapshot) -> str | None:
    """Why a condition tree does not hold for these facts (None when it holds)."""
    reasons = explain_failure_bilingual(node, s)
    return None if reasons is None else reasons[0]


def explain_failure_bilingual(node, s: FactSnapshot) -> tuple[str, str] | None:
    """Why a condition tree does not hold, as (English, Chinese); None when it holds.

    The English names the failing test by its path and fact name, for whoever reads the
    rule's JSON; the Chinese by the fact's label, with amounts in 元, for the console."""
    if isinstance(node, Leaf):
        actual = read_fact(node, s)
        if leaf_holds(node, actual):
            return None
        if node.spec.type == "lines":
            shown = _show(frozenset(actual))
            found_zh = f"购物篮中为 {_show_zh(node.spec, actual)}" if actual else "购物篮为空"
        else:
            shown = _show(actual)
            found_zh = f"实际为 {_one_zh(node.spec, actual)}"
        return (f"{node.path}: {node.describe()} is false ({node.spec.name} is {shown})",
                f"{node.describe_zh()} 不成立（{found_zh}）")
    if isinstance(node, NotOf):
        if holds(node.child, s):
            return (f"{node.path}: must not hold, but {_describe(node.child)} does",
                    f"不应满足“{_describe_zh(node.child)}”，但满足了")
        return None
    if isinstance(node, AllOf):
        for child in node.children:
            reasons = explain_failure_bilingual(child, s)
            if reasons:
                return reasons
        return None
    found = []
    for child in node.children:
        reasons = explain_failure_bilingual(child, s)
        if reasons is None:
            return None
        found.append(reasons)
    return (f"{node.path}: none of the alternatives holds ({'; '.join(en for en, _ in found)})",
            f"以下条件都不成立：{'；'.join(zh for _, zh in found)}")


def _describe(node) -> str:
    if isinstance(node, Leaf):
        return node.describe()
    if isinstance(node, NotOf):
        return f"not ({_describe(node.child)})"
    joiner = " and " if isinstance(node, AllOf) else " or "
    return "(" + joiner.join(map(_describe, node.children)) + ")"


def _describe_zh(node) -> str:
    if isinstance(node, Leaf):
        return node.describe_zh()
    if isinstance(node, NotOf):
        return f"非（{_describe_zh(node.child)}）"
    joiner = " 且 " if isinstance(node, AllOf) else " 或 "
    return "（" + joiner.join(map(_describe_zh, node.children)) + "）"


# ---------------------------------------------------------------- code generation

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
    if name == "member.spend_fen":
        return f"s.spend_in({int(leaf.window_days)})"
    if name == "member.purchase_count" and leaf.window_days:
        return f"s.purchases_in({int(leaf.window_days)})"
    if name in ("item.qty", "item.amount_fen"):
        if name == "item.amount_fen" and leaf.selector.chooses_every_line:
            return "s.total_fen"
        method = "chosen_qty" if name == "item.qty" else "chosen_amount_fen"
        return f"s.{method}({k.slot(leaf.selector)})"
    if name == "item.sku":
        return "s.skus"
    if name == "item.category":
        return "s.categories"
    return f"s.{leaf.spec.attr}"


def _leaf_code(leaf: Leaf, k: _Constants) -> str:
    read = _read_code(leaf, k)
    op = leaf.op
    if leaf.spec.type == "lines":
        test = f"{k.slot(leaf.value)}.isdisjoint({read})"
        return f"(not {test})" if op == "in" else test
    if leaf.spec.type == "bool":
        return read if leaf.value else f"(not {read})"
    if op == "between":
        code = f"({k.slot(leaf.value[0])} <= {read} <= {k.slot(leaf.value[1])})"
    elif op in ("in", "not_in"):
        code = f"({read} {'in' if op == 'in' else 'not in'} {k.slot(leaf.value)})"
    else:
        code = f"({read} {op} {k.slot(leaf.value)})"
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
    joiner = " and " if isinstance(node, AllOf) else " or "
    return "(" + joiner.join(_node_code(c, k) for c in node.children) + ")"


def _hours_code(hours: tuple[tuple[int, int], ...]) -> str:
    return "(" + " or ".join(f"({start} <= s.minute_of_day < {end})" for start, end in hours) + ")"


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


# ---------------------------------------------------------------- rules

@dataclass(frozen=True, slots=True)
class Scope:
    """Where and for whom a rule runs. None in a field: anywhere / anyone."""
    stores: frozenset[str] | None = None
    store_kinds: frozenset[str] | None = None
    tiers: frozenset[str] | None = None
    groups: frozenset[str] | None = None

    @classmethod
    def from_json(cls, data: dict | None) -> Scope:
        data = data or {}
        return cls(*(frozenset(data[key]) if key in data else None
                     for key in ("stores", "store_kinds", "tiers", "groups")))

    def narrowed(self, hoisted: dict[str, frozenset]) -> Scope:
        def meet(mine, extra):
            if extra is None:
                return mine
            return extra if mine is None else mine & extra
        return Scope(*(meet(getattr(self, key), hoisted.get(key))
                       for key in ("stores", "store_kinds", "tiers", "groups")))

    @property
    def empty(self) -> bool:
        return any(v is not None and not v for v in (self.stores, self.store_kinds, self.tiers,
                                                     self.groups))

    def refusal(self, s: FactSnapshot) -> str | None:
        reasons = self.refusal_bilingual(s)
        return None if reasons is None else reasons[0]

    def refusal_bilingual(self, s: FactSnapshot) -> tuple[str, str] | None:
        """Why this event is out of scope, as (English, Chinese), or None."""
        for label, fact, allowed, actual in (("store", "store.code", self.stores, s.store_code),
                                             ("store kind", "store.kind", self.store_kinds, s.store_kind),
                                             ("tier", "member.tier", self.tiers, s.tier),
                                             ("group account", "member.group", self.groups, s.group)):
            if allowed is not None and actual not in allowed:
                spec = FACTS[fact]
                where_zh = f"{spec.label_zh} {_one_zh(spec, actual)} " if actual is not None \
                    else f"没有{spec.label_zh}，"
                return (f"{label} {actual} is not in scope {_show(allowed)}",
                        f"{where_zh}不在适用范围内（限 {_show_zh(spec, allowed)}）")
        return None


@dataclass(frozen=True, slots=True)
class Validity:
    starts: date | None = None
    ends: date | None = None              # inclusive
    weekdays: frozenset[int] | None = None
    hours: tuple[tuple[int, int], ...] = ()   # [start, end) minutes of the day

    @classmethod
    def from_json(cls, data: dict | None) -> Validity:
        data = data or {}
        return cls(
            parse_date(data["from"]) if "from" in data else None,
            parse_date(data["to"]) if "to" in data else None,
            frozenset(data["weekdays"]) if "weekdays" in data else None,
            tuple(sorted((parse_clock(h["from"]), parse_clock(h["to"])) for h in data.get("hours", ()))),
        )

    @property
    def depends_on_day(self) -> bool:
        return self.starts is not None or self.ends is not None or self.weekdays is not None

    def open_on(self, day: date, weekday: int) -> bool:
        return ((self.starts is None or self.starts <= day) and (self.ends is None or day <= self.ends)
                and (self.weekdays is None or weekday in self.weekdays))

    def refusal(self, s: FactSnapshot) -> str | None:
        reasons = self.refusal_bilingual(s)
        return None if reasons is None else reasons[0]

    def refusal_bilingual(self, s: FactSnapshot) -> tuple[str, str] | None:
        """Why the rule is not valid at this moment, as (English, Chinese), or None."""
        if self.starts is not None and s.today < self.starts:
            return f"starts on {self.starts}", f"{self.starts} 起生效，尚未开始"
        if self.ends is not None and s.today > self.ends:
            return f"ended on {self.ends}", f"已于 {self.ends} 结束"
        if self.weekdays is not None and s.weekday not in self.weekdays:
            days_zh = listed_zh(weekday_zh(day) for day in sorted(self.weekdays))
            return (f"weekday {s.weekday} is not in {_show(self.weekdays)}",
                    f"当天是{weekday_zh(s.weekday)}，不在适用日（{days_zh}）")
        if self.hours and not any(a <= s.minute_of_day < b for a, b in self.hours):
            now = clock(s.minute_of_day)
            hours_zh = listed_zh(f"{clock(a)}–{clock(b)}" for a, b in self.hours)
            return (f"{s.today} {now} is outside its hours",
                    f"{s.today} {now} 不在适用时段（{hours_zh}）")
        return None


@dataclass(frozen=True, slots=True)
class Limits:
    per_day: int | None = None
    per_month: int | None = None
    lifetime: int | None = None
    budget_points: int | None = None
    budget_fen: int | None = None

    def refusal(self, usage: RuleUsage | None, budget: BudgetUsage | None) -> str | None:
        """Why this member may not get the rule again, or None."""
        if usage is not None:
            for limit, used, label in ((self.per_day, usage.today, "today"),
                                       (self.per_month, usage.this_month, "this month"),
                                       (self.lifetime, usage.lifetime, "in total")):
                if limit is not None and used >= limit:
                    return f"limit reached: {used} of {limit} {label}"
        if budget is not None:
            if self.budget_points is not None and budget.points >= self.budget_points:
                return f"points budget used up: {budget.points} of {self.budget_points}"
            if self.budget_fen is not None and budget.fen >= self.budget_fen:
                return f"money budget used up: {budget.fen} of {self.budget_fen} fen"
        return None

    def refusal_bilingual(self, usage: RuleUsage | None,
                          budget: BudgetUsage | None) -> tuple[str, str] | None:
        """``refusal`` as (English, Chinese), for the simulator; the till asks ``refusal``,
        which stays as lean as it is."""
        if usage is not None:
            for limit, used, label, label_zh in ((self.per_day, usage.today, "today", "今天"),
                                                 (self.per_month, usage.this_month, "this month", "本月"),
                                                 (self.lifetime, usage.lifetime, "in total", "累计")):
                if limit is not None and used >= limit:
                    return (f"limit reached: {used} of {limit} {label}",
                            f"已达上限：{label_zh}已用 {used} 次，上限 {limit} 次")
        if budget is not None:
            if self.budget_points is not None and budget.points >= self.budget_points:
                return (f"points budget used up: {budget.points} of {self.budget_points}",
                        f"积分预算已用完：已发 {budget.points} 积分，预算 {self.budget_points} 积分")
            if self.budget_fen is not None and budget.fen >= self.budget_fen:
                return (f"money budget used up: {budget.fen} of {self.budget_fen} fen",
                        f"金额预算已用完：已用 {money_zh(budget.fen)}，预算 {money_zh(self.budget_fen)}")
        return None


# Pay-out stages, in the order payout.pay_out works through them.
DISCOUNT, EARN, MULTIPLY, BONUS, HOLD, STORED_VALUE, OTHER = range(7)
_STAGE = {"discount_percent": DISCOUNT, "discount_fixed": DISCOUNT, "earn_points": EARN,
          "multiply_points": MULTIPLY, "bonus_points": BONUS, "hold_points": HOLD,
          "bonus_stored_value": STORED_VALUE}


@dataclass(eq=False, slots=True)
class Action:
    type: str
    params: dict
    selector: LineSelector | None      # "on": which lines; None: the whole basket
    stage: int = OTHER
    # Worked out once here rather than in every evaluation:
    pending_days: int = 0
    per_yuan: int = 1
    zh: tuple[str, ...] = ()           # the receipt sentence around its numbers (wording.phrases)
    en: tuple[str, ...] = ()
    constant_effect: object = None     # the pay-out's Effect when it never changes (filled on use)

    def __post_init__(self):
        self.pending_days = self.params.get("pending_days", 0)
        self.per_yuan = self.params.get("per_yuan", 1)


@dataclass(frozen=True, eq=False, slots=True)
class CompiledRule:
    id: int
    version: int
    name: str
    name_en: str
    event: str
    status: str
    priority: int
    stop: bool
    exclusive_group: str | None
    scope: Scope                       # as written
    validity: Validity                 # as written
    condition: object                  # parsed tree (or True), for explanations
    limits: Limits | None
    actions: tuple[Action, ...]
    source: dict
    position: int = 0                  # place in evaluation order
    # derived when compiling
    index_scope: Scope = field(default_factory=Scope)
    index_weekdays: frozenset[int] | None = None
    predicate: Callable | None = None
    never_matches: bool = False
    budget_points: int | None = None   # limits.budget_points, at hand for the pay-out
    budget_fen: int | None = None
    multiplies: bool = False           # has a multiply_points action
    shapes_earnings: bool = False      # has an earn_points or discount action (see payout.earned_points)
    hold_days: int = 0                 # longest hold_points

    @property
    def sort_key(self) -> tuple[int, int]:
        return (-self.priority, self.id)


class EventIndex:
    """Bitsets over one event's live rules (bit i = the i-th rule in evaluation order).

    The per-day masks and candidate lists are filled on first use. Worker threads may
    share an index: a race only computes the same entry twice.
    """

    _MAX_CACHED_DAYS = 400
    _MAX_CACHED_LISTS = 50_000

    def __init__(self, rules: list[CompiledRule]):
        self.rules = tuple(rules)
        dims = {}
        for attr in ("stores", "store_kinds", "tiers", "groups"):
            open_bits, by_value = 0, {}
            for bit, rule in enumerate(rules):
                allowed = getattr(rule.index_scope, attr)
                if allowed is None:
                    open_bits |= 1 << bit
                else:
                    for value in allowed:
                        by_value[value] = by_value.get(value, 0) | 1 << bit
            dims[attr] = ({value: bits | open_bits for value, bits in by_value.items()}, open_bits)
        self.by_store, self.any_store = dims["stores"]
        self.by_kind, self.any_kind = dims["store_kinds"]
        self.by_tier, self.any_tier = dims["tiers"]
        self.by_group, self.any_group = dims["groups"]
        self.every_day = 0
        self.dated: list[tuple[int, CompiledRule]] = []
        for bit, rule in enumerate(rules):
            if rule.validity.depends_on_day or rule.index_weekdays is not None:
                self.dated.append((1 << bit, rule))
            else:
                self.every_day |= 1 << bit
        # What the engine's walk needs of each rule, made once: every candidate list
        # shares these rather than holding copies.
        self._entries = tuple((rule.predicate, rule.limits, rule.stop, rule) for rule in rules)
        self._day_masks: dict[date, int] = {}
        self._lists: dict[tuple, tuple[tuple, ...]] = {}
        self._lists_by_bits: dict[int, tuple[tuple, ...]] = {}

    def open_on(self, day: date, weekday: int) -> int:
        mask = self._day_masks.get(day)
        if mask is None:
            mask = self.every_day
            for bit, rule in self.dated:
                if rule.validity.open_on(day, weekday) and \
                        (rule.index_weekdays is None or weekday in rule.index_weekdays):
                    mask |= bit
            if len(self._day_masks) >= self._MAX_CACHED_DAYS:
                self._day_masks.clear()
            self._day_masks[day] = mask
        return mask

    def candidate_bits(self, s: FactSnapshot) -> int:
        return (self.open_on(s.today, s.weekday)
                & self.by_store.get(s.store_code, self.any_store)
                & self.by_kind.get(s.store_kind, self.any_kind)
                & self.by_tier.get(s.tier, self.any_tier)
                & self.by_group.get(s.group, self.any_group))

    def candidates(self, s: FactSnapshot) -> tuple[tuple, ...]:
        """(predicate, limits, stop, rule) of the rules that may match, in evaluation order.

        Remembered per (day, store, tier, group account): a till rings up many members
        of few tiers on one day, so nearly every purchase finds its list ready. When no
        rule is scoped to a group account, a member's account cannot change the list and
        is left out of the key.
        """
        key = (s.today, s.store_code, s.store_kind, s.tier, s.group if self.by_group else None)
        found = self._lists.get(key)
        if found is None:
            bits = self.candidate_bits(s)
            # Many keys share one list (group accounts few rules name, stores with the
            # same promotions): keep each distinct list once.
            found = self._lists_by_bits.get(bits)
            if found is None:
                entries, found, rest = self._entries, [], bits
                while rest:
                    lowest = rest & -rest
                    found.append(entries[lowest.bit_length() - 1])
                    rest ^= lowest
                found = tuple(found)
                if len(self._lists_by_bits) >= self._MAX_CACHED_LISTS:
                    self._lists_by_bits.clear()
                self._lists_by_bits[bits] = found
            if len(self._lists) >= self._MAX_CACHED_LISTS:
                self._lists.clear()
            self._lists[key] = found
        return found


@dataclass(frozen=True, eq=False)
class CompiledRuleSet:
    rules: tuple[CompiledRule, ...]             # every rule given, in evaluation order
    by_event: dict[str, EventIndex]             # live rules only
    live_statuses: tuple[str, ...]
    point_value_fen: int                        # what a point is worth when ranking rules
    spend_windows: frozenset[int]               # MemberFacts.spend_in_window_fen keys needed
    purchase_windows: frozenset[int]            # MemberFacts.purchases_in_window keys needed

    def rule(self, rule_id: int) -> CompiledRule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    @property
    def versions(self) -> dict[int, int]:
        return {rule.id: rule.version for rule in self.rules}


def compile_rules(rules: Iterable[dict], *, live_statuses: Iterable[str] = LIVE_STATUSES,
                  point_value_fen: int = 1, validate: bool = False) -> CompiledRuleSet:
    """Compile stored rules (each with ``id`` and ``version``) once per rule-set version.

    Storage validates a rule when it is saved, so by default compiling trusts the shape
    and only refuses what it cannot compile. ``validate=True`` runs the full schema and
    semantic check first: for rule sets from outside (an import, a simulator's draft).
    ``live_statuses``: which rules take part (the simulator may add ``draft``).
    """
    rules = list(rules)
    live = tuple(live_statuses)
    problems: list[Problem] = []
    compiled: list[CompiledRule] = []
    seen: set[int] = set()
    for position, raw in enumerate(rules):
        try:
            if validate:
                validate_rule(raw, require_identity=True)
            rule = compile_rule(raw)
        except InvalidRule as exc:
            problems += [Problem(f"[{position}].{p.path}" if p.path else f"[{position}]", p.message)
                         for p in exc.problems]
            continue
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problems.append(Problem(f"[{position}]", f"cannot be compiled ({exc!r}); validate it"))
            continue
        if rule.id in seen:
            problems.append(Problem(f"[{position}].id", f"repeats rule id {rule.id}"))
        seen.add(rule.id)
        compiled.append(rule)
    if problems:
        raise InvalidRule(problems)

    compiled.sort(key=lambda r: r.sort_key)
    compiled = [replace(rule, position=i) for i, rule in enumerate(compiled)]
    by_event: dict[str, list[CompiledRule]] = {}
    for rule in compiled:
        if rule.status in live and not rule.never_matches:
            by_event.setdefault(rule.event, []).append(rule)
    spend, purchases = set(), set()
    for rule in compiled:
        if rule.status in live:
            for leaf in _leaves(rule.condition):
                if leaf.spec.name == "member.spend_fen":
                    spend.add(leaf.window_days)
                elif leaf.spec.name == "member.purchase_count" and leaf.window_days:
                    purchases.add(leaf.window_days)
    return CompiledRuleSet(
        rules=tuple(compiled),
        by_event={event: EventIndex(event_rules) for event, event_rules in by_event.items()},
        live_statuses=live, point_value_fen=point_value_fen,
        spend_windows=frozenset(spend), purchase_windows=frozenset(purchases))


def compile_rule(raw: dict) -> CompiledRule:
    rule_id, version = raw["id"], raw["version"]
    if not isinstance(rule_id, int) or not isinstance(version, int):
        raise InvalidRule([Problem("id", "id and version must be whole numbers")])
    condition = parse_condition(raw["conditions"]) if "conditions" in raw else True
    validity = Validity.from_json(raw.get("validity"))
    scope = Scope.from_json(raw.get("scope"))
    remaining, hoisted = hoist_index_tests(fold(condition))
    weekdays = hoisted.pop("weekdays", None)
    index_scope = scope.narrowed(hoisted)
    if weekdays is not None and validity.weekdays is not None:
        weekdays &= validity.weekdays
    never = remaining is False or index_scope.empty or (weekdays is not None and not weekdays)
    limits = Limits(**raw["limits"]) if raw.get("limits") else None
    name, name_en = raw["name"], raw.get("name_en") or raw["name"]
    actions = []
    for a in raw["actions"]:
        params = {k: v for k, v in a.items() if k not in ("type", "on")}
        zh, en = phrases(a["type"], params, name, name_en)
        actions.append(Action(a["type"], params, LineSelector.from_json(a["on"]) if "on" in a else None,
                              _STAGE.get(a["type"], OTHER), zh=zh, en=en))
    actions = tuple(actions)

    return CompiledRule(
        id=rule_id, version=version, name=name, name_en=name_en,
        event=raw["event"], status=raw.get("status", "draft"), priority=raw.get("priority", 0),
        stop=raw.get("stop", False), exclusive_group=raw.get("exclusive_group"),
        scope=scope, validity=validity, condition=condition, limits=limits, actions=actions,
        source=raw, index_scope=index_scope, index_weekdays=weekdays,
        predicate=None if never else generate_predicate(remaining, validity.hours),
        never_matches=never,
        budget_points=limits.budget_points if limits else None,
        budget_fen=limits.budget_fen if limits else None,
        multiplies=any(a.stage == MULTIPLY for a in actions),
        shapes_earnings=any(a.stage in (EARN, DISCOUNT) for a in actions),
        hold_days=max((a.params["days"] for a in actions if a.stage == HOLD), default=0),
    )


def _leaves(node):
    if isinstance(node, Leaf):
        yield node
    elif isinstance(node, NotOf):
        yield from _leaves(node.child)
    elif isinstance(node, (AllOf, AnyOf)):
        for child in node.children:
            yield from _leaves(child)
