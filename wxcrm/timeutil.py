"""Time: UTC in the database, business dates in the merchant's time zone.

Nothing here knows the app: the merchant's zone comes in as an argument
(``Settings.tz``), so a service's answer never depends on where it was called from.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    """Naive UTC (what the DATETIME columns store)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_local(utc_naive: datetime, tz: ZoneInfo) -> datetime:
    return utc_naive.replace(tzinfo=timezone.utc).astimezone(tz)


def to_utc_naive(moment: datetime) -> datetime:
    """An aware moment as the naive UTC the database keeps."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def rfc3339(utc_naive: datetime) -> str:
    """A stored (naive UTC) moment as RFC 3339 with its offset: '2026-11-23T06:00:00Z'."""
    return utc_naive.replace(microsecond=0).isoformat() + "Z"


def business_date(tz: ZoneInfo, utc_naive: datetime | None = None) -> date:
    """The merchant's calendar date at a UTC moment (default: now)."""
    return to_local(utc_naive or utcnow(), tz).date()


def add_months(day: date, months: int, *, to_month_end: bool = False) -> date:
    """The same day ``months`` later (the month's last day when it has no such day), or,
    with ``to_month_end``, the last day of that month. The one place months are added."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    last = calendar.monthrange(year, month)[1]
    return date(year, month, last if to_month_end else min(day.day, last))


@dataclass(frozen=True)
class Clock:
    """One moment, as stored (naive UTC) and as the merchant lives it (local)."""
    utc: datetime        # naive UTC, stored
    local: datetime      # merchant time zone, for rules and business dates

    @property
    def today(self) -> date:
        return self.local.date()

    @classmethod
    def at(cls, utc_naive: datetime, tz: ZoneInfo) -> "Clock":
        return cls(utc=utc_naive, local=to_local(utc_naive, tz))

    @classmethod
    def now(cls, tz: ZoneInfo) -> "Clock":
        return cls.at(utcnow(), tz)

    @classmethod
    def local_moment(cls, local: datetime) -> "Clock":
        """From an aware local moment (history loads, offline sales)."""
        return cls(utc=to_utc_naive(local), local=local)
