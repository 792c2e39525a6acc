"""The jobs as the console sees them. Faces never import one another, so the console's
jobs page reaches the registry and the runner through this object, which the app keeps
in ``app.extensions["wxcrm_jobs"]``."""
from __future__ import annotations

from datetime import date

from flask import Flask
from sqlalchemy.orm import Session

from wxcrm.config import Settings
from wxcrm.jobs import runner
from wxcrm.jobs.models import JobRun
from wxcrm.jobs.registry import JOBS, Job


class JobsDesk:
    jobs: tuple[Job, ...] = tuple(job for job in JOBS if job.dated)

    def last_runs(self, session: Session) -> dict[str, JobRun]:
        return runner.last_runs(session)

    def recent_runs(self, session: Session, *, limit: int = 100, job: str | None = None) -> list[JobRun]:
        return runner.recent_runs(session, limit=limit, job=job)

    def run(self, session: Session, settings: Settings, name: str, *, today: date, day: date | None,
            started_by: str) -> list[JobRun]:
        """Run a job by hand: one chosen day, or every day it owes up to today."""
        job = runner.job_named(name)
        if day is not None:
            return [runner.run_day(session, settings, job, day, today=max(day, today), trigger="console-day",
                                   started_by=started_by)]
        return runner.run_due(session, settings, job, today=today, trigger="console", started_by=started_by)


def init_app(app: Flask) -> None:
    app.extensions["wxcrm_jobs"] = JobsDesk()
