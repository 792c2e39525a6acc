"""The facts a rule condition can test: one allow-listed catalogue, and one snapshot per event.

The catalogue drives everything that reads conditions: the schema's semantic checks (which
operators and values suit a fact, which events provide it), the compiler's code
generation, the trace's explanations and the console's rule form (``export_facts``).

``FactSnapshot`` is built once per evaluation from the context. Cheap facts are copied in
at once; derived ones (age, tenure, birthday this week, basket total) are worked out on
first use and then remembered, so a hundred rules asking "is it their birthday month?"
cost one date computation.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Sequence
from weakref import WeakValueDictionary

from wxcrm.rules.context import EVENTS, EvaluationContext

BASKET_EVENTS = frozenset({"purchase", "refund"})
# A referral event at the referred member's purchase sees that purchase (at signup the
# basket is empty), under the names a purchase rule uses.
PURCHASE_SEEN = BASKET_EVENTS | {"referral"}
STORE_EVENTS = frozenset({"purchase", "refund", "topup", "signup", "referral"})
REFERRAL_EVENTS = frozenset({"referral"})
ALL_EVENTS = frozenset(EVENTS)

# (code, youngest, oldest): the age bands the marketing reports use.
AGE_GROUPS = (
    ("under_18", 0, 17), ("18_24", 18, 24), ("25_34", 25, 34), ("35_44", 35, 44),
    ("45_54", 45, 54), ("55_64", 55, 64), ("65_plus", 65, 200),
)
GENDERS = ("male", "female", "unknown")
MEMBER_STATUSES = ("active", "expired", "cancelled")
STORE_KINDS = ("direct", "franchise")

COMPARISONS = ("==", "!=", ">", ">=", "<", "<=")
# value type -> operators it supports
OPERATORS = {
    "money": COMPARISONS + ("between",),
    "count": COMPARISONS + ("between",),
    "int": COMPARISONS + ("between", "in", "not_in"),
    "date": COMPARISONS + ("between",),
    "text": ("==", "!=", "in", "not_in"),
    "choice": ("==", "!=", "in", "not_in"),
    "bool": ("==",),
    "lines": ("in", "not_in"),  # some line's sku/category is in the list / no line's is
}


class MissingFact(LookupError):
    """The caller did not load a fact the compiled rule set needs (a spend or purchase window)."""


@dataclass(frozen=True)
class FactSpec:
    name: str
    type: str                       # a key of OPERATORS
    events: frozenset[str]          # events whose context provides the fact
    label_zh: str
    label_en: str
    attr: str = ""                  # what the compiled predicate reads: s.<attr> (may be dotted)
    minimum: int | None = None      # for numeric types
    maximum: int | None = None
    choices: tuple[str, ...] = ()   # for "choice"
    window: str = ""                # "required" / "optional": takes window_days (last N days)
    takes_items: bool = False       # takes an "items" line selector
    nullable: bool = False          # may be unknown (no birthday given): then no comparison holds

    @property
    def operators(self) -> tuple[str, ...]:
        return OPERATORS[self.type]


_FACTS = (
    FactSpec("basket.total_fen", "money", PURCHASE_SEEN, "购物篮总额（分）", "basket total (fen)",
             attr="total_fen", minimum=0),
    FactSpec("item.sku", "lines", PURCHASE_SEEN, "商品编码", "item SKU"),
    FactSpec("item.category", "lines", PURCHASE_SEEN, "商品品类", "item category"),
    FactSpec("item.qty", "count", PURCHASE_SEEN, "所选商品件数", "quantity of the chosen items",
             minimum=0, takes_items=True),
    FactSpec("item.amount_fen", "money", PURCHASE_SEEN, "所选商品金额（分）",
             "amount of the chosen items (fen)", minimum=0, takes_items=True),
    FactSpec("store.code", "text", STORE_EVENTS, "门店", "store", attr="store_code"),
    FactSpec("store.kind", "choice", STORE_EVENTS, "门店类型", "store kind", attr="store_kind",
             choices=STORE_KINDS),
    FactSpec("payment.method", "text", PURCHASE_SEEN | {"topup"}, "支付方式", "payment method",
             attr="ctx.payment_method"),
    # Every tender of the sale (a split payment has several): "in" holds when any is listed.
    FactSpec("payment.methods", "lines", PURCHASE_SEEN | {"topup"}, "支付方式（含任一）",
             "payment methods (any of)", attr="payment_methods"),
    FactSpec("member.tier", "text", ALL_EVENTS, "会员等级", "member tier", attr="tier"),
    FactSpec("member.age", "int", ALL_EVENTS, "年龄", "age", attr="age", minimum=0, maximum=150,
             nullable=True),
    FactSpec("member.age_group", "choice", ALL_EVENTS, "年龄段", "age group", attr="age_group",
             choices=tuple(code for code, _, _ in AGE_GROUPS)),
    FactSpec("member.gender", "choice", ALL_EVENTS, "性别", "gender", attr="member.gender", choices=GENDERS),
    FactSpec("member.district", "text", ALL_EVENTS, "居住区域", "residence district", attr="member.district"),
    FactSpec("member.tenure_days", "count", ALL_EVENTS, "入会天数", "days since joining",
             attr="tenure_days", minimum=0),
    FactSpec("member.tenure_months", "count", ALL_EVENTS, "入会整月数", "full months since joining",
             attr="tenure_months", minimum=0),
    FactSpec("member.first_purchase", "bool", BASKET_EVENTS, "首次消费",
             "first purchase", attr="first_purchase"),
    FactSpec("member.purchase_count", "count", ALL_EVENTS, "消费次数", "number of purchases",
             attr="member.purchase_count", minimum=0, window="optional"),
    FactSpec("member.spend_fen", "money", ALL_EVENTS, "累计消费（分）", "spend (fen)", minimum=0,
             window="required"),
    FactSpec("member.birthday_today", "bool", ALL_EVENTS, "今天生日", "birthday today",
             attr="birthday_today"),
    FactSpec("member.birthday_this_week", "bool", ALL_EVENTS, "本周生日", "birthday this week",
             attr="birthday_this_week"),
    FactSpec("member.birthday_this_month", "bool", ALL_EVENTS, "本月生日", "birthday this month",
             attr="birthday_this_month"),
    FactSpec("member.referral_count", "count", ALL_EVENTS, "推荐人数", "members referred",
             attr="member.referral_count", minimum=0),
    FactSpec("member.status", "choice", ALL_EVENTS, "会员状态", "membership status", attr="member.status",
             choices=MEMBER_STATUSES),
    FactSpec("member.group", "text", ALL_EVENTS, "集团账户", "group account", attr="group"),
    FactSpec("member.points_balance", "count", ALL_EVENTS, "积分余额", "points balance",
             attr="member.points_balance", minimum=0),
    FactSpec("time.date", "date", ALL_EVENTS, "日期", "date", attr="today"),
    FactSpec("time.weekday", "int", ALL_EVENTS, "星期（1=周一）", "weekday (1 = Monday)",
             attr="weekday", minimum=1, maximum=7),
    FactSpec("time.hour", "int", ALL_EVENTS, "小时", "hour", attr="ctx.local_time.hour", minimum=0, maximum=23),
    FactSpec("referred.tenure_days", "count", REFERRAL_EVENTS, "被推荐会员入会天数",
             "days since the referred member joined", attr="referred_tenure_days", minimum=0),
    FactSpec("referred.purchase_count", "count", REFERRAL_EVENTS, "被推荐会员此前消费次数",
             "the referred member's purchases before this one", attr="referred_purchase_count", minimum=0),
    FactSpec("referred.first_purchase", "bool", REFERRAL_EVENTS, "被推荐会员首次消费",
             "the referred member's first purchase", attr="referred_first_purchase"),
    FactSpec("topup.amount_fen", "money", frozenset({"topup"}), "充值金额（分）", "top-up amount (fen)",
             attr="ctx.topup_amount_fen", minimum=0),
    FactSpec("topup.first", "bool", frozenset({"topup"}), "首次充值", "first top-up",
             attr="ctx.first_topup"),
)
FACTS: dict[str, FactSpec] = {spec.name: spec for spec in _FACTS}


def export_facts() -> list[dict]:
    """The catalogue as plain data, for the console's rule form."""
    return [{
        "name": s.name, "type": s.type, "operators": list(s.operators), "events": sorted(s.events),
        "label_zh": s.label_zh, "label_en": s.label_en, "minimum": s.minimum, "maximum": s.maximum,
        "choices": list(s.choices), "window": s.window, "takes_items": s.takes_items,
    } for s in _FACTS]


