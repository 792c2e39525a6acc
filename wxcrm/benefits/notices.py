"""Service notices to members that no rule decides: points changed after a sale, and the
membership-expiring reminder. Each goes to the outbox in the caller's transaction."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wxcrm.config import Settings
from wxcrm.ledger.models import LedgerAccount, PointsLot
from wxcrm.members.models import Member
from wxcrm.messages import outbox
from wxcrm.money import fen_to_yuan_str
from wxcrm.rules.models import Rule
from wxcrm.rules.storage import rule_json
from wxcrm.sales.models import Transaction
from wxcrm.sales.queries import signed_payable

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


def renewal_by_spend(session: Session) -> tuple[int, int] | None:
    """(threshold fen, window days) of the easiest live rule that renews a membership when
    the member's spend reaches a threshold, or None when no such rule is live."""
    found = []
    for rule in session.scalars(select(Rule).where(Rule.status == "active")):
        data = rule_json(rule)
        cond = data.get("conditions") or {}
        if data.get("event") != "membership_expiry" or cond.get("fact") != "member.spend_fen" \
                or cond.get("op") not in (">=", ">"):
            continue
        if not any(a.get("type") == "renew_membership" for a in data.get("actions") or []):
            continue
        found.append((int(cond.get("value") or 0) + (1 if cond["op"] == ">" else 0),
                      int(cond.get("window_days") or 365)))
    return min(found) if found else None


def remind_expiring_memberships(session: Session, settings: Settings, today: date, *,
                                days_ahead: int = EXPIRY_REMINDER_DAYS) -> int:
    """Queue a reminder for every active member whose card expires ``days_ahead`` days from
    today, saying what they must still spend to renew when a live rule renews on spend.
    Keyed by member and expiry date, so a rerun (or a second leader) sends none twice."""
    due = today + timedelta(days=days_ahead)
    renewal = renewal_by_spend(session)
    queued = 0
    for member in session.scalars(select(Member).where(Member.status == "active", Member.expires_on == due,
                                                       Member.openid.is_not(None))):
        text = f"您的会员卡 {member.card_no} 将于 {due.isoformat()} 到期"
        if renewal is not None:
            threshold, window = renewal
            spent = session.scalar(select(func.coalesce(func.sum(signed_payable()), 0)).where(
                Transaction.member_id == member.id, Transaction.business_date > due - timedelta(days=window),
                Transaction.business_date <= today)) or 0
            left = max(threshold - int(spent), 0)
            text += (f"，到期前再消费 {fen_to_yuan_str(left)} 元即可免费续期。" if left
                     else "，您的消费已满足续期条件，到期时自动续期。")
        else:
            text += "。"
        outbox.enqueue(session, settings, purpose="membership_expiring", member=member, text=text,
                       fields={"card": member.card_no, "date": due.isoformat()},
                       dedup_key=f"membership_expiring:{member.id}:{due.isoformat()}")
        queued += 1
    session.flush()
    return queued


def remind_expiring_points(session: Session, settings: Settings, today: date, *, days_ahead: int) -> int:
    """Queue a reminder to every member with points whose lots end ``days_ahead`` days from
    today (the points, the date). Keyed by member and date: once each."""
    due = today + timedelta(days=days_ahead)
    rows = session.execute(select(LedgerAccount.member_id, func.sum(PointsLot.remaining))
                           .join(PointsLot, PointsLot.account_id == LedgerAccount.id)
                           .where(PointsLot.expires_on == due, PointsLot.remaining > 0)
                           .group_by(LedgerAccount.member_id)).all()
    queued = 0
    for member_id, points in rows:
        member = session.get(Member, member_id)
        if member is None or member.status != "active":
            continue
        outbox.enqueue(session, settings, purpose="points_expiring", member=member,
                       text=f"您有 {int(points)} 积分将于 {due.isoformat()} 到期，请尽快使用。",
                       fields={"points": str(int(points)), "date": due.isoformat()},
                       dedup_key=f"points_expiring:{member.id}:{due.isoformat()}")
        queued += 1
    session.flush()
    return queued
