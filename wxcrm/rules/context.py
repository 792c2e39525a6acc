"""What the engine is told about one event: the basket, the till, the moment and the member.

Pure data. The caller (checkout, top-ups, the jobs, the simulator) builds it once per
event from a query or two; the engine never reaches back into the database. Every
figure describes the member *before* this event: ``purchase_count`` does not include the
purchase being rung up, ``spend_in_window_fen`` does not include its amount.

Money is integer fen; points are integers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Mapping

EVENTS = ("purchase", "refund", "topup", "signup", "referral", "birthday",
          "membership_expiry", "schedule")



@dataclass(frozen=True, slots=True)
class BasketLine:
    line_no: int            # 1-based, as printed on the receipt
    sku: str
    category: str
    qty: int
    unit_price_fen: int

    @property
    def amount_fen(self) -> int:
        return self.qty * self.unit_price_fen


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """The member as the rules see them, loaded once per event."""
    id: int
    joined_on: date
    tier: str | None = None             # tier code
    status: str = "active"              # active / expired / cancelled
    birthday: date | None = None
    gender: str = "unknown"             # male / female / unknown
    district: str = ""                  # residence district
    group: str | None = None            # group account code, if the card belongs to one
    expires_on: date | None = None
    purchase_count: int = 0             # lifetime purchases before this one
    # Whether this purchase is the member's first. None: derive it from purchase_count.
    first_purchase: bool | None = None
    # Purchases and spend (fen) over the last N days, keyed by N. The compiled rule set
    # says which windows its rules need (CompiledRuleSet.purchase_windows / spend_windows).
    purchases_in_window: Mapping[int, int] = field(default_factory=dict)
    spend_in_window_fen: Mapping[int, int] = field(default_factory=dict)
    referral_count: int = 0             # members this member has referred
    points_balance: int = 0             # spendable points now


@dataclass(frozen=True, slots=True)
class ReferredFacts:
    """At a `referral` event ``member`` is the referrer; this is the member they referred.
    At signup nothing has been bought yet; at each of the referred member's purchases
    (until every referral rule has paid for them) the purchase is the event's basket."""
    id: int
    joined_on: date
    purchase_count: int = 0             # the referred member's purchases before this one
    first_purchase: bool = False        # this event is the referred member's first purchase


@dataclass(frozen=True, slots=True)
class UsageCounts:
    """How often a rule has already given this member something.

    ``today``, ``this_month`` and ``this_year`` count in the merchant's business day,
    month and calendar year of the event's ``local_time``; ``this_membership_year`` in
    the member's membership year (from the anniversary of their expiry date, see
    ``usage.membership_year_start``).
    """
    today: int = 0
    this_month: int = 0
    lifetime: int = 0
    this_year: int = 0
    this_membership_year: int = 0


@dataclass(frozen=True, slots=True)
class BudgetUsage:
    """How much of a rule's total budget all members together have already received."""
    points: int = 0
    fen: int = 0


@dataclass(frozen=True, slots=True)
class EvaluationContext:
    event: str                                  # one of EVENTS
    member: MemberFacts
    local_time: datetime                        # the merchant's wall clock (WXCRM_TIMEZONE)
    store_code: str | None = None
    store_kind: str | None = None               # direct / franchise
    payment_method: str | None = None           # cash, wechat_pay, stored_value, card, ...
    lines: tuple[BasketLine, ...] = ()
    points_payment_fen: int = 0                 # the part of the basket paid with points earns nothing
    topup_amount_fen: int = 0
    first_topup: bool = False                   # topup: the member's first
    payment_methods: tuple[str, ...] = ()       # every tender (split payments); () : payment_method alone
    usage: Mapping[int, UsageCounts] = field(default_factory=dict)          # rule id -> this member's usage
    budget_used: Mapping[int, BudgetUsage] = field(default_factory=dict)  # rule id -> all members' usage
    referred: ReferredFacts | None = None       # referral events: the member who was referred
    # Referral events: the rules that already paid for this referred member (each pays once).
    paid_rules: frozenset[int] = frozenset()