# ---------------------------------------------------------------- basket lines

@dataclass(frozen=True)
class LineSelector:
    """Which basket lines a condition counts or an action discounts.

    A line is chosen when it matches one of the listed SKUs or categories (or none are
    listed: every line) and is not excluded. Exclusions are how a shop keeps tobacco or
    gift cards out of a promotion.
    """
    skus: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    exclude_skus: frozenset[str] = frozenset()
    exclude_categories: frozenset[str] = frozenset()

    @classmethod
    def from_json(cls, data: dict | None) -> LineSelector:
        """The selector for ``data``; equal selectors are one shared object, so that a
        snapshot's per-selector memo (``FactSnapshot.chosen``) serves every rule using it
        (the base earn rules of every tier all leave out gift cards and tobacco)."""
        data = data or {}
        selector = cls(*(frozenset(data.get(key, ())) for key in
                         ("skus", "categories", "exclude_skus", "exclude_categories")))
        return _SHARED_SELECTORS.setdefault(selector, selector)

    @property
    def chooses_every_line(self) -> bool:
        return not (self.skus or self.categories or self.exclude_skus or self.exclude_categories)

    def __post_init__(self):
        # A selector is asked about every basket line of every evaluation: give the
        # instance a test specialised to the lists it actually has.
        object.__setattr__(self, "chooses", self._specialised_test())
        # Without exclusions a line is chosen only for a listed SKU or category, so a
        # basket holding none of them has nothing to choose: a set test per basket
        # rather than a test per line (see FactSnapshot.chosen).
        object.__setattr__(self, "needs_listed", bool(self.skus or self.categories)
                           and not (self.exclude_skus or self.exclude_categories))
        # Likewise a selector that only leaves things out chooses every line of a basket
        # holding none of them: most baskets have no gift card or tobacco.
        object.__setattr__(self, "only_excludes", bool(self.exclude_skus or self.exclude_categories)
                           and not (self.skus or self.categories))

    def chooses(self, line) -> bool:
        if line.sku in self.exclude_skus or line.category in self.exclude_categories:
            return False
        if not (self.skus or self.categories):
            return True
        return line.sku in self.skus or line.category in self.categories

    def _specialised_test(self):
        skus, categories = self.skus, self.categories
        if self.exclude_skus:
            return self.chooses           # rare: the general test
        excluded = self.exclude_categories
        if excluded:
            if skus or categories:
                return self.chooses
            return lambda line: line.category not in excluded
        if skus and categories:
            return lambda line: line.sku in skus or line.category in categories
        if skus:
            return lambda line: line.sku in skus
        if categories:
            return lambda line: line.category in categories
        return lambda line: True

    def describe(self) -> str:
        parts = []
        if self.skus:
            parts.append("sku in " + ",".join(sorted(self.skus)))
        if self.categories:
            parts.append("category in " + ",".join(sorted(self.categories)))
        if self.exclude_skus:
            parts.append("except sku " + ",".join(sorted(self.exclude_skus)))
        if self.exclude_categories:
            parts.append("except category " + ",".join(sorted(self.exclude_categories)))
        return "; ".join(parts) or "all items"


