"""The jobs themselves: thin wrappers that open an app context and call a service."""
from __future__ import annotations

import logging

from flask import Flask

log = logging.getLogger(__name__)


def dispatch_outbox(app: Flask) -> None:
    from wxcrm.extensions import db
    from wxcrm.wechat.dispatch import drain_outbox
    try:
        report = drain_outbox(db.session, app.config)
        if report.claimed:
            log.info("outbox: %s", report)
    finally:
        db.session.remove()


def run_daily_rule_events(app: Flask) -> None:
    """Birthdays, membership expiry and (when any such rule is live) the daily `schedule`
    recalculation, for every business day since the last finished one."""
    from wxcrm.extensions import db
    from wxcrm.rules import runs
    from wxcrm.timeutil import business_date
    settings = runs.RunSettings.from_config(app.config)
    try:
        today = business_date()
        for event in runs.daily_events(db.session, point_value_fen=settings.point_value_fen):
            for day in runs.days_to_run(db.session, event, today):
                done = runs.run_day(db.session, event, day, settings, today=today)
                if done:
                    log.info("rules: %s for %s: %d member(s)", event, day, done)
    finally:
        db.session.remove()


def expire_points(app: Flask) -> None:
    from wxcrm.extensions import db
    from wxcrm.ledger import service as ledger
    from wxcrm.timeutil import business_date
    try:
        today = business_date()
        points = ledger.expire_points(db.session, today, job_run=f"points-expiry:{today.isoformat()}")
        db.session.commit()
        if points:
            log.info("points expiry: %d points expired before %s", points, today)
    finally:
        db.session.remove()


def remind_expiring_memberships(app: Flask) -> None:
    from wxcrm.extensions import db
    from wxcrm.members.notices import remind_expiring_memberships as remind
    from wxcrm.timeutil import business_date
    try:
        queued = remind(db.session, business_date())
        db.session.commit()
        if queued:
            log.info("membership reminders: %d queued", queued)
    finally:
        db.session.remove()
