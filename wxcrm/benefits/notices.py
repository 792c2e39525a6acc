"""Service notices to members that no rule decides: points changed after a sale, and the
membership-expiring reminder. Each goes to the outbox in the caller's transaction."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxcrm.config import Settings
from wxcrm.members.models import Member
from wxcrm.messages import outbox

EXPIRY_REMINDER_DAYS = 30


def notify_points_changed(session: Session, settings: Settings, member: Member, *, store_name: str,
                          change: int, balance: int, dedup_key: str, refund: bool = False) -> None:
    """A points-changed notice after a purchase or a refund (sent after commit, by the
    dispatcher)."""
    what = "退货" if refund else "消费"
    outbox.enqueue(session, settings, purpose="points_changed", member=member,
                   text=f"您在{store_name}{what}，积分变动 {change:+d}，当前积分 {balance}",
                   fields={"store": store_name, "change": f"{change:+d}", "balance": str(balance)},
                   dedup_key=dedup_key, read_back=False)


def remind_expiring_memberships(session: Session, settings: Settings, today: date, *,
                                days_ahead: int = EXPIRY_REMINDER_DAYS) -> int:
    """Queue a reminder for every active member whose card expires ``days_ahead`` days from
    today. Keyed by member and expiry date, so a rerun (or a second leader) sends none twice."""
    due = today + timedelta(days=days_ahead)
    queued = 0
    for member in session.scalars(select(Member).where(Member.status == "active", Member.expires_on == due,
                                                       Member.openid.is_not(None))):
        outbox.enqueue(session, settings, purpose="membership_expiring", member=member,
                       text=f"您的会员卡 {member.card_no} 将于 {due.isoformat()} 到期，消费满额可免费续期。",
                       fields={"card": member.card_no, "date": due.isoformat()},
                       dedup_key=f"membership_expiring:{member.id}:{due.isoformat()}")
        queued += 1
    session.flush()
    return queued
