"""Apply a rule's effect to a member: one place for every occasion (purchase, referral,
signup, the daily events, top-ups). A basket's discounts are the till's own business
(they change the sale, not the member) and are not here.

Flushes, never commits; messages go to the outbox in the caller's transaction.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxcrm.config import Settings
from wxcrm.coupons import service as coupons
from wxcrm.ledger import service as ledger
from wxcrm.members import service as members
from wxcrm.members.models import Member, Tier
from wxcrm.messages import outbox
from wxcrm.messages.kinds import birthday_key
from wxcrm.rules.effects import Effect
from wxcrm.timeutil import Clock, add_months

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Occasion:
    """Where an effect comes from: the cause every ledger entry and message names, and
    the moment it happened (its business date decides expiry dates and limits)."""
    cause: str                   # purchase | referral | signup | job | topup ...
    ref: str                     # the transaction id, job run, ...
    clock: Clock
    transaction_id: int | None = None
    staff_id: int | None = None
    coupon_channel: str = "rule"     # "scan": given to a customer who claimed a receipt (scan-to-earn)


def apply_member_effect(session: Session, member: Member, effect: Effect, occasion: Occasion,
                        settings: Settings) -> int:
    """Apply one effect to ``member``. Returns the points it credited (for the receipt):
    negative for a multiplier below 100 %, which takes its points off what the same
    occasion's earlier effects just credited."""
    today = occasion.clock.today
    cause = ledger.Cause(occasion.cause, ref=occasion.ref, transaction_id=occasion.transaction_id,
                         rule_id=effect.rule_id, rule_version=effect.rule_version, staff_id=occasion.staff_id,
                         text_zh=effect.text_zh, text_en=effect.text_en, at=occasion.clock.utc)
    kind = effect.kind
    if kind == "points" and effect.points > 0:
        ledger.earn_points(session, member.id, effect.points, cause, today=today,
                           expires_on=ledger.expiry_date(today, settings.points_expiry_months),
                           pending_days=effect.pending_days)
        return effect.points
    if kind == "points" and effect.points < 0:
        ledger.take_off_new_points(session, member.id, -effect.points, cause)
        return effect.points
    if kind == "stored_value_bonus" and effect.amount_fen > 0:
        # A bonus: joins the lot of its occasion (a top-up's bonus sits beside its principal).
        ledger.credit_value(session, member.id, effect.amount_fen, cause, bonus=True)
    elif kind == "renew":
        months = int(effect.params.get("months", 12))
        member.expires_on = add_months(max(member.expires_on or today, today), months)
        member.status = "active"
        cost = int(effect.params.get("cost_points", 0) or 0)
        if cost:
            ledger.spend_points(session, member.id, cost, cause, today=today)
    elif kind == "cancel":
        member.status = "cancelled"
    elif kind == "set_tier":
        tier = session.scalar(select(Tier).where(Tier.code == effect.params.get("tier")))
        if tier is None:
            log.warning("rule %s sets unknown tier %r", effect.rule_name, effect.params.get("tier"))
        else:
            members.set_tier(session, member, tier, source="rule", reason=effect.rule_name, rule_id=effect.rule_id,
                             transaction_id=occasion.transaction_id, at=occasion.clock.utc)
    elif kind == "reset_points":
        ledger.reset_points(session, member.id, cause)
    elif kind == "message":
        # A rule names a message template; a known purpose keeps its channel rules, any
        # other goes as marketing (never as a template message; mass-send limits apply).
        template = str(effect.params.get("template", ""))
        purpose = template if template in outbox.PURPOSES else "campaign"
        # One birthday message a member a year, whatever rules and greetings exist: the
        # birthday greeting (sent days before) and any birthday rule share one outbox key.
        key = birthday_key(occasion.clock.today.year, member.id) if purpose == "birthday" else \
            f"{occasion.cause}:{occasion.ref}:rule{effect.rule_id}:m{member.id}"
        outbox.enqueue(session, settings, purpose=purpose, member=member, text=effect.text_zh,
                       fields=dict(effect.params.get("data") or {}) or None, dedup_key=key,
                       now=occasion.clock.utc)
    elif kind == "coupon":
        coupons.issue_for_rule(session, settings, member, template_code=str(effect.params.get("template", "")),
                               count=int(effect.params.get("count", 1) or 1), cause=occasion.cause,
                               ref=occasion.ref, rule_id=effect.rule_id, clock=occasion.clock,
                               channel=occasion.coupon_channel)
    session.flush()
    return 0
