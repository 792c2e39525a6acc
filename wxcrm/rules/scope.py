"""Where, when and how often a rule may run: its scope (stores, store kinds, tiers, group
accounts), its validity (dates, weekdays, hours) and its limits and budgets. The index
answers scope and days in bulk; these classes answer for one rule, and say why not."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from wxcrm.rules.context import BudgetUsage, UsageCounts
from wxcrm.rules.explain import show, value_zh, values_zh
from wxcrm.rules.facts import FACTS, FactSnapshot
from wxcrm.rules.schema import parse_clock, parse_date
from wxcrm.rules.wording import clock, listed_zh, money_zh, weekday_zh


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

    def why_not(self, s: FactSnapshot) -> tuple[str, str] | None:
        """Why this event is out of scope, as (English, Chinese), or None."""
        for label, fact, allowed, actual in (("store", "store.code", self.stores, s.store_code),
                                             ("store kind", "store.kind", self.store_kinds, s.store_kind),
                                             ("tier", "member.tier", self.tiers, s.tier),
                                             ("group account", "member.group", self.groups, s.group)):
            if allowed is not None and actual not in allowed:
                spec = FACTS[fact]
                where_zh = f"{spec.label_zh} {value_zh(spec, actual)} " if actual is not None \
                    else f"没有{spec.label_zh}，"
                return (f"{label} {actual} is not in scope {show(allowed)}",
                        f"{where_zh}不在适用范围内（限 {values_zh(spec, allowed)}）")
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

    def why_not(self, s: FactSnapshot) -> tuple[str, str] | None:
        """Why the rule is not valid at this moment, as (English, Chinese), or None."""
        if self.starts is not None and s.today < self.starts:
            return f"starts on {self.starts}", f"{self.starts} 起生效，尚未开始"
        if self.ends is not None and s.today > self.ends:
            return f"ended on {self.ends}", f"已于 {self.ends} 结束"
        if self.weekdays is not None and s.weekday not in self.weekdays:
            days_zh = listed_zh(weekday_zh(day) for day in sorted(self.weekdays))
            return (f"weekday {s.weekday} is not in {show(self.weekdays)}",
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
    per_year: int | None = None
    per_membership_year: int | None = None

    def used_up(self, usage: UsageCounts | None, budget: BudgetUsage | None) -> bool:
        """Whether this member may not get the rule again: the engine's lean test."""
        if usage is not None:
            if self.per_day is not None and usage.today >= self.per_day:
                return True
            if self.per_month is not None and usage.this_month >= self.per_month:
                return True
            if self.lifetime is not None and usage.lifetime >= self.lifetime:
                return True
            if self.per_year is not None and usage.this_year >= self.per_year:
                return True
            if self.per_membership_year is not None and usage.this_membership_year >= self.per_membership_year:
                return True
        if budget is not None:
            if self.budget_points is not None and budget.points >= self.budget_points:
                return True
            if self.budget_fen is not None and budget.fen >= self.budget_fen:
                return True
        return False

    def why_not(self, usage: UsageCounts | None, budget: BudgetUsage | None) -> tuple[str, str] | None:
        """``used_up`` in words, as (English, Chinese), for the simulator."""
        if usage is not None:
            for limit, used, label, label_zh in ((self.per_day, usage.today, "today", "今天"),
                                                 (self.per_month, usage.this_month, "this month", "本月"),
                                                 (self.per_year, usage.this_year, "this year", "今年"),
                                                 (self.per_membership_year, usage.this_membership_year,
                                                  "this membership year", "本会员年度"),
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
