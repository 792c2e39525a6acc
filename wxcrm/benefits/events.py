"""Member events: what the rules give a member for joining (`signup`), whoever referred
them (`referral`: at signup and at the referred member's purchases), and the daily events (`birthday`,
`membership_expiry`, `schedule`; see ``daily``).

Every enrolment path (the till API, the console, a WeChat follow) goes through
``enrol_member``, so `signup` fires once per member however they joined; a member imported
from another system is a migration and fires nothing (``members.service.create_member``).
Flushes, never commits.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxcrm.benefits.apply import Occasion, apply_member_effect
from wxcrm.config import Settings
from wxcrm.ledger import service as ledger
from wxcrm.members import service as members
from wxcrm.members.models import Member
from wxcrm.rules.context import ReferredFacts
from wxcrm.rules.decide import Basket, Decision, decide_event
from wxcrm.rules.effects import Effect
from wxcrm.rules.live import live_rule_set
from wxcrm.rules.models import ReferralPayout, RuleEventRun
from wxcrm.rules.usage import membership_anchor, record_usage
from wxcrm.timeutil import Clock


def lock_member(session: Session, member: Member) -> None:
    """One event per member at a time, so the rules' limit counters read stay true."""
    session.execute(select(Member.id).where(Member.id == member.id).with_for_update())


def run_member_event(session: Session, member: Member, event: str, *, occasion: Occasion, settings: Settings,
                     store_code: str | None = None, store_kind: str | None = None,
                     topup_amount_fen: int = 0, **event_facts) -> list[Effect]:
    """Decide a member event, apply its effects and count them against the rules' limits,
    all in the caller's transaction. Locks the member's row first, like a purchase.
    ``event_facts``: a top-up's ``payment_method`` and ``first_topup``."""
    decision = _decide_and_apply(session, member, event, occasion=occasion, settings=settings,
                                 store_code=store_code, store_kind=store_kind, topup_amount_fen=topup_amount_fen,
                                 **event_facts)
    return list(decision.effects)


def _decide_and_apply(session: Session, member: Member, event: str, *, occasion: Occasion, settings: Settings,
                      **facts) -> Decision:
    lock_member(session, member)
    clock = occasion.clock
    decision = decide_event(session, member, event, local_time=clock.local, settings=settings,
                            points_balance=ledger.available_points(session, member.id, clock.today), **facts)
    if decision.compiled is None:
        return decision
    for effect in decision.effects:
        apply_member_effect(session, member, effect, occasion, settings)
    record_usage(session, member.id, decision.result, decision.compiled, clock.today, membership_anchor(member))
    return decision


def _claim_once(session: Session, event: str, member: Member) -> RuleEventRun | None:
    """The key that makes an event happen once per member (signup). None when it already
    happened."""
    if session.scalar(select(RuleEventRun.id).where(RuleEventRun.event == event,
                                                    RuleEventRun.member_id == member.id)) is not None:
        return None
    claim = RuleEventRun(event=event, business_date=member.joined_on, member_id=member.id, effects=0)
    session.add(claim)
    session.flush()
    return claim


def welcome_member(session: Session, member: Member, *, clock: Clock, settings: Settings) -> list[Effect]:
    """The `signup` event: what the rules give a member for joining, once per member."""
    claim = _claim_once(session, "signup", member)
    if claim is None:
        return []
    effects = run_member_event(session, member, "signup", settings=settings,
                               occasion=Occasion("signup", ref=f"signup:{member.id}", clock=clock))
    claim.effects = len(effects)
    return effects


def reward_referral(session: Session, referred: Member, *, clock: Clock, settings: Settings, ref: str,
                    basket: Basket | None = None, transaction_id: int | None = None,
                    purchases_before: int = 0) -> list[Effect]:
    """The `referral` event for whoever referred ``referred``: at their signup and then at
    each of their purchases (``basket``), until every live referral rule has paid for
    them. Each rule pays once per referred member (``ReferralPayout``'s unique key); at a
    purchase the rules see it under the purchase's fact names, and ``referred.*`` says
    how long ago the referred member joined and whether this is their first purchase.
    ``member.*`` is the referrer. The caller holds the referred member's row lock."""
    if referred.referrer_id is None:
        return []
    live = live_rule_set(session, point_value_fen=settings.point_value_fen)
    index = live.by_event.get("referral")
    if index is None:
        return []
    rule_ids = {rule.id for rule in live.rules if rule.event == "referral" and rule.status in live.live_statuses}
    paid = frozenset(session.scalars(select(ReferralPayout.rule_id).where(ReferralPayout.referred_id == referred.id)))
    if rule_ids <= paid:
        return []                  # every live referral rule has paid for this member
    referrer = session.get(Member, referred.referrer_id)
    if referrer is None or referrer.status != "active":
        return []
    facts = ReferredFacts(id=referred.id, joined_on=referred.joined_on, purchase_count=purchases_before,
                          first_purchase=basket is not None and purchases_before == 0)
    decision = _decide_and_apply(session, referrer, "referral", settings=settings, basket=basket,
                                 referred=facts, paid_rules=paid,
                                 occasion=Occasion("referral", ref=ref, clock=clock, transaction_id=transaction_id))
    for applied in decision.result.applied:
        session.add(ReferralPayout(rule_id=applied.rule_id, rule_version=applied.rule_version, referred_id=referred.id,
                                   referrer_id=referrer.id, transaction_id=transaction_id, points=applied.points,
                                   fen=applied.fen, created_at=clock.utc))
    session.flush()
    return list(decision.effects)


def record_referral(session: Session, member: Member, referrer: Member, *, clock: Clock,
                    settings: Settings) -> list[Effect]:
    """Record who referred whom; the referrer gets what the `referral` rules give."""
    member.referrer_id = referrer.id
    session.flush()
    return reward_referral(session, member, clock=clock, settings=settings, ref=f"referral:{member.id}")


def enrol_member(session: Session, settings: Settings, *, clock: Clock, privacy_consent: bool = False,
                 followed: bool = False, **profile) -> Member:
    """A new member by any path (till, console, WeChat follow): the card, the accounts, the
    `signup` event and, with a ``referrer_id``, the `referral` event for the referrer.
    ``privacy_consent``: staff confirm the member agreed to the current privacy notice.
    ``followed``: they joined by following the account (so the signup's messages, a coupon
    received, may go as WeChat template messages)."""
    if privacy_consent:
        profile["privacy_version"] = settings.privacy_notice_version
    member = members.create_member(session, card_prefix=settings.card_prefix, today=clock.today, **profile)
    if followed:
        member.followed = True
    welcome_member(session, member, clock=clock, settings=settings)
    if member.referrer_id is not None:
        reward_referral(session, member, clock=clock, settings=settings, ref=f"referral:{member.id}")
    return member
