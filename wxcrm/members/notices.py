"""Service notices to members that no rule decides: the membership-expiring reminder."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxcrm.members.models import Member

EXPIRY_REMINDER_DAYS = 30


def remind_expiring_memberships(session: Session, today: date, *, days_ahead: int = EXPIRY_REMINDER_DAYS) -> int:
    """Queue a reminder for every active member whose card expires `days_ahead` days from
    today. Keyed by member and expiry date, so a rerun (or a second leader) sends none twice."""
    from wxcrm.wechat import outbox
    due = today + timedelta(days=days_ahead)
    queued = 0
    for member in session.scalars(select(Member).where(Member.status == "active", Member.expires_on == due,
                                                       Member.openid.is_not(None))):
        outbox.enqueue(session, purpose="membership_expiring", member=member,
                       text=f"您的会员卡 {member.card_no} 将于 {due.isoformat()} 到期，消费满额可免费续期。",
                       fields={"character_string1": member.card_no, "date2": due.isoformat()},
                       dedup_key=f"membership_expiring:{member.id}:{due.isoformat()}")
        queued += 1
    session.flush()
    return queued
