"""The leader lease: one row per name, held by one worker until it expires.

``hold`` takes the lease if it is free or expired, or renews it if we already hold it,
in one conditional UPDATE (atomic on MySQL and SQLite alike). A worker that stops
renewing loses the lease after ``ttl`` seconds and another takes over.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from wxcrm.jobs.models import SchedulerLease
from wxcrm.timeutil import utcnow

JOBS_LEASE = "jobs"


def hold(engine: Engine, holder: str, ttl_seconds: int, *, name: str = JOBS_LEASE,
         now: datetime | None = None) -> bool:
    now = now or utcnow()
    expires = now + timedelta(seconds=ttl_seconds)
    with engine.begin() as conn:
        taken = conn.execute(update(SchedulerLease)
                             .where(SchedulerLease.name == name,
                                    or_(SchedulerLease.holder == holder, SchedulerLease.expires_at < now))
                             .values(holder=holder, expires_at=expires)).rowcount
    if taken:
        return True
    try:
        with engine.begin() as conn:
            conn.execute(insert(SchedulerLease).values(name=name, holder=holder, expires_at=expires,
                                                       acquired_at=now))
        return True
    except IntegrityError:  # someone else holds it
        return False


def release(engine: Engine, holder: str, *, name: str = JOBS_LEASE) -> None:
    with engine.begin() as conn:
        conn.execute(update(SchedulerLease).where(SchedulerLease.name == name, SchedulerLease.holder == holder)
                     .values(expires_at=utcnow() - timedelta(seconds=1)))
