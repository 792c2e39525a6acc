"""The scheduler lease: one row per lease name; whoever holds an unexpired row runs the jobs."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from wxcrm.extensions import db
from wxcrm.timeutil import utcnow


class SchedulerLease(db.Model):
    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128), default="")
    expires_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    acquired_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
