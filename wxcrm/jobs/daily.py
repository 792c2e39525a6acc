"""The dated jobs of the registry: each does one business date's work and returns its
counts. Every unit of work is keyed per (job, date or year, member), so a rerun, a
catch-up, a console run beside the scheduler or a second leader queues nothing twice."""
from __future__ import annotations

import logging
from datetime import date

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from wxcrm import timeutil
from wxcrm.benefits import daily as rule_days
from wxcrm.benefits.notices import remind_expiring_memberships, remind_expiring_points
from wxcrm.campaigns import greetings
from wxcrm.campaigns import service as campaigns_service
from wxcrm.config import Settings
from wxcrm.jobs.tasks import run_daily_event, run_tier_review
from wxcrm.ledger import service as ledger

log = logging.getLogger(__name__)


def _retrying(session: Session, work, attempts: int = 4):
    """Run ``work()`` and commit; when a concurrent runner got there first (a unique key, a
    deadlock), roll back and try again: the second try skips what the other one did."""
    for attempt in range(attempts):
        try:
            result = work()
            session.commit()
            return result
        except (IntegrityError, DBAPIError) as exc:
            session.rollback()
            if attempt == attempts - 1 or (not isinstance(exc, IntegrityError) and "eadlock" not in str(exc)
                                           and "1213" not in str(exc) and "locked" not in str(exc)):
                raise
            log.info("retrying after a concurrent runner: %s", str(exc)[:120])


def birthday(session: Session, settings: Settings, day: date, today: date) -> dict:
    now = timeutil.utcnow()
    greeted = _retrying(session, lambda: greetings.queue_birthday_greetings(session, settings, day, now))
    rules = run_daily_event(session, settings, "birthday", day, today=today)
    return {"greeted": greeted.get("members", 0), **_channels(greeted), "rule_members": rules}


def membership_expiry(session: Session, settings: Settings, day: date, today: date) -> dict:
    reminded = _retrying(session, lambda: remind_expiring_memberships(
        session, settings, day, days_ahead=settings.membership_reminder_days))
    handled = run_daily_event(session, settings, "membership_expiry", day, today=today)
    return {"reminded": reminded, "rule_members": handled}


def points_expiry(session: Session, settings: Settings, day: date, today: date) -> dict:
    expired = ledger.expire_points(session, day, job_run=f"points-expiry:{day.isoformat()}")
    session.commit()
    reminded = _retrying(session, lambda: remind_expiring_points(session, settings, day,
                                                                 days_ahead=settings.points_reminder_days))
    return {"points_expired": expired, "reminded": reminded}


def tiers(session: Session, settings: Settings, day: date, today: date) -> dict:
    report = run_tier_review(session, settings, today=day)
    return {"changed": report["changed"], "holds_ended": report["holds_ended"],
            "month_ends": len(report["month_ends"])}


def holidays(session: Session, settings: Settings, day: date, today: date) -> dict:
    now = timeutil.utcnow()
    counts = _retrying(session, lambda: greetings.queue_holiday_greetings(session, settings, day, now))
    return {"greeted": counts.get("members", 0), **_channels(counts), "greetings": counts.get("greetings", [])}


def schedule(session: Session, settings: Settings, day: date, today: date) -> dict:
    if "schedule" not in rule_days.daily_events(session, settings):
        return {"rule_members": 0}
    return {"rule_members": run_daily_event(session, settings, "schedule", day, today=today)}


def campaigns(session: Session, settings: Settings, day: date, today: date) -> dict:
    now = timeutil.utcnow()
    started = campaigns_service.start_due(session, settings, now=now)
    written = campaigns_service.feed_running(session, settings, now=now)
    return {"started": len(started), "queued": written + sum(c.get("queued", 0) for c in started)}


def coupon_expiry(session: Session, settings: Settings, day: date, today: date) -> dict:
    from wxcrm.coupons.service import remind_expiring_coupons
    reminded = _retrying(session, lambda: remind_expiring_coupons(session, settings, day))
    return {"reminded": reminded}


def _channels(counts: dict) -> dict:
    return {k: v for k, v in counts.items()
            if k in ("custom", "mass", "sms", "parked", "skipped", "coupons", "coupons_out_of_stock")}
