"""Quiet hours: no marketing message (a greeting, a campaign: ``Kind.marketing``) leaves
between WXCRM_QUIET_HOURS (default 21:00-08:00, merchant time). Service notices (points,
top-ups, coupons, membership) are not marketing and go at any hour. A marketing message
queued in quiet hours waits until they end; the dispatcher holds back marketing rows
while they last (a backlog queued at 20:59 does not go out at 21:30)."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from wxcrm.config import Settings
from wxcrm.messages.kinds import KINDS
from wxcrm.timeutil import to_local, to_utc_naive

MARKETING_PURPOSES = tuple(p for p, k in KINDS.items() if k.marketing)


def _bounds(raw: str) -> tuple[time, time] | None:
    if not raw.strip():
        return None
    start, end = (time.fromisoformat(part.strip()) for part in raw.split("-"))
    return start, end


def in_quiet_hours(settings: Settings, now: datetime) -> bool:
    """Is ``now`` (naive UTC) inside the quiet hours, merchant time?"""
    bounds = _bounds(settings.quiet_hours)
    if bounds is None:
        return False
    start, end = bounds
    local = to_local(now, settings.tz).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def next_marketing_moment(settings: Settings, now: datetime) -> datetime:
    """``now`` outside quiet hours, else the moment they end (naive UTC)."""
    if not in_quiet_hours(settings, now):
        return now
    _, end = _bounds(settings.quiet_hours)
    local = to_local(now, settings.tz)
    candidate = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return to_utc_naive(candidate)