_SHARED_SELECTORS: WeakValueDictionary = WeakValueDictionary()


# ---------------------------------------------------------------- dates

def birthday_in_year(birthday: date, year: int) -> date:
    """This year's birthday; 29 February is kept on the 28th in common years."""
    if birthday.month == 2 and birthday.day == 29 and not _is_leap(year):
        return date(year, 2, 28)
    return birthday.replace(year=year)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def age_on(birthday: date, today: date) -> int:
    """Completed years."""
    return today.year - birthday.year - ((today.month, today.day) < (birthday.month, birthday.day))


def full_months_between(start: date, end: date) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    if end.day < start.day:
        months -= 1
    return max(months, 0)


# ---------------------------------------------------------------- snapshot

class cached_fact:
    """Work a fact out on first use and keep it on the snapshot.

    Like functools.cached_property, without its lock: a snapshot lives in one thread for
    one evaluation, and a rule set asks for a derived fact within a microsecond budget.
    """

    def __init__(self, compute):
        self.compute = compute
        self.name = compute.__name__
        self.__doc__ = compute.__doc__

    def __get__(self, snapshot, owner=None):
        if snapshot is None:
            return self
        value = snapshot.__dict__[self.name] = self.compute(snapshot)
        return value


class FactSnapshot:
    """The facts of one evaluation. Attribute names are what compiled predicates read."""

    def __init__(self, ctx: EvaluationContext):
        member = ctx.member
        moment = ctx.local_time
        self.ctx = ctx
        self.member = member
        self.lines = ctx.lines
        # What the index reads for every event. Facts few rules read (gender, payment
        # method, ...) are not copied: predicates read them as s.member.gender, s.ctx....
        self.today = moment.date()
        self.weekday = moment.isoweekday()
        self.minute_of_day = moment.hour * 60 + moment.minute
        self.store_code = ctx.store_code
        self.store_kind = ctx.store_kind
        self.tier = member.tier
        self.group = member.group
        # The basket facts nearly every purchase rule reads, in one pass over the lines.
        amounts, skus, categories = [], set(), set()
        for line in ctx.lines:
            amounts.append(line.qty * line.unit_price_fen)
            skus.add(line.sku)
            categories.add(line.category)
        self.amounts = amounts            # per line, full price; read-only
        self.total_fen = sum(amounts)
        self.skus = skus
        self.categories = categories
        self._chosen: dict[int, Sequence[int]] = {}    # see chosen()

    @cached_fact
    def payment_methods(self) -> frozenset:
        methods = self.ctx.payment_methods
        if not methods and self.ctx.payment_method:
            return frozenset((self.ctx.payment_method,))
        return frozenset(methods)

    @cached_fact
    def first_purchase(self) -> bool:
        flag = self.member.first_purchase
        return self.member.purchase_count == 0 if flag is None else flag

    @cached_fact
    def referred_tenure_days(self) -> int:
        referred = self.ctx.referred
        return max((self.today - referred.joined_on).days, 0) if referred else 0

    @cached_fact
    def referred_purchase_count(self) -> int:
        referred = self.ctx.referred
        return referred.purchase_count if referred else 0

    @cached_fact
    def referred_first_purchase(self) -> bool:
        referred = self.ctx.referred
        return bool(referred and referred.first_purchase)

    @cached_fact
    def age(self) -> int | None:
        birthday = self.member.birthday
        return None if birthday is None else age_on(birthday, self.today)

    @cached_fact
    def age_group(self) -> str | None:
        age = self.age
        if age is None:
            return None
        for code, youngest, oldest in AGE_GROUPS:
            if youngest <= age <= oldest:
                return code
        return None

    @cached_fact
    def tenure_days(self) -> int:
        return max((self.today - self.member.joined_on).days, 0)

    @cached_fact
    def tenure_months(self) -> int:
        return full_months_between(self.member.joined_on, self.today)

    @cached_fact
    def birthday_today(self) -> bool:
        birthday = self.member.birthday
        return birthday is not None and birthday_in_year(birthday, self.today.year) == self.today

    @cached_fact
    def birthday_this_week(self) -> bool:
        """In the ISO week (Monday to Sunday) of today, also across New Year."""
        birthday = self.member.birthday
        if birthday is None:
            return False
        monday = self.today - timedelta(days=self.weekday - 1)
        sunday = monday + timedelta(days=6)
        return any(monday <= birthday_in_year(birthday, year) <= sunday
                   for year in {monday.year, sunday.year})

    @cached_fact
    def birthday_this_month(self) -> bool:
        birthday = self.member.birthday
        return birthday is not None and birthday.month == self.today.month

    def spend_in(self, days: int) -> int:
        try:
            return self.member.spend_in_window_fen[days]
        except KeyError:
            raise MissingFact(f"member {self.member.id}: spend over the last {days} days "
                              "was not loaded") from None

    def purchases_in(self, days: int) -> int:
        try:
            return self.member.purchases_in_window[days]
        except KeyError:
            raise MissingFact(f"member {self.member.id}: purchases over the last {days} days "
                              "were not loaded") from None

    def chosen(self, selector: LineSelector) -> Sequence[int]:
        """Positions (0-based) of the basket lines ``selector`` chooses, remembered:
        conditions, discounts, earn actions and each rival of an exclusive group ask
        about the same few selectors (the compiler shares equal ones between rules)."""
        found = self._chosen.get(id(selector))      # by id: the selector outlives the snapshot
        if found is None:
            if selector.needs_listed and selector.skus.isdisjoint(self.skus) \
                    and selector.categories.isdisjoint(self.categories):
                found = ()
            elif selector.only_excludes and selector.exclude_skus.isdisjoint(self.skus) \
                    and selector.exclude_categories.isdisjoint(self.categories):
                found = range(len(self.lines))
            else:
                chooses = selector.chooses
                found = tuple([i for i, line in enumerate(self.lines) if chooses(line)])
            self._chosen[id(selector)] = found
        return found

    def chosen_qty(self, selector: LineSelector) -> int:
        lines = self.lines
        return sum([lines[i].qty for i in self.chosen(selector)])

    def chosen_amount_fen(self, selector: LineSelector) -> int:
        """Full-price amount of the chosen lines."""
        amounts = self.amounts
        return sum([amounts[i] for i in self.chosen(selector)])
