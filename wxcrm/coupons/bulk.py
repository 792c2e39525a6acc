"""One coupon of a template to each of many members at once (a greeting, a campaign),
set-based: for 100,000 members a few statements, not one ORM object or one round trip
per member.

Idempotent per (``ref``, member): each coupon's ``source_ref`` is ``{ref}:m{member_id}``
(unique), and a member who already holds the coupon of this ``ref`` gets none more. The
template's stock and per-member limit hold: they are counted under the template's row
lock, taken after the members' rows (the order every issuer locks in), so a till issuing
the same template at the same moment neither oversells nor deadlocks. When the stock runs
out part-way, the members first in id order get the coupons left and the rest none.

The coupons go in with multi-row INSERTs whose varying values (a code from ``codes``, a
member id, the source ref) are written into the statement, which is safe because each is
checked to be a plain integer or made of a short safe alphabet; nothing is escaped per
member.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import bindparam, case, func, select, text, update
from sqlalchemy.orm import Session

from wxcrm.config import Settings
from wxcrm.coupons.codes import new_codes
from wxcrm.coupons.models import Coupon, CouponTemplate
from wxcrm.coupons.service import validity
from wxcrm.errors import DomainError, NotFound
from wxcrm.members.models import Member
from wxcrm.timeutil import business_date

SAFE_REF = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
SAFE_CODE = re.compile(r"^[0-9A-Z]{16}$")
LOCK_CHUNK = 5000
INSERT_CHUNK = 2000


@dataclass
class BulkIssue:
    """What ``issue_to_members`` did: ``issued`` new coupons; ``holders`` every member asked
    for who now holds this ref's coupon (issued now or before); the others and why."""
    issued: int = 0
    holders: list[int] = field(default_factory=list)
    out_of_stock: int = 0
    over_limit: int = 0
    not_active: int = 0
    template_off: bool = False      # inactive or past its last day: nobody got one


def source_ref(ref: str, member_id: int) -> str:
    return f"{ref}:m{member_id}"


def _chunks(ids: Sequence[int], size: int):
    for start in range(0, len(ids), size):
        yield list(ids[start:start + size])


def ref_pattern(ref: str) -> str:
    """A LIKE pattern (escape ``/``) for the source refs ``{ref}:m...``: ``_``, the only
    wildcard a safe ref may hold, is matched as itself."""
    if not SAFE_REF.match(ref or ""):
        raise DomainError("a bulk issue's ref is letters, digits and _.:-", code="coupon_bulk_ref")
    return ref.replace("_", "/_") + ":m%"


def ref_counts(session: Session, ref: str) -> dict[str, int]:
    """The coupons ``ref`` issued: how many, and how many are used."""
    issued, used = session.execute(select(func.count(), func.sum(case((Coupon.status == "used", 1), else_=0))).where(
        Coupon.source_ref.like(ref_pattern(ref), escape="/"))).one()
    return {"issued": int(issued or 0), "used": int(used or 0)}


def holders_of(session: Session, ref: str) -> set[int]:
    """The members holding the coupon ``ref`` issued (one indexed range of source refs)."""
    return set(session.scalars(select(Coupon.member_id).where(Coupon.source_ref.like(ref_pattern(ref), escape="/"))))


