"""The referral seam: a new member arrived through another member's QR code (scene
``ref_<member id>``).

``record_referral`` records who referred whom and asks the rule engine for the
``referral`` event's effects. The engine's ``wxcrm.rules.service.referral_effects`` is being
written now; until it exists this records the referrer and returns no effects. Effects
are applied here because no other package applies referral effects yet: points through
the ledger, messages through the outbox.
"""
from __future__ import annotations

import logging
from datetime import date

from sqlalchemy.orm import Session

from wxcrm.members.models import Member
from wxcrm.rules.effects import Effect

log = logging.getLogger(__name__)


def referral_effects(session: Session, member: Member, referrer: Member, today: date) -> list[Effect]:
    """What the rules say a referral earns (nothing while the rules have no referral event)."""
    from wxcrm.rules import service as rules
    find = getattr(rules, "referral_effects", None)
    if find is None:
        return []
    return list(find(session, member_id=member.id, referrer_id=referrer.id, today=today))


def record_referral(session: Session, member: Member, referrer: Member, today: date) -> list[Effect]:
    member.referrer_id = referrer.id
    session.flush()
    effects = referral_effects(session, member, referrer, today)
    for effect in effects:
        apply_referral_effect(session, effect, member=member, referrer=referrer, today=today)
    return effects


def apply_referral_effect(session: Session, effect: Effect, *, member: Member, referrer: Member,
                          today: date) -> None:
    from wxcrm.wechat import outbox
    target = referrer if effect.params.get("to") == "referrer" else member
    if effect.kind == "points" and effect.points > 0:
        from flask import current_app

        from wxcrm.ledger import service as ledger
        cause = ledger.Cause(kind="rule", ref=f"referral:{member.id}", rule_id=effect.rule_id,
                             rule_version=effect.rule_version, text_zh=effect.text_zh, text_en=effect.text_en)
        ledger.earn_points(session, target.id, effect.points, cause, today=today,
                           expires_on=ledger.expiry_date(today, current_app.config["WXCRM_POINTS_EXPIRY_MONTHS"]),
                           pending_days=effect.pending_days)
    elif effect.kind == "message":
        outbox.enqueue(session, purpose=str(effect.params.get("purpose", "points_changed")), member=target,
                       text=effect.text_zh, fields=effect.params.get("fields"),
                       dedup_key=f"referral:{member.id}:{effect.rule_id}:{target.id}")
    else:
        log.warning("referral effect %s from rule %s is not applied here", effect.kind, effect.rule_name)
