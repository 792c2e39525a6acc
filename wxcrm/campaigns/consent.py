"""Marketing consent and opt-out. Marketing (greetings, campaigns) goes only to members
with marketing consent; a member opts out on the H5 privacy page, by replying 退订 / TD
to the official account, or by replying T (or R, as the SMS template says) to a marketing
SMS. An opt-out is recorded (PIPL) and holds back their marketing messages not yet sent;
service notices (points, top-ups, coupons, membership) are not marketing and still go."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxcrm.members.models import Member
from wxcrm.members.service import record_consent
from wxcrm.messages import fate, outbox
from wxcrm.messages.kinds import OPT_OUT_REPLIES
from wxcrm.messages.models import OutboxMessage
from wxcrm.messages.quiet import MARKETING_PURPOSES

WECHAT_REPLIES = ("退订", "TD")


def is_opt_out(text: str, *, sms: bool = False) -> bool:
    """退订 / TD to the account; to an SMS also the single letters T, R, N."""
    word = (text or "").strip().upper()
    return word in (OPT_OUT_REPLIES if sms else WECHAT_REPLIES)


def opt_out(session: Session, member: Member, *, channel: str, at: datetime) -> int:
    """The member withdraws marketing consent: recorded, and their marketing messages not yet
    sent are parked ("no consent"). Returns how many were stopped."""
    record_consent(session, member, privacy_version=None, marketing=False, channel=channel, at=at)
    rows = list(session.scalars(select(OutboxMessage).where(
        OutboxMessage.member_id == member.id, OutboxMessage.purpose.in_(MARKETING_PURPOSES),
        OutboxMessage.status.in_(("pending", "held")))))
    for row in rows:
        outbox.park(session, row, fate.step("parked", "no_consent", row.channel, at))
    session.flush()
    return len(rows)


def opt_out_by_reply(session: Session, *, text: str, at: datetime, openid: str | None = None,
                     phone: str | None = None) -> Member | None:
    """A reply to the account (openid) or to a marketing SMS (phone): the member it came
    from when it was an opt-out (and they are opted out now), else None."""
    if not is_opt_out(text, sms=phone is not None and openid is None):
        return None
    if openid:
        member = session.scalar(select(Member).where(Member.openid == openid))
    else:
        number = (phone or "").strip()[-11:]
        member = session.scalar(select(Member).where(Member.phone == number)) if number else None
    if member is None:
        return None
    opt_out(session, member, channel="wechat" if openid else "sms", at=at)
    return member