def issue_to_members(session: Session, settings: Settings, *, template_id: int, member_ids: Sequence[int], ref: str,
                     now: datetime, channel: str = "campaign", reason: str = "") -> BulkIssue:
    """Issue one coupon of ``template_id`` to each active member of ``member_ids`` who has
    not had this ``ref``'s yet, within the template's stock and per-member limit. The
    caller commits. No message is queued: the greeting or campaign that calls this names
    the coupon in its own message."""
    if not SAFE_REF.match(ref or ""):
        raise DomainError("a bulk issue's ref is letters, digits and _.:-", code="coupon_bulk_ref")
    if channel not in ("campaign", "rule", "manual"):
        raise DomainError("unknown channel", code="coupon_bulk_channel")
    wanted = sorted({int(m) for m in member_ids})
    result = BulkIssue()
    # 1. the members' rows, then the template's: the lock order of every issuer
    active: list[int] = []
    for chunk in _chunks(wanted, LOCK_CHUNK):
        active += session.scalars(select(Member.id).where(Member.id.in_(chunk), Member.status == "active")
                                  .order_by(Member.id).with_for_update())
    result.not_active = len(wanted) - len(active)
    tpl = session.scalar(select(CouponTemplate).where(CouponTemplate.id == template_id).with_for_update()
                         .execution_options(populate_existing=True))
    if tpl is None:
        raise NotFound(f"no coupon template {template_id}", code="coupon_template_not_found",
                       fields={"coupon_template_id": "unknown"})
    had = holders_of(session, ref)
    todo = [m for m in active if m not in had]
    today = business_date(settings.tz, now)
    start, end = validity(tpl, today)
    if not tpl.active or end < today or end < start:
        result.template_off = bool(todo)
        todo = []
    # 2. the per-member limit, counted under the template's lock
    if todo and tpl.per_member_limit is not None:
        full: set[int] = set()
        for chunk in _chunks(todo, LOCK_CHUNK):
            full |= set(session.scalars(
                select(Coupon.member_id).where(Coupon.template_id == tpl.id, Coupon.member_id.in_(chunk))
                .group_by(Coupon.member_id).having(func.count() >= tpl.per_member_limit)))
        result.over_limit = len(full)
        todo = [m for m in todo if m not in full]
    # 3. the stock: the first members in id order get what is left
    if todo and tpl.stock_total is not None:
        left = max(tpl.stock_total - (tpl.issued_count or 0), 0)
        result.out_of_stock = max(len(todo) - left, 0)
        todo = todo[:left]
    if todo:
        _insert(session, tpl.id, todo, ref, channel, reason or ref, start, end, now)
        session.execute(update(CouponTemplate).where(CouponTemplate.id == tpl.id)
                        .values(issued_count=CouponTemplate.issued_count + len(todo))
                        .execution_options(synchronize_session=False))
        for chunk in _chunks(todo, LOCK_CHUNK):
            session.execute(update(Member).where(Member.id.in_(chunk))
                            .values(coupons_held=Member.coupons_held + 1).execution_options(synchronize_session=False))
        session.expire(tpl, ["issued_count"])
        for mid in todo:
            loaded = session.identity_map.get(session.identity_key(Member, mid))
            if loaded is not None:
                session.expire(loaded, ["coupons_held"])
    result.issued = len(todo)
    asked = set(wanted)
    result.holders = sorted((had & asked) | set(todo))
    session.flush()
    return result


def _insert(session: Session, template_id: int, member_ids: list[int], ref: str, channel: str, reason: str,
            start: date, end: date, now: datetime) -> None:
    """Multi-row INSERTs: the per-member values written in (checked safe), the rest bound once."""
    codes = new_codes(len(member_ids))
    # SQLite repeats the bound values for each row (at most 32,766 a statement)
    size = INSERT_CHUNK if session.get_bind().dialect.name in ("mysql", "mariadb") else 400
    for offset in range(0, len(member_ids), size):
        rows = []
        for mid, code in zip(member_ids[offset:offset + size], codes[offset:offset + size]):
            mid = int(mid)
            if not SAFE_CODE.match(code):
                raise ValueError("unsafe coupon code")
            written = source_ref(ref, mid).replace(":", "\\:")     # a colon in text() starts a parameter
            rows.append(f"('{code}', {mid}, '{written}', :template_id, 'available', :channel, :reason, "
                        ":valid_from, :valid_until, :issued_at, 0, 0)")
        stmt = text("INSERT INTO coupons (code, member_id, source_ref, template_id, status, channel, reason, valid_from, "
                    "valid_until, issued_at, discount_fen, basket_fen) VALUES " + ", ".join(rows)).bindparams(
            bindparam("valid_from", type_=Coupon.__table__.c.valid_from.type),
            bindparam("valid_until", type_=Coupon.__table__.c.valid_until.type),
            bindparam("issued_at", type_=Coupon.__table__.c.issued_at.type))
        session.execute(stmt, {"template_id": template_id, "channel": channel, "reason": reason[:255],
                               "valid_from": start, "valid_until": end, "issued_at": now})
