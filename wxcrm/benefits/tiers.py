"""Tiers follow spend: each member's tier is the highest whose threshold their rolling
12-month net spend (purchases less refunds, ``sales.queries.rolling_year_start``) reaches.

* **Up at once**: right after the purchase that crosses a threshold (``after_purchase``).
* **Down at month end**: only at the end of the month in which the spend fell below the
  threshold, by the daily ``tiers`` job (``review_month_end``); a refund never lowers a
  tier on the spot.
* **Held by staff**: a tier set in the back office with a ``tier_until`` date is never
  lowered through that date; when the hold ends the member is reviewed that day.
* **Group accounts**: a card in a group account gets the higher of its own tier and the
  group's (the tier the group's total spend, all its cards together, reaches).

Every change is a line in the member's history (``members.service.record_change``).
Flushes, never commits.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxcrm.errors import N_
from wxcrm.members import cache
from wxcrm.members import service as members
from wxcrm.members.models import Member, MemberChange, Tier
from wxcrm.sales.queries import net_spend_by_member
from wxcrm.timeutil import add_months, to_utc_naive


def tier_for_spend(tiers: list[Tier], spend_fen: int) -> Tier | None:
    """The highest tier (by rank) whose threshold ``spend_fen`` reaches."""
    found = None
    for tier in tiers:                   # by rank, lowest first
        if spend_fen >= tier.upgrade_threshold_fen:
            found = tier
    return found


def _rank(tier: Tier | None) -> int:
    return tier.rank if tier is not None else -1


def _group_member_ids(session: Session, group_id: int) -> list[int]:
    return list(session.scalars(select(Member.id).where(Member.group_id == group_id).order_by(Member.id)))


def group_spend(session: Session, group_id: int, *, today: date) -> int:
    """A group account's rolling 12-month net spend: the sum of its cards' (the group page's figure)."""
    return sum(net_spend_by_member(session, _group_member_ids(session, group_id), today=today).values())


@dataclass(frozen=True)
class Qualified:
    own: Tier | None
    group: Tier | None

    @property
    def best(self) -> Tier | None:
        return self.own if _rank(self.own) >= _rank(self.group) else self.group


def qualified_tier(session: Session, member: Member, *, today: date, tiers: list[Tier] | None = None,
                   spend_fen: int | None = None) -> Qualified:
    """The tiers a member's own spend (``spend_fen`` when the caller knows it) and their
    group's spend reach as of ``today``."""
    tiers = members.tiers_by_rank(session) if tiers is None else tiers
    if spend_fen is None:
        spend_fen = net_spend_by_member(session, [member.id], today=today)[member.id]
    own = tier_for_spend(tiers, spend_fen)
    group = tier_for_spend(tiers, group_spend(session, member.group_id, today=today)) if member.group_id else None
    return Qualified(own, group)


def after_purchase(session: Session, member: Member, *, today: date, at: datetime,
                   transaction_id: int, spend_fen: int | None = None) -> list[Member]:
    """Raise the buyer (and, for a group account, every card of the group) to the tier the
    spend now reaches; never lowers anyone. Returns the members whose tier went up.
    ``spend_fen``: the buyer's rolling 12-month net spend with this purchase, when the
    caller already knows it (the till reads it with the member's facts)."""
    tiers = cache.cached_tiers(session)     # the worker's read-only copies; attached only to raise
    if not tiers:
        return []
    reached = qualified_tier(session, member, today=today, tiers=tiers, spend_fen=spend_fen)
    raised = []
    if _raise(session, member, reached.best, tiers, source="spend" if reached.best is reached.own else "group",
              at=at, transaction_id=transaction_id):
        raised.append(member)
    if member.group_id and reached.group is not None:
        for mate in session.scalars(select(Member).where(Member.group_id == member.group_id, Member.id != member.id,
                                                         Member.status == "active")):
            if _raise(session, mate, reached.group, tiers, source="group", at=at, transaction_id=transaction_id):
                raised.append(mate)
    return raised


def _raise(session: Session, member: Member, tier: Tier | None, tiers: list[Tier], *, source: str,
           at: datetime, transaction_id: int | None) -> bool:
    current = next((t for t in tiers if t.id == member.tier_id), None)
    if tier is None or _rank(tier) <= _rank(current):
        return False
    reason = N_("group spend reached the threshold") if source == "group" else N_("12-month spend reached the threshold")
    members.set_tier(session, member, cache.attach(session, tier), source=source, reason=reason,
                     transaction_id=transaction_id, at=at)
    return True


def review_month_end(session: Session, member: Member, *, month_end: date, at: datetime, tz: ZoneInfo,
                     tiers: list[Tier] | None = None) -> bool:
    """At the end of ``month_end``'s month: set the tier the spend reached by that day
    (down as well as up) unless a staff hold runs past it, or the tier was set after the
    month closed (a purchase, staff or a rule: that already knew later spend). True when
    the tier changed."""
    tiers = members.tiers_by_rank(session) if tiers is None else tiers
    if not tiers or (member.tier_until is not None and member.tier_until > month_end):
        return False
    closed = to_utc_naive(datetime.combine(month_end + timedelta(days=1), time(0), tz))
    if session.scalar(select(MemberChange.id).where(
            MemberChange.member_id == member.id, MemberChange.field == "tier", MemberChange.at >= closed,
            MemberChange.source.in_(("spend", "group", "staff", "rule"))).limit(1)) is not None:
        return False
    reached = qualified_tier(session, member, today=month_end, tiers=tiers)
    current = next((t for t in tiers if t.id == member.tier_id), None)
    if reached.best is None or reached.best.id == (current.id if current else None):
        return False
    down = _rank(reached.best) < _rank(current)
    reason = (N_("12-month spend at month end is below the threshold") if down
              else N_("12-month spend at month end reached the threshold"))
    members.set_tier(session, member, reached.best, source="month_end", reason=reason, at=at)
    return True


def end_hold(session: Session, member: Member, *, today: date, at: datetime, tz: ZoneInfo) -> bool:
    """A staff hold ran out (``tier_until`` before today): clear it and review the member
    as of yesterday, the hold's last day. True when the tier changed."""
    if member.tier_until is None or member.tier_until >= today:
        return False
    members.record_change(session, member, "tier_until", member.tier_until, None, source="month_end",
                          reason=N_("the tier hold ended"), at=at)
    member.tier_until = None
    return review_month_end(session, member, month_end=today - timedelta(days=1), at=at, tz=tz)


def last_month_end(today: date) -> date:
    """The last day of the month before ``today``'s."""
    return today.replace(day=1) - timedelta(days=1)


def month_ends_between(first: date, last: date) -> list[date]:
    """The month ends after ``first`` up to ``last`` (both month ends), oldest first."""
    ends, day = [], add_months(first, 1, to_month_end=True)
    while day <= last:
        ends.append(day)
        day = add_months(day, 1, to_month_end=True)
    return ends


def members_with_tiers_due(session: Session, *, after_id: int = 0, limit: int = 500) -> list[int]:
    return list(session.scalars(select(Member.id).where(Member.id > after_id, Member.status != "cancelled")
                                .order_by(Member.id).limit(limit)))


def holds_ended(session: Session, today: date) -> list[int]:
    return list(session.scalars(select(Member.id).where(Member.tier_until.is_not(None), Member.tier_until < today)
                                .order_by(Member.id)))
