"""The scheduler lease: one row per lease name; whoever holds an unexpired row runs the jobs."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from wxcrm.extensions import db
from wxcrm.timeutil import utcnow


class SchedulerLease(db.Model):
    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128), default="")
    expires_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    acquired_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class JobRun(db.Model):
    """One run of a scheduled job for one business date: who started it (the scheduler, a
    person in the console, the CLI), when, what it did (counts) and how it ended. A date is
    done for a job when one of its runs finished ("done"); the job catches up from there."""
    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(40))
    business_date: Mapped[date] = mapped_column(Date)
    trigger: Mapped[str] = mapped_column(String(16), default="schedule")   # schedule | console | cli
    started_by: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="running")     # running | done | failed
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(String(500), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    __table_args__ = (Index("ix_job_runs_job_date", "job", "business_date"),
                      Index("ix_job_runs_started_at", "started_at"))
