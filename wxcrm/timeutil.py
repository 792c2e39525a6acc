"""Time: UTC in the database, business dates in the merchant's time zone."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context


def utcnow() -> datetime:
    """Naive UTC (what the DATETIME columns store)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def merchant_tz(name: str | None = None) -> ZoneInfo:
    if name is None:
        name = current_app.config["WXCRM_TIMEZONE"] if has_app_context() else "Asia/Shanghai"
    return ZoneInfo(name)


def to_local(utc_naive: datetime, tz: ZoneInfo | None = None) -> datetime:
    return utc_naive.replace(tzinfo=timezone.utc).astimezone(tz or merchant_tz())


def business_date(utc_naive: datetime | None = None, tz: ZoneInfo | None = None) -> date:
    """The merchant's calendar date at a UTC moment (default: now)."""
    return to_local(utc_naive or utcnow(), tz).date()
