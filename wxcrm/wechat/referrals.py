"""New members from WeChat: the `signup` rule event for everyone who joins, and the
`referral` event for the member whose QR code (scene ``ref_<member id>``) brought them.

The rules decide what each earns (wxcrm.rules.service.run_member_event); effects are
applied and counted against the rules' limits in the callback's transaction, and any
message they send goes through the outbox.
"""
from __future__ import annotations

from datetime import date, datetime, time

from flask import current_app
from sqlalchemy.orm import Session

from wxcrm.members.models import Member
from wxcrm.rules import service as rules
from wxcrm.rules.apply import Occasion
from wxcrm.rules.effects import Effect
from wxcrm.timeutil import merchant_tz, to_local, utcnow


def _moment(today: date) -> datetime:
    now = to_local(utcnow())
    return now if now.date() == today else datetime.combine(today, time(12), merchant_tz())


def _occasion(event: str, ref: str, today: date) -> Occasion:
    return Occasion(event, ref=ref, today=today, points_expiry_months=current_app.config["WXCRM_POINTS_EXPIRY_MONTHS"])


def welcome_new_member(session: Session, member: Member, today: date) -> list[Effect]:
    """The `signup` event: what the rules give a member for joining."""
    return rules.run_member_event(session, member, "signup", local_time=_moment(today),
                                  occasion=_occasion("signup", f"signup:{member.id}", today),
                                  point_value_fen=current_app.config["WXCRM_POINT_VALUE_FEN"])


def record_referral(session: Session, member: Member, referrer: Member, today: date) -> list[Effect]:
    """Record who referred whom; the referrer gets what the `referral` rules give (once
    per referred member: here at signup, or else at the member's first purchase)."""
    member.referrer_id = referrer.id
    session.flush()
    return rules.reward_referral(session, member, local_time=_moment(today),
                                 occasion=_occasion("referral", f"referral:{member.id}", today),
                                 point_value_fen=current_app.config["WXCRM_POINT_VALUE_FEN"])
