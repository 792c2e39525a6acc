"""Daily member events: birthdays, membership expiry and (while a live rule listens for it)
the `schedule` recalculation. Idempotent per (event, business date, member): a rerun, a
catch-up after downtime or a second leader changes nothing.

Each function flushes; the job (``wxcrm.jobs.tasks``) commits one member at a time, so a
failure leaves the others done and the next run retries only what is missing.
"""
from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, extract, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wxcrm.benefits.apply import Occasion
from wxcrm.benefits.events import run_member_event
from wxcrm.config import Settings
from wxcrm.members.models import Member
from wxcrm.rules.live import live_rule_set
from wxcrm.rules.models import RuleDayDone, RuleEventRun
from wxcrm.timeutil import Clock

DAILY_EVENTS = ("birthday", "membership_expiry")
CATCH_UP_DAYS = 31


def daily_events(session: Session, settings: Settings) -> tuple[str, ...]:
    """The daily events to run: birthdays and expiry always; `schedule` (a recalculation
    over every active member) only while a live rule listens for it."""
    live = live_rule_set(session, point_value_fen=settings.point_value_fen)
    return DAILY_EVENTS + (("schedule",) if "schedule" in live.by_event else ())


def members_due(session: Session, event: str, day: date, *, after_id: int = 0, limit: int = 500) -> list[int]:
    """Ids of the members an event is due for on ``day`` and not yet handled, in id order."""
    already = select(RuleEventRun.id).where(RuleEventRun.event == event, RuleEventRun.business_date == day,
                                            RuleEventRun.member_id == Member.id).exists()
    q = select(Member.id).where(Member.id > after_id, ~already)
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


def run_event_for_member(session: Session, member: Member, event: str, day: date, settings: Settings) -> int:
    """Run one member's daily event for ``day``; returns the effects given. Claims the
    (event, day, member) key first: a concurrent runner fails on the unique key, and the
    job rolls that member back and moves on."""
    claim = RuleEventRun(event=event, business_date=day, member_id=member.id, effects=0)
    session.add(claim)
    session.flush()
    moment = datetime.combine(day, time(9), settings.tz)  # the morning of the business day
    occasion = Occasion("job", ref=f"{event}:{day.isoformat()}", clock=Clock.local_moment(moment))
    effects = run_member_event(session, member, event, occasion=occasion, settings=settings)
    if event == "membership_expiry" and member.status == "active" and member.expires_on and member.expires_on <= day:
        member.status = "expired"  # no rule renewed the membership
    claim.effects = len(effects)
    session.flush()
    return len(effects)


def days_to_run(session: Session, event: str, today: date) -> list[date]:
    """From the day after the last finished one (at most CATCH_UP_DAYS back) to today."""
    last = session.scalar(select(func.max(RuleDayDone.business_date)).where(RuleDayDone.event == event))
    first = today if last is None else max(last + timedelta(days=1), today - timedelta(days=CATCH_UP_DAYS - 1))
    return [first + timedelta(days=i) for i in range((today - first).days + 1)]


def mark_day_done(session: Session, event: str, day: date, members: int) -> None:
    """Insert-or-ignore: several runners (a second leader, a console run beside the
    scheduler) may finish the same day at once; the first marker stands."""
    if session.get(RuleDayDone, (event, day)) is not None:
        return
    try:
        with session.begin_nested():
            session.add(RuleDayDone(event=event, business_date=day, members=members))
    except IntegrityError:      # another runner marked it between our read and our insert
        pass
