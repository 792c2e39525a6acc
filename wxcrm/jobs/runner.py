"""Running a dated job: each business date from the day after the last finished run to
today (catching up after downtime), each run recorded with its counts. Used alike by the
scheduler, the console's "run now" and `flask wxcrm jobs-run`."""
from __future__ import annotations

import logging
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wxcrm import timeutil
from wxcrm.config import Settings
from wxcrm.errors import DomainError
from wxcrm.jobs.models import JobRun
from wxcrm.jobs.registry import BY_ID, Job

log = logging.getLogger(__name__)

CATCH_UP_DAYS = 31
# a run of one chosen day (by hand, --date) does not move the catch-up point: the days
# before it may still be owed
ONE_DAY_TRIGGERS = ("cli-day", "console-day")


def job_named(name: str) -> Job:
    job = BY_ID.get(name)
    if job is None or not job.dated:
        raise DomainError(f"no job {name!r} (known: {', '.join(j.id for j in BY_ID.values() if j.dated)})",
                          code="job_not_found")
    return job


def _last_done(session: Session, job: Job) -> date | None:
    return session.scalar(select(func.max(JobRun.business_date)).where(
        JobRun.job == job.id, JobRun.status == "done", JobRun.trigger.not_in(ONE_DAY_TRIGGERS)))


def days_due(session: Session, job: Job, today: date) -> list[date]:
    """The days from the one after the last finished run (at most CATCH_UP_DAYS back) to
    today; today itself always (members join and buy during the day)."""
    last = _last_done(session, job)
    first = today if last is None or last >= today else max(last + timedelta(days=1),
                                                              today - timedelta(days=CATCH_UP_DAYS - 1))
    return [first + timedelta(days=i) for i in range((today - first).days + 1)]


def run_day(session: Session, settings: Settings, job: Job, day: date, *, today: date, trigger: str,
            started_by: str = "", quiet_if_idle: bool = False) -> JobRun | None:
    """One run of ``job`` for ``day``: recorded as running (committed), the work, then done
    with its counts or failed with the error. ``quiet_if_idle``: a scheduled rerun of a day
    already done that found nothing to do leaves no record."""
    run = JobRun(job=job.id, business_date=day, trigger=trigger, started_by=started_by[:64], status="running",
                 counts={}, error="", started_at=timeutil.utcnow())
    session.add(run)
    session.commit()
    try:
        counts = job.resolve()(session, settings, day, today) or {}
    except Exception as exc:
        session.rollback()
        run = session.get(JobRun, run.id)
        run.status, run.error, run.finished_at = "failed", f"{type(exc).__name__}: {exc}"[:500], timeutil.utcnow()
        session.commit()
        log.exception("job %s for %s failed", job.id, day)
        return run
    run = session.get(JobRun, run.id)
    if quiet_if_idle and not any(v for v in counts.values() if isinstance(v, int)):
        session.delete(run)
        session.commit()
        return None
    run.status, run.counts, run.finished_at = "done", counts, timeutil.utcnow()
    session.commit()
    if any(v for v in counts.values() if isinstance(v, int)):
        log.info("job %s for %s: %s", job.id, day, counts)
    return run


def run_due(session: Session, settings: Settings, job: Job, *, today: date | None = None,
            trigger: str = "schedule", started_by: str = "") -> list[JobRun]:
    """Every day the job owes, oldest first (the scheduler's and a plain `jobs-run`'s way)."""
    today = today or timeutil.business_date(settings.tz)
    done_before = _last_done(session, job)
    runs = []
    for day in days_due(session, job, today):
        already = done_before is not None and day <= done_before
        run = run_day(session, settings, job, day, today=today, trigger=trigger, started_by=started_by,
                      quiet_if_idle=already and trigger == "schedule")
        if run is not None:
            runs.append(run)
            if run.status == "failed":
                break       # the next run starts again from this day
    return runs


def recent_runs(session: Session, *, limit: int = 100, job: str | None = None) -> list[JobRun]:
    stmt = select(JobRun).order_by(JobRun.id.desc()).limit(limit)
    if job:
        stmt = stmt.where(JobRun.job == job)
    return list(session.scalars(stmt))


def last_runs(session: Session) -> dict[str, JobRun]:
    """Each job's latest run."""
    latest = select(JobRun.job, func.max(JobRun.id).label("id")).group_by(JobRun.job).subquery()
    return {run.job: run for run in session.scalars(select(JobRun).join(latest, JobRun.id == latest.c.id))}
