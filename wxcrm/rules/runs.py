"""Daily member events: birthdays and membership expiry, run by the scheduler (and by
hand with `flask wxcrm rules-run`). Idempotent per (event, business date, member):
a rerun, a catch-up after downtime or a second leader changes nothing.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Mapping
from zoneinfo import ZoneInfo

from sqlalchemy import and_, extract, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wxcrm.members.models import Member
from wxcrm.rules import service as rules
from wxcrm.rules.apply import Occasion
from wxcrm.rules.models import RuleDayDone, RuleEventRun

DAILY_EVENTS = ("birthday", "membership_expiry")
CATCH_UP_DAYS = 31


def daily_events(session: Session, *, point_value_fen: int = 1) -> tuple[str, ...]:
    """The daily events to run: birthdays and expiry always; `schedule` (a recalculation
    over every active member) only while a live rule listens for it."""
    live = rules.live_rule_set(session, point_value_fen=point_value_fen)
    return DAILY_EVENTS + (("schedule",) if "schedule" in live.by_event else ())


def members_due(session: Session, event: str, day: date, *, after_id: int = 0, limit: int = 500) -> list[Member]:
    already = select(RuleEventRun.id).where(RuleEventRun.event == event, RuleEventRun.business_date == day,
                                            RuleEventRun.member_id == Member.id).exists()
    q = select(Member).where(Member.id > after_id, ~already)
    if event == "birthday":
        match = and_(extract("month", Member.birthday) == day.month, extract("day", Member.birthday) == day.day)
        if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
            match = or_(match, and_(extract("month", Member.birthday) == 2, extract("day", Member.birthday) == 29))
        q = q.where(Member.status == "active", Member.birthday.is_not(None), match)
    elif event == "membership_expiry":
        q = q.where(Member.status == "active", Member.expires_on == day)
    elif event == "schedule":
        q = q.where(Member.status == "active")
    else:
        raise ValueError(f"{event} is not a daily member event")
    return list(session.scalars(q.order_by(Member.id).limit(limit)))


@dataclass(frozen=True)
class RunSettings:
    tz: ZoneInfo
    point_value_fen: int
    points_expiry_months: int

    @classmethod
    def from_config(cls, config: Mapping) -> "RunSettings":
        return cls(ZoneInfo(config["WXCRM_TIMEZONE"]), config["WXCRM_POINT_VALUE_FEN"],
                   config["WXCRM_POINTS_EXPIRY_MONTHS"])


def handle_member(session: Session, member: Member, event: str, day: date, settings: RunSettings) -> bool:
    """Run one member's event once. Returns False when it was already done. Flushes only;
    the unique key is claimed first, so a concurrent runner waits and then skips."""
    claim = RuleEventRun(event=event, business_date=day, member_id=member.id, effects=0)
    session.add(claim)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return False
    moment = datetime.combine(day, time(9), settings.tz)  # the morning of the business day
    occasion = Occasion("job", ref=f"{event}:{day.isoformat()}", today=day,
                        points_expiry_months=settings.points_expiry_months)
    effects = rules.run_member_event(session, member, event, local_time=moment, occasion=occasion,
                                     point_value_fen=settings.point_value_fen)
    if event == "membership_expiry" and member.status == "active" and member.expires_on and member.expires_on <= day:
        member.status = "expired"  # no rule renewed the membership
    claim.effects = len(effects)
    session.flush()
    return True


def days_to_run(session: Session, event: str, today: date) -> list[date]:
    """From the day after the last finished one (at most CATCH_UP_DAYS back) to today."""
    last = session.scalar(select(func.max(RuleDayDone.business_date)).where(RuleDayDone.event == event))
    first = today if last is None else max(last + timedelta(days=1), today - timedelta(days=CATCH_UP_DAYS - 1))
    return [first + timedelta(days=i) for i in range((today - first).days + 1)]


def mark_day_done(session: Session, event: str, day: date, members: int) -> None:
    if session.get(RuleDayDone, (event, day)) is None:
        session.add(RuleDayDone(event=event, business_date=day, members=members))
        session.flush()


def run_day(session: Session, event: str, day: date, settings: RunSettings, *, today: date,
            batch: int = 500) -> int:
    """Every due member of one day, one committed transaction per member (a failure
    leaves the others done, and the next run retries only what is missing)."""
    done = 0
    after = 0
    while True:
        due = members_due(session, event, day, after_id=after, limit=batch)
        if not due:
            break
        ids = [m.id for m in due]
        after = ids[-1]
        for member_id in ids:
            member = session.get(Member, member_id)
            if handle_member(session, member, event, day, settings):
                session.commit()
                done += 1
    if day < today:  # today stays open for members who join later in the day
        mark_day_done(session, event, day, done)
        session.commit()
    return done
