"""The jobs themselves: each opens the app's settings and session, calls services that
flush, and commits (one unit of work at a time: a message, a member, a day)."""
from __future__ import annotations

import logging
from datetime import date

from flask import Flask
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from wxcrm.benefits import daily, tiers
from wxcrm.benefits.notices import remind_expiring_memberships
from wxcrm.config import Settings, settings_for
from wxcrm.jobs.outbox import drain
from wxcrm.ledger import service as ledger
from wxcrm.members.models import Member
from wxcrm.timeutil import business_date, utcnow

log = logging.getLogger(__name__)


def roll_up_analytics(app: Flask) -> None:
    """The report rollups, batch by batch from their watermarks, each batch committed."""
    from wxcrm.analytics import rollup
    from wxcrm.extensions import db
    settings = settings_for(app)
    try:
        total = rollup.roll_up(db.session, settings, lag_seconds=settings.analytics_rollup_lag_seconds,
                               commit=db.session.commit)
        if total:
            log.info("analytics rollup: %d rows", total)
    finally:
        db.session.remove()


def sync_wallet_cards(app: Flask) -> None:
    """The wallet-card-sync job: every wallet member card showing old values gets one update
    queued (batch by batch, each committed). Nothing while the wallet card is off."""
    from wxcrm import timeutil
    from wxcrm.cards import wallet
    from wxcrm.extensions import db
    settings = settings_for(app)
    if not settings.wechat_card_enabled:
        return
    try:
        queued = wallet.sync_changed(db.session, settings, now=timeutil.utcnow(), commit=db.session.commit)
        db.session.commit()
        if queued:
            log.info("wallet cards: %d updates queued", queued)
    finally:
        db.session.remove()


def dispatch_outbox(app: Flask) -> None:
    from wxcrm.extensions import db
    try:
        report = drain(db.session, settings_for(app))
        if report.claimed:
            log.info("outbox: %s", report)
    finally:
        db.session.remove()


def run_daily_event(session: Session, settings: Settings, event: str, day: date, *, today: date,
                    batch: int = 500) -> int:
    """Every due member of one day, one committed transaction per member; the day is marked
    done once it is over (today stays open for members who join later in the day)."""
    done = 0
    after = 0
    while True:
        due = daily.members_due(session, event, day, after_id=after, limit=batch)
        if not due:
            break
        after = due[-1]
        for member_id in due:
            for attempt in range(3):
                try:
                    daily.run_event_for_member(session, session.get(Member, member_id), event, day, settings)
                    session.commit()
                    done += 1
                    break
                except IntegrityError:       # another runner handled this member first
                    session.rollback()
                    break
                except OperationalError as exc:   # a deadlock with another runner: try again
                    session.rollback()
                    if attempt == 2 or "1213" not in str(exc) and "eadlock" not in str(exc):
                        raise
    if day < today:
        daily.mark_day_done(session, event, day, done)
        session.commit()
    return done


def run_daily_rule_events(app: Flask) -> None:
    """Birthdays, membership expiry and (when any such rule is live) the daily `schedule`
    recalculation, for every business day since the last finished one."""
    from wxcrm.extensions import db
    settings = settings_for(app)
    try:
        today = business_date(settings.tz)
        for event in daily.daily_events(db.session, settings):
            for day in daily.days_to_run(db.session, event, today):
                done = run_daily_event(db.session, settings, event, day, today=today)
                if done:
                    log.info("rules: %s for %s: %d member(s)", event, day, done)
    finally:
        db.session.remove()


def run_tier_review(session: Session, settings: Settings, *, today: date) -> dict:
    """Tiers at month end (every month end since the last one reviewed, or just the last
    one the first time), then the staff holds that ran out. One committed transaction per
    member; a month end is marked done once every member is reviewed."""
    from sqlalchemy import func, select

    from wxcrm.rules.models import RuleDayDone
    last_done = session.scalar(select(func.max(RuleDayDone.business_date)).where(RuleDayDone.event == "tiers"))
    target = tiers.last_month_end(today)
    due = [target] if last_done is None else tiers.month_ends_between(last_done, target)
    report = {"month_ends": [d.isoformat() for d in due], "changed": 0, "holds_ended": 0}
    for month_end in due:
        reviewed, after = 0, 0
        while True:
            ids = tiers.members_with_tiers_due(session, after_id=after)
            if not ids:
                break
            after = ids[-1]
            for member_id in ids:
                report["changed"] += tiers.review_month_end(session, session.get(Member, member_id),
                                                            month_end=month_end, at=utcnow(),
                                                            tz=settings.tz)
                session.commit()
                reviewed += 1
        daily.mark_day_done(session, "tiers", month_end, reviewed)
        session.commit()
    for member_id in tiers.holds_ended(session, today):
        report["holds_ended"] += 1
        report["changed"] += tiers.end_hold(session, session.get(Member, member_id), today=today, at=utcnow(),
                                                 tz=settings.tz)
        session.commit()
    return report


def review_tiers(app: Flask) -> None:
    """The daily `tiers` job: month-end downgrades (and upgrades missed), ended holds."""
    from wxcrm.extensions import db
    settings = settings_for(app)
    try:
        report = run_tier_review(db.session, settings, today=business_date(settings.tz))
        if report["changed"]:
            log.info("tiers: %s", report)
    finally:
        db.session.remove()


def expire_points(app: Flask) -> None:
    from wxcrm.extensions import db
    settings = settings_for(app)
    try:
        today = business_date(settings.tz)
        points = ledger.expire_points(db.session, today, job_run=f"points-expiry:{today.isoformat()}")
        db.session.commit()
        if points:
            log.info("points expiry: %d points expired before %s", points, today)
    finally:
        db.session.remove()


def remind_expiring(app: Flask) -> None:
    from wxcrm.extensions import db
    settings = settings_for(app)
    try:
        queued = remind_expiring_memberships(db.session, settings, business_date(settings.tz))
        db.session.commit()
        if queued:
            log.info("membership reminders: %d queued", queued)
    finally:
        db.session.remove()


def confirm_wechat_topups(app: Flask) -> None:
    """WeChat top-ups whose notify is late: ask WeChat Pay (idempotent: a top-up is credited
    only while pending, under its row lock)."""
    from wxcrm.extensions import db
    from wxcrm.timeutil import Clock
    from wxcrm.topups.wechat import confirm_late_orders, retry_refunds
    settings = settings_for(app)
    try:
        done = confirm_late_orders(db.session, clock=Clock.now(settings.tz), settings=settings,
                                   commit=db.session.commit)
        done["refunded"] = retry_refunds(db.session, settings=settings, commit=db.session.commit)
        db.session.commit()
        if done["credited"] or done["closed"] or done["refunded"]:
            log.info("wechat top-ups: %s", done)
    finally:
        db.session.remove()


def remind_expiring_coupons(app: Flask) -> None:
    """The daily `coupon-expiry` job: a reminder 3 days before each coupon ends."""
    from wxcrm.coupons.service import remind_expiring_coupons as remind
    from wxcrm.extensions import db
    settings = settings_for(app)
    try:
        queued = remind(db.session, settings, business_date(settings.tz))
        db.session.commit()
        if queued:
            log.info("coupon reminders: %d queued", queued)
    finally:
        db.session.remove()
