"""One coupon of a template to each of many members at once (a greeting, a campaign),
set-based: for 100,000 members a few statements, not one ORM object or one round trip
per member.

Idempotent per (``ref``, member): each coupon's ``source_ref`` is ``{ref}:m{member_id}``
(unique), and a member who already holds the coupon of this ``ref`` gets none more. The
template's stock and per-member limit hold: they are counted under the template's row
lock, taken after the members' rows (the order every issuer locks in), so a till issuing
the same template at the same moment neither oversells nor deadlocks. When the stock runs
out part-way, the members first in id order get the coupons left and the rest none.

The coupons go in with multi-row INSERTs written out whole (a code from ``codes``, a member
id, the source ref, the template's values), which is safe because each value is checked to
be an integer, a date, or made of a short safe alphabet; nothing is bound or escaped per
member.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from wxcrm.config import Settings
from wxcrm.coupons.codes import new_codes
from wxcrm.coupons.models import Coupon, CouponTemplate
from wxcrm.coupons.service import validity
from wxcrm.errors import DomainError, NotFound
from wxcrm.members.models import Member
from wxcrm.sqlutil import ids_in
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


def holders_of(session: Session, ref: str, member_ids: Sequence[int] | None = None) -> set[int]:
    """The members (of ``member_ids``, or all) holding the coupon ``ref`` issued."""
    stmt = select(Coupon.member_id).where(Coupon.source_ref.like(ref_pattern(ref), escape="/"))
    if member_ids is None:
        return set(session.connection().scalars(stmt))
    found: set[int] = set()
    for chunk in _chunks(list(member_ids), LOCK_CHUNK):
        found |= set(session.connection().scalars(stmt.where(ids_in(Coupon.member_id, chunk))))
    return found


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
        active += session.connection().scalars(select(Member.id).where(ids_in(Member.id, chunk),
                                                                        Member.status == "active")
                                               .order_by(Member.id).with_for_update())
    result.not_active = len(wanted) - len(active)
    tpl = session.scalar(select(CouponTemplate).where(CouponTemplate.id == template_id).with_for_update()
                         .execution_options(populate_existing=True))
    if tpl is None:
        raise NotFound(f"no coupon template {template_id}", code="coupon_template_not_found",
                       fields={"coupon_template_id": "unknown"})
    had = holders_of(session, ref, wanted)
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
                select(Coupon.member_id).where(Coupon.template_id == tpl.id, ids_in(Coupon.member_id, chunk))
                .group_by(Coupon.member_id).having(func.count() >= tpl.per_member_limit)))
        result.over_limit = len(full)
        todo = [m for m in todo if m not in full]
    # 3. the stock: the first members in id order get what is left
    if todo and tpl.stock_total is not None:
        left = max(tpl.stock_total - (tpl.issued_count or 0), 0)
        result.out_of_stock = max(len(todo) - left, 0)
        todo = todo[:left]
    if todo:
        _insert(session, tpl.id, todo, ref, channel, reason if SAFE_REF.match(reason or "") else ref, start, end,
                now)
        session.execute(update(CouponTemplate).where(CouponTemplate.id == tpl.id)
                        .values(issued_count=CouponTemplate.issued_count + len(todo))
                        .execution_options(synchronize_session=False))
        for chunk in _chunks(todo, LOCK_CHUNK):
            session.execute(update(Member).where(ids_in(Member.id, chunk))
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
    """Multi-row INSERTs written out whole and sent as they are (no parameter at all): every
    value is an integer, a date, or text checked to be of a safe alphabet."""
    for value in (ref, channel, reason):
        if not SAFE_REF.match(value):
            raise ValueError(f"unsafe value for a written-out INSERT: {value!r}")
    same = (f"{int(template_id)}, 'available', '{channel}', '{reason}', '{start.isoformat()}', "
            f"'{end.isoformat()}', '{now.isoformat(sep=' ', timespec='microseconds')}', 0, 0")
    head = ("INSERT INTO coupons (code, member_id, source_ref, template_id, status, channel, reason, valid_from, "
            "valid_until, issued_at, discount_fen, basket_fen) VALUES ")
    codes = new_codes(len(member_ids))
    conn = session.connection()
    for offset in range(0, len(member_ids), INSERT_CHUNK):
        rows = []
        for mid, code in zip(member_ids[offset:offset + INSERT_CHUNK], codes[offset:offset + INSERT_CHUNK]):
            if not SAFE_CODE.match(code):
                raise ValueError("unsafe coupon code")
            mid = int(mid)
            rows.append(f"('{code}', {mid}, '{ref}:m{mid}', {same})")
        conn.exec_driver_sql(head + ", ".join(rows))
