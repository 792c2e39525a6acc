"""The seam between the flows and the pure engine: gather what the rules need to know
about one event (the member's facts, their limit counters, the budgets, locked), ask the
engine, and hand back the decision. Nothing here applies it: ``wxcrm.benefits`` does,
and then ``usage.record_usage`` counts it, in the same transaction.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from wxcrm.config import Settings
from wxcrm.members.models import Member
from wxcrm.rules.compiler import CompiledRuleSet
from wxcrm.rules.context import BasketLine, EvaluationContext, ReferredFacts
from wxcrm.rules.effects import Effect
from wxcrm.rules.engine import NOTHING, EvaluationResult, evaluate
from wxcrm.rules.live import counted_rules, live_rule_set
from wxcrm.rules.member_facts import KnownFacts, member_facts
from wxcrm.rules.usage import lock_budgets, membership_anchor, usage_for


@dataclass(frozen=True)
class Decision:
    """What the rules give for one event. ``compiled`` is None when no rule set took part
    (no live rule for the event, or no member). Points come only from rules: the base
    earning is a rule like any other (``catalogue.base_earning_rule``), never a hidden
    fallback that a new rule could switch off."""
    effects: tuple[Effect, ...]
    result: EvaluationResult
    compiled: CompiledRuleSet | None


NO_DECISION = Decision((), NOTHING, None)


@dataclass(frozen=True)
class Basket:
    """What the till knows about one purchase before asking the rules."""
    store_code: str
    store_kind: str
    payment_method: str
    lines: tuple[BasketLine, ...]
    points_payment_fen: int = 0     # the part paid with points earns nothing
    payment_methods: tuple[str, ...] = ()   # every tender of a split payment

    @property
    def total_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)


def decide_purchase(session: Session, member: Member, basket: Basket, *, local_time: datetime,
                    points_balance: int, settings: Settings, known: KnownFacts | None = None,
                    rule_set: CompiledRuleSet | None = None) -> Decision:
    """The rules' decision on a member's purchase. The caller holds the member's row lock
    (and may hand over the facts it already read: ``known``). ``rule_set``: the rules to
    ask, default the live ones (a claimed purchase asks those in force at its sale)."""
    compiled = rule_set or live_rule_set(session, point_value_fen=settings.point_value_fen)
    if "purchase" not in compiled.by_event:
        return NO_DECISION      # no live purchase rule: nothing earns (the rules page says so)
    result = _evaluate(session, compiled, member, "purchase", local_time=local_time,
                       points_balance=points_balance, store_code=basket.store_code,
                       store_kind=basket.store_kind, payment_method=basket.payment_method, lines=basket.lines,
                       points_payment_fen=basket.points_payment_fen, payment_methods=basket.payment_methods,
                       known=known)
    return Decision(tuple(result.effects), result, compiled)


def decide_event(session: Session, member: Member, event: str, *, local_time: datetime, points_balance: int,
                 settings: Settings, store_code: str | None = None, store_kind: str | None = None,
                 topup_amount_fen: int = 0, basket: Basket | None = None, referred: ReferredFacts | None = None,
                 paid_rules: frozenset[int] = frozenset(), payment_method: str | None = None,
                 first_topup: bool = False) -> Decision:
    """The rules' decision on a member event other than a purchase (signup, referral,
    birthday, membership expiry, schedule, top-up). A referral event at the referred
    member's purchase sees that purchase (``basket``) and ``referred``; ``paid_rules``
    already paid for this referred member. The caller holds the member's row lock."""
    compiled = live_rule_set(session, point_value_fen=settings.point_value_fen)
    if event not in compiled.by_event:
        return NO_DECISION
    sale = {}
    if basket is not None:
        sale = {"store_code": basket.store_code, "store_kind": basket.store_kind,
                "payment_method": basket.payment_method, "lines": basket.lines,
                "points_payment_fen": basket.points_payment_fen, "payment_methods": basket.payment_methods}
    else:
        sale = {"store_code": store_code, "store_kind": store_kind, "payment_method": payment_method}
    if event == "topup":
        sale["first_topup"] = first_topup
    result = _evaluate(session, compiled, member, event, local_time=local_time, points_balance=points_balance,
                       topup_amount_fen=topup_amount_fen, referred=referred, paid_rules=paid_rules, **sale)
    return Decision(tuple(result.effects), result, compiled)


def _evaluate(session: Session, compiled: CompiledRuleSet, member: Member, event: str, *, local_time: datetime,
              points_balance: int, known: KnownFacts | None = None, **event_facts) -> EvaluationResult:
    today = local_time.date()
    limited, budgeted = counted_rules(compiled, event)
    facts = member_facts(session, member, today=today, compiled=compiled, points_balance=points_balance, known=known)
    usage = known.usage_read_for(compiled, event) if known is not None else None
    if usage is None:
        usage = usage_for(session, member.id, limited, today, membership_anchor(member))
    ctx = EvaluationContext(
        event=event, local_time=local_time, member=facts, usage=usage,
        budget_used=lock_budgets(session, budgeted),
        **event_facts)
    return evaluate(compiled, ctx)

