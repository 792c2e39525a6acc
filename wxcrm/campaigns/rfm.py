"""The ready RFM classes (recency, frequency, monetary over a window), as the shop names
them, with thresholds a marketer edits in the console:

    good            recent buyers who come often and spend a lot
    grow_basket     come often, spend little: the basket could grow
    grow_frequency  recent buyers who come rarely: visits could grow
    lapsing         have bought, but not for a long time
"""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from wxcrm.campaigns.models import RfmThreshold
from wxcrm.errors import N_, DomainError

DEFAULTS = {"window_days": 365, "lapsing_days": 90, "frequent_visits": 4, "big_spend_fen": 100_000}
THRESHOLD_LABELS = {
    "window_days": N_("Window for frequency and spend (days)"),
    "lapsing_days": N_("Lapsing after this many days without a purchase"),
    "frequent_visits": N_("Frequent: at least this many purchases in the window"),
    "big_spend_fen": N_("Big spender: at least this spend in the window (fen)"),
}
CLASSES = {
    "good": N_("Good members"),
    "grow_basket": N_("Basket could grow"),
    "grow_frequency": N_("Visits could grow"),
    "lapsing": N_("Lapsing members"),
}


def thresholds(session: Session) -> dict[str, int]:
    found = dict(session.execute(select(RfmThreshold.name, RfmThreshold.value)).all())
    return {k: int(found.get(k, v)) for k, v in DEFAULTS.items()}


def set_thresholds(session: Session, values: dict) -> dict[str, int]:
    for name, raw in values.items():
        if name not in DEFAULTS:
            raise DomainError(f"unknown threshold {name}", code="rfm_threshold")
        try:
            value = int(raw)
        except (TypeError, ValueError):
            value = -1
        if not 1 <= value <= 10 ** 12:
            raise DomainError(f"{name} must be a positive whole number", code="rfm_threshold",
                              fields={name: "invalid"})
        row = session.get(RfmThreshold, name)
        if row is None:
            session.add(RfmThreshold(name=name, value=value))
        else:
            row.value = value
    session.flush()
    return thresholds(session)


def class_condition(code: str, today: date, t: dict[str, int], *, last, visits, spend):
    """A condition that holds for the members of RFM class ``code``, given their last
    purchase date and their purchases and spend in the window (columns of the caller's joins)."""
    lapse_day = today - timedelta(days=t["lapsing_days"])
    recent = last > lapse_day
    frequent = visits >= t["frequent_visits"]
    big = spend >= t["big_spend_fen"]
    if code == "good":
        return and_(recent, frequent, big)
    if code == "grow_basket":
        return and_(recent, frequent, ~big)
    if code == "grow_frequency":
        return and_(recent, ~frequent)
    if code == "lapsing":
        return and_(last.is_not(None), last <= lapse_day)
    return or_()
