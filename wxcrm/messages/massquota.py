"""Four mass messages a member a calendar month (Beijing time, as WeChat counts): wxcrm
counts the sends it queues per member, and the mass sends made elsewhere (the
official-account console; known from their MASSSENDJOBFINISH reports) against everyone.
A counter row is locked while a send is taken, so two campaigns queued at once cannot
both take the fourth; a rolled-back enqueue gives its send back."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, String, func, literal, select, update
from sqlalchemy.orm import Session

from wxcrm.members.models import Member
from wxcrm.messages.models import MassSend, MassSendCount
from wxcrm.sqlutil import ids_in, insert_missing, insert_missing_select
from wxcrm.timeutil import to_local, to_utc_naive

MASS_PER_MONTH = 4
WECHAT_TZ = ZoneInfo("Asia/Shanghai")   # WeChat's days and months are Beijing time


def mass_month(now: datetime) -> str:
    return to_local(now, WECHAT_TZ).strftime("%Y-%m")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The month's first and next month's first moment, as naive UTC."""
    year, mon = map(int, month.split("-"))
    start = datetime(year, mon, 1, tzinfo=WECHAT_TZ)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=WECHAT_TZ)
    return to_utc_naive(start), to_utc_naive(end)


def day_start(now: datetime) -> datetime:
    """Today's start in Beijing, as naive UTC (WeChat's daily quotas reset then)."""
    local = to_local(now, WECHAT_TZ)
    return to_utc_naive(local.replace(hour=0, minute=0, second=0, microsecond=0))


def next_day(now: datetime) -> datetime:
    return day_start(now) + timedelta(days=1)


def outside_sends(session: Session, month: str) -> int:
    start, end = month_bounds(month)
    return session.scalar(select(func.count(MassSend.id)).where(
        MassSend.status == "outside", MassSend.created_at >= start, MassSend.created_at < end)) or 0


def _count(session: Session, member_id: int, month: str) -> MassSendCount | None:
    return session.scalar(select(MassSendCount).where(MassSendCount.member_id == member_id,
                                                      MassSendCount.month == month).with_for_update())


def reserve_mass_send(session: Session, member_id: int, month: str) -> bool:
    """Take one of the member's mass sends this month; False when none is left."""
    row = _count(session, member_id, month)
    if row is None:
        insert_missing(session, MassSendCount, "member_id", member_id=member_id, month=month, sent=0)
        row = _count(session, member_id, month)
    if row.sent + outside_sends(session, month) >= MASS_PER_MONTH:
        return False
    row.sent += 1
    return True


def reserve_mass_sends(session: Session, member_ids: Sequence[int], month: str) -> dict[int, int]:
    """``reserve_mass_send`` for many members in a few statements: member id -> 1 when a
    send was taken, 0 when their month is used up. The members' counters this month are
    read and locked first (on MySQL the lock also covers the counters not there yet, so
    no one else can add them meanwhile); the missing ones are added already counting this
    send (one INSERT ... SELECT), the others counted up where the month allows (one UPDATE)."""
    if not member_ids:
        return {}
    member_ids = list(member_ids)
    limit = MASS_PER_MONTH - outside_sends(session, month)
    counts = dict(session.connection().execute(select(MassSendCount.member_id, MassSendCount.sent).where(
        ids_in(MassSendCount.member_id, member_ids), MassSendCount.month == month).with_for_update()).all())
    missing = [mid for mid in member_ids if mid not in counts] if limit > 0 else []
    if missing:
        # read just now, so no anti-join: one added meanwhile is left as it is (ON CONFLICT)
        insert_missing_select(session, MassSendCount, "member_id", ["member_id", "month", "sent"],
                              select(Member.id, literal(month, String()), literal(1, Integer()))
                              .where(ids_in(Member.id, missing)))
    taken = [mid for mid, sent in counts.items() if sent < limit]
    if taken:
        session.execute(update(MassSendCount).where(ids_in(MassSendCount.member_id, taken), MassSendCount.month == month)
                        .values(sent=MassSendCount.sent + 1).execution_options(synchronize_session=False))
    chosen = set(taken) | set(missing)
    return {mid: int(mid in chosen) for mid in member_ids}


def release_mass_send(session: Session, member_id: int, month: str) -> None:
    row = _count(session, member_id, month)
    if row is not None and row.sent > 0:
        row.sent -= 1


def release_mass_sends(session: Session, member_ids: Sequence[int], month: str) -> None:
    """``release_mass_send`` for many members in one statement."""
    if member_ids:
        session.execute(update(MassSendCount).where(ids_in(MassSendCount.member_id, member_ids),
                                                    MassSendCount.month == month, MassSendCount.sent > 0)
                        .values(sent=MassSendCount.sent - 1).execution_options(synchronize_session=False))


def over_limit(session: Session, member_ids: Sequence[int], month: str) -> set[int]:
    """The members past four mass messages this month, counting sends made elsewhere."""
    if not member_ids:
        return set()
    limit = MASS_PER_MONTH - outside_sends(session, month)
    found = set()
    for start in range(0, len(member_ids), 1000):
        found |= set(session.scalars(select(MassSendCount.member_id).where(
            MassSendCount.member_id.in_(member_ids[start:start + 1000]), MassSendCount.month == month,
            MassSendCount.sent > limit)))
    return found
