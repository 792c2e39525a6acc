"""Who buys, when, where and what: breakdowns and pivots read from the rollups, with the
previous period beside; drill-downs to the members and transactions behind a figure, read
from the raw tables.

A dimension is one of :data:`DIMENSIONS`. Time, store and tier are keys of every rollup
row; member attributes, the hour and the goods are rollup values (``dim``/``value``), so one
query answers a breakdown by any of them, filtered by days, stores and tiers. Distinct
buying members are not additive across days: the ``members`` measure reads the buyer days
(one row per member, store and day, with the member's previous day), see ``distinct_buyers``.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, case, distinct, exists, extract, func, or_, select
from sqlalchemy.orm import Session

from wxcrm.analytics.models import ANY_STORE, BuyerDay, BuyerDayCount, MemberSummary, SalesDaily
from wxcrm.analytics.rollup import AGE_BANDS, MONTHLY
from wxcrm.config import Settings
from wxcrm.coupons.models import Coupon
from wxcrm.errors import N_, DomainError
from wxcrm.members.models import Member, Store
from wxcrm.sales.models import Transaction, TransactionItem, TransactionPayment
from wxcrm.timeutil import to_utc_naive

TIME_DIMS = ("day", "week", "month", "weekday")
DAILY_DIMS = ("day", "week", "weekday")   # need the daily rows; a month is a month's first day either way
KEY_DIMS = TIME_DIMS + ("store", "store_kind", "tier")
VALUE_DIMS = ("hour", "gender", "age", "district", "occupation", "education", "income", "group", "category", "sku")
MEMBER_DIMS = ("gender", "age", "district", "occupation", "education", "income", "group")
DIMENSIONS = KEY_DIMS + VALUE_DIMS
MEASURES = ("spend", "visits", "basket", "members", "qty", "points_earned", "points_redeemed", "coupons",
            "stored_value")
# Measures read from the raw rows of the range (coupons used on the sales; stored value paid, net of refunds).
RAW_MEASURES = ("members", "coupons", "stored_value")
# Measures the rollups hold (members: distinct buyers, counted on the raw rows).
ROLLUP_MEASURES = ("spend", "visits", "basket", "qty", "points_earned", "points_redeemed")
MAX_RANGE_DAYS = 3 * 366


@dataclass(frozen=True)
class Filters:
    start: date
    end: date
    store_ids: tuple[int, ...] = ()
    tier_ids: tuple[int, ...] = ()
    segment_id: int | None = None   # only the members of this saved segment (read from the raw rows)
    # The merchant's settings, for the reports that need its time zone or its owners (coupons, settlement).
    settings: Settings | None = field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise DomainError(N_("the end date is before the start date"), code="bad_range")
        if (self.end - self.start).days > MAX_RANGE_DAYS:
            raise DomainError(N_("the date range may be at most three years"), code="range_too_long")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Filters":
        """The same number of days just before."""
        return replace(self, start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1))


def _measures(row) -> dict[str, int]:
    purchases, refunds, gross, refund, qty, earned, redeemed = (int(v or 0) for v in row)
    spend = gross - refund
    return {"spend": spend, "visits": purchases, "refunds": refunds, "basket": spend // purchases if purchases else 0,
            "qty": qty, "points_earned": earned, "points_redeemed": redeemed}


def _sums():
    return (func.sum(SalesDaily.purchases), func.sum(SalesDaily.refunds), func.sum(SalesDaily.gross_fen),
            func.sum(SalesDaily.refund_fen), func.sum(SalesDaily.qty), func.sum(SalesDaily.points_earned),
            func.sum(SalesDaily.points_redeemed))


def whole_months(f: Filters) -> tuple[date, date] | None:
    """The first days of the first and last whole months inside the range, if any."""
    first = f.start if f.start.day == 1 else (f.start.replace(day=28) + timedelta(days=4)).replace(day=1)
    # ``after``: the first day after the last whole month.
    if (f.end + timedelta(days=1)).day == 1:
        after = f.end + timedelta(days=1)
    else:
        after = f.end.replace(day=1)
    if first >= after:
        return None
    last = (after - timedelta(days=1)).replace(day=1)
    return first, last


def rollup_rows(session: Session, q, f: Filters, dim: str, *group_by, daily: bool = False) -> list:
    """The rollup rows of ``dim`` for the range, grouped by ``group_by``: whole months from the
    monthly rows, the days before and after them from the daily rows (``daily``: every day from
    the daily rows). One query per part, each a plain index range (an OR of ranges is not
    always read as one); the caller adds the parts' rows up by key."""
    months = None if daily else whole_months(f)
    if months is None:
        parts = [(dim, f.start, f.end)]
    else:
        first, last = months
        month_end = (last.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        parts = [(MONTHLY + dim, first, last)]
        if f.start < first:
            parts.append((dim, f.start, first - timedelta(days=1)))
        if month_end < f.end:
            parts.append((dim, month_end + timedelta(days=1), f.end))
    rows = []
    for part_dim, a, b in parts:
        part = q.where(SalesDaily.dim == part_dim, SalesDaily.business_date >= a, SalesDaily.business_date <= b)
        if f.store_ids:
            part = part.where(SalesDaily.store_id.in_(f.store_ids))
        if f.tier_ids:
            part = part.where(SalesDaily.tier_id.in_(f.tier_ids))
        if group_by:
            part = part.group_by(*group_by)
        rows.extend(session.execute(part).all())
    return rows


def time_key(dim: str, day: date) -> str:
    if dim == "day":
        return day.isoformat()
    if dim == "week":
        return (day - timedelta(days=day.weekday())).isoformat()  # the week's Monday
    if dim == "month":
        return day.strftime("%Y-%m")
    return str(day.weekday())  # weekday: 0 Monday .. 6 Sunday


def _key_column(dim: str):
    if dim in TIME_DIMS:
        return SalesDaily.business_date
    if dim in ("store", "store_kind"):
        return SalesDaily.store_id
    if dim == "tier":
        return SalesDaily.tier_id
    return SalesDaily.value


def _key_mapper(session: Session, dim: str):
    if dim in TIME_DIMS:
        return lambda v: time_key(dim, v)
    if dim == "store_kind":
        kinds = dict(session.execute(select(Store.id, Store.kind)).all())
        return lambda v: kinds.get(v, "")
    return lambda v: str(v)


def _add(target: dict, measures: dict) -> None:
    for k, v in measures.items():
        if k != "basket":
            target[k] = target.get(k, 0) + v
    target["basket"] = target["spend"] // target["visits"] if target.get("visits") else 0


def breakdown(session: Session, f: Filters, dim: str) -> dict[str, dict[str, int]]:
    """Each value of ``dim`` with its measures over the filtered days, from the rollup."""
    if dim not in DIMENSIONS:
        raise DomainError(N_("unknown dimension"), code="bad_dimension")
    if f.segment_id is not None:
        return _raw_breakdown(session, f, dim)
    rollup_dim = dim if dim in VALUE_DIMS else "all"
    col = _key_column(dim)
    mapper = _key_mapper(session, dim)
    out: dict[str, dict[str, int]] = {}
    for row in rollup_rows(session, select(col, *_sums()), f, rollup_dim, col, daily=dim in DAILY_DIMS):
        _add(out.setdefault(mapper(row[0]), {}), _measures(row[1:]))
    return out


def totals(session: Session, f: Filters) -> dict[str, int]:
    if f.segment_id is not None:
        return _raw_totals(session, f)
    parts = rollup_rows(session, select(*_sums()), f, "all")
    figures = _measures([sum(int(part[i] or 0) for part in parts) for i in range(7)])
    figures["members"] = distinct_buyers(session, f)
    return figures


def distinct_buyers(session: Session, f: Filters) -> int:
    """Members who bought in the range, each once, from the buyer days: without filters (or
    with one store) the buyer-day counts of the range's days whose previous day is before the
    range (each member's first day in it); with several stores or tiers the members of the
    range's buyer days, de-duplicated."""
    if not f.tier_ids and len(f.store_ids) <= 1:
        return int(session.scalar(select(func.sum(BuyerDayCount.n)).where(
            BuyerDayCount.store_id == (f.store_ids[0] if f.store_ids else ANY_STORE),
            BuyerDayCount.business_date >= f.start, BuyerDayCount.business_date <= f.end,
            BuyerDayCount.prev_date < f.start)) or 0)
    q = select(func.count(distinct(BuyerDay.member_id))).where(BuyerDay.business_date >= f.start,
                                                               BuyerDay.business_date <= f.end)
    if f.store_ids:
        q = q.where(BuyerDay.store_id.in_(f.store_ids))
    if f.tier_ids:
        q = q.where(BuyerDay.tier_id.in_(f.tier_ids))
    return int(session.scalar(q) or 0)


def with_previous(session: Session, f: Filters, dim: str) -> list[dict]:
    """A breakdown with the previous period beside: [{key, now: {...}, before: {...}}]."""
    now, before = breakdown(session, f, dim), breakdown(session, f.previous(), dim)
    if dim in ("day", "week", "month"):
        # Line the previous period up by position: its first day beside this period's first day.
        keys = sorted(now)
        prev_keys = sorted(before)
        return [{"key": k, "now": now[k], "before": before[prev_keys[i]] if i < len(prev_keys) else {}}
                for i, k in enumerate(keys)]
    keys = sorted(set(now) | set(before), key=lambda k: -now.get(k, {}).get("spend", 0))
    return [{"key": k, "now": now.get(k, {}), "before": before.get(k, {})} for k in keys]


# ------------------------------------------------------------------ pivot

def pivot(session: Session, f: Filters, dim1: str, dim2: str | None, measure: str) -> dict[tuple[str, str], int]:
    """``measure`` per (value of dim1, value of dim2 or ""), from the rollup where one rollup
    row holds both dimensions, else (two member attributes, or distinct members) from the raw
    rows for the days asked."""
    if dim1 not in DIMENSIONS or (dim2 and dim2 not in DIMENSIONS) or dim1 == dim2:
        raise DomainError(N_("pick one or two different dimensions"), code="bad_dimension")
    if measure not in MEASURES:
        raise DomainError(N_("unknown measure"), code="bad_measure")
    dims = [dim1] + ([dim2] if dim2 else [])
    value_dims = [d for d in dims if d in VALUE_DIMS]
    if measure not in RAW_MEASURES and len(value_dims) <= 1 and f.segment_id is None:
        return _pivot_rollup(session, f, dims, measure, value_dims[0] if value_dims else "all")
    return _pivot_raw(session, f, dims, measure)


def _pivot_rollup(session, f, dims, measure, rollup_dim) -> dict[tuple[str, str], int]:
    cols = [_key_column(d) for d in dims]
    distinct_cols = list(dict.fromkeys(cols))
    mappers = [_key_mapper(session, d) for d in dims]
    cells: dict[tuple[str, str], dict] = defaultdict(dict)
    for row in rollup_rows(session, select(*distinct_cols, *_sums()), f, rollup_dim, *distinct_cols,
                           daily=any(d in DAILY_DIMS for d in dims)):
        by_col = dict(zip(distinct_cols, row[:len(distinct_cols)]))
        key = tuple(m(by_col[c]) for m, c in zip(mappers, cols))
        _add(cells[key if len(key) == 2 else (key[0], "")], _measures(row[len(distinct_cols):]))
    return {k: v[measure] for k, v in cells.items()}


def _age_expr():
    age = extract("year", Transaction.business_date) - extract("year", Member.birthday)
    return case(*[(and_(age >= lo, age <= hi), label) for lo, hi, label in AGE_BANDS], else_="")


RAW_DIMS = ("day", "month", "store", "store_kind", "tier") + MEMBER_DIMS


def _raw_expr(dim: str):
    return {
        "day": Transaction.business_date,
        "month": extract("year", Transaction.business_date) * 100 + extract("month", Transaction.business_date),
        "store": Transaction.store_id, "store_kind": Store.kind, "tier": func.coalesce(Member.tier_id, 0),
        "gender": Member.gender, "age": _age_expr(), "district": Member.district, "occupation": Member.occupation,
        "education": Member.education, "income": Member.income_band, "group": func.coalesce(Member.group_id, ""),
    }[dim]


def _raw_key(dim: str, v) -> str:
    if dim == "day":
        return v.isoformat() if isinstance(v, date) else str(v)
    if dim == "month":
        return f"{int(v) // 100:04d}-{int(v) % 100:02d}"
    if dim == "age":
        return v or ""
    return "" if v is None else str(v)


def _pivot_raw(session, f, dims, measure) -> dict[tuple[str, str], int]:
    bad = [d for d in dims if d not in RAW_DIMS]
    if bad:
        raise DomainError(N_("this combination is not available: pick member attributes, day, month, store or tier"),
                          code="bad_dimension")
    exprs = [_raw_expr(d) for d in dims]
    is_purchase = case((Transaction.kind == "purchase", 1), else_=0)
    sign = case((Transaction.kind == "refund", -Transaction.payable_fen), else_=Transaction.payable_fen)
    value = {
        "members": func.count(distinct(case((Transaction.kind == "purchase", Transaction.member_id)))),
        "spend": func.sum(sign), "visits": func.sum(is_purchase),
        "points_earned": func.sum(Transaction.points_earned), "points_redeemed": func.sum(Transaction.points_redeemed),
        "coupons": func.count(Coupon.id),
        "stored_value": func.sum(case((Transaction.kind == "refund", -TransactionPayment.amount_fen),
                                      else_=TransactionPayment.amount_fen)),
    }.get(measure)
    if measure == "basket":
        q = select(*exprs, func.sum(sign), func.sum(is_purchase))
    elif measure == "qty":
        raise DomainError(N_("this combination is not available: pick member attributes, day, month, store or tier"),
                          code="bad_dimension")
    else:
        q = select(*exprs, value)
    q = q.select_from(Transaction).join(Member, Member.id == Transaction.member_id,
                                        isouter=not any(d in MEMBER_DIMS or d == "tier" for d in dims))
    if measure == "coupons":
        q = q.join(Coupon, Coupon.used_transaction_id == Transaction.id)
    elif measure == "stored_value":
        q = q.join(TransactionPayment, and_(TransactionPayment.transaction_id == Transaction.id,
                                            TransactionPayment.method == "stored_value"))
    if "store_kind" in dims:
        q = q.join(Store, Store.id == Transaction.store_id)
    q = _raw_filters(q, f).group_by(*exprs)
    out = {}
    for row in session.execute(q):
        key = tuple(_raw_key(d, v) for d, v in zip(dims, row[:len(dims)]))
        if measure == "basket":
            out[key if len(key) == 2 else (key[0], "")] = int(row[-2] or 0) // int(row[-1]) if row[-1] else 0
        else:
            out[key if len(key) == 2 else (key[0], "")] = int(row[-1] or 0)
    return out


def _raw_filters(q, f: Filters):
    q = q.where(Transaction.business_date >= f.start, Transaction.business_date <= f.end)
    if f.store_ids:
        q = q.where(Transaction.store_id.in_(f.store_ids))
    if f.tier_ids:
        q = q.where(Member.tier_id.in_(f.tier_ids))
    if f.segment_id is not None:
        q = q.where(Transaction.member_id.in_(segment_members(f)))
    return q


def segment_members(f: Filters):
    """The ids of the segment's members today (as its campaigns see them), as a subquery."""
    from wxcrm.campaigns import segments
    from wxcrm.campaigns.models import Segment
    from wxcrm.extensions import db
    seg = db.session.get(Segment, f.segment_id)
    if seg is None:
        raise DomainError(N_("no such segment"), code="segment_not_found")
    return segments.member_ids_query(db.session, seg.filters, f.end)


def _raw_dim(session: Session, dim: str, tz):
    """A breakdown's grouping over the raw rows, and how its values become keys."""
    if dim in TIME_DIMS:
        return Transaction.business_date, lambda v: time_key(dim, v if isinstance(v, date) else
                                                             date.fromisoformat(str(v)[:10]))
    if dim == "hour":
        return _local_hour_expr(tz), lambda v: str(int(v))
    if dim in ("store", "store_kind"):
        return Transaction.store_id, _key_mapper(session, dim)
    if dim in ("category", "sku"):
        return (TransactionItem.category if dim == "category" else TransactionItem.sku), lambda v: v or ""
    return _raw_expr(dim), lambda v: _raw_key(dim, v)


def _raw_breakdown(session: Session, f: Filters, dim: str) -> dict[str, dict[str, int]]:
    """A breakdown from the raw rows of the range (a segment's members: no rollup knows them)."""
    _DialectExpr.dialect = session.get_bind().dialect.name
    tz = f.settings.tz if f.settings else None
    if dim == "hour" and tz is None:
        raise DomainError(N_("unknown dimension"), code="bad_dimension")
    expr, key = _raw_dim(session, dim, tz)
    purchase = Transaction.kind == "purchase"
    sign = case((purchase, 1), else_=-1)
    out: dict[str, dict[str, int]] = {}
    base = select().select_from(Transaction).join(Member, Member.id == Transaction.member_id)
    if dim in ("category", "sku"):
        net = TransactionItem.amount_fen - TransactionItem.discount_fen
        q = base.add_columns(
            expr, func.count(distinct(case((purchase, Transaction.id)))),
            func.count(distinct(case((~purchase, Transaction.id)))),
            func.sum(case((purchase, net), else_=0)), func.sum(case((purchase, 0), else_=net)),
            func.sum(sign * TransactionItem.qty), literal_zero(), literal_zero()
        ).join(TransactionItem, TransactionItem.transaction_id == Transaction.id)
        rows = session.execute(_raw_filters(q, f).group_by(expr)).all()
        for row in rows:
            _add(out.setdefault(key(row[0]), {}), _measures(row[1:]))
        return out
    q = base.add_columns(expr, func.sum(case((purchase, 1), else_=0)), func.sum(case((purchase, 0), else_=1)),
                         func.sum(case((purchase, Transaction.payable_fen), else_=0)),
                         func.sum(case((purchase, 0), else_=Transaction.payable_fen)), literal_zero(),
                         func.sum(Transaction.points_earned), func.sum(Transaction.points_redeemed))
    qty = dict(session.execute(_raw_filters(
        base.add_columns(expr, func.sum(sign * TransactionItem.qty))
        .join(TransactionItem, TransactionItem.transaction_id == Transaction.id), f).group_by(expr)).all())
    for row in session.execute(_raw_filters(q, f).group_by(expr)).all():
        measures = _measures(row[1:])
        measures["qty"] = int(qty.get(row[0]) or 0)
        _add(out.setdefault(key(row[0]), {}), measures)
    return out


def literal_zero():
    from sqlalchemy import literal
    return literal(0)


def _raw_totals(session: Session, f: Filters) -> dict[str, int]:
    figures: dict[str, int] = {}
    for measures in _raw_breakdown(session, f, "month").values():
        _add(figures, measures)
    if not figures:
        figures = _measures([0] * 7)
    purchase = Transaction.kind == "purchase"
    q = select(func.count(distinct(case((purchase, Transaction.member_id))))).select_from(Transaction).join(
        Member, Member.id == Transaction.member_id)
    figures["members"] = int(session.scalar(_raw_filters(q, f)) or 0)
    return figures


# ------------------------------------------------------------------ drill-down

def _cell_condition(dim: str, value: str, tz):
    """The raw rows behind one value of a dimension, as a condition on transactions joined to
    members and stores (the rollup's rules: hours and business dates in the merchant's zone)."""
    if dim == "day":
        return Transaction.business_date == date.fromisoformat(value)
    if dim == "week":
        monday = date.fromisoformat(value)
        return Transaction.business_date.between(monday, monday + timedelta(days=6))
    if dim == "month":
        first = date.fromisoformat(value + "-01")
        nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        return and_(Transaction.business_date >= first, Transaction.business_date < nxt)
    if dim == "weekday":
        return _weekday_expr() == int(value)
    if dim == "hour":
        return _local_hour_expr(tz) == int(value)
    if dim == "store":
        return Transaction.store_id == int(value)
    if dim == "store_kind":
        return Transaction.store_id.in_(select(Store.id).where(Store.kind == value))
    if dim == "tier":
        return or_(Member.tier_id == int(value), Member.id.is_(None)) if value == "0" else Member.tier_id == int(value)
    if dim == "age":
        return _age_expr() == value if value else Member.birthday.is_(None)
    if dim == "group":
        return Member.group_id == int(value) if value else Member.group_id.is_(None)
    if dim in ("category", "sku"):
        col = TransactionItem.category if dim == "category" else TransactionItem.sku
        return exists().where(TransactionItem.transaction_id == Transaction.id, col == value)
    col = {"gender": Member.gender, "district": Member.district, "occupation": Member.occupation,
           "education": Member.education, "income": Member.income_band}[dim]
    return col == value


def _weekday_expr():
    """0 Monday .. 6 Sunday, on SQLite and MySQL alike."""
    return _dialect_expr(sqlite=(func.strftime("%w", Transaction.business_date).cast(_int()) + 6) % 7,
                         mysql=func.weekday(Transaction.business_date))


def _local_hour_expr(tz):
    offset_hours = int(datetime.now(tz).utcoffset().total_seconds() // 3600)
    return _dialect_expr(sqlite=(func.strftime("%H", Transaction.created_at).cast(_int()) + offset_hours) % 24,
                         mysql=(func.hour(Transaction.created_at) + offset_hours) % 24)


def _int():
    from sqlalchemy import Integer
    return Integer()


class _DialectExpr:
    dialect = "sqlite"


def _dialect_expr(*, sqlite, mysql):
    return mysql if _DialectExpr.dialect in ("mysql", "mariadb") else sqlite


@dataclass
class Drill:
    members: list[tuple]       # (Member, purchases, spend) in the cell
    transactions: list[Transaction]
    member_count: int


def drill_down(session: Session, f: Filters, cell: dict[str, str], tz, *, limit: int = 100) -> Drill:
    """The members and the transactions behind a figure: ``cell`` maps dimensions to values."""
    _DialectExpr.dialect = session.get_bind().dialect.name
    for dim in cell:
        if dim not in DIMENSIONS:
            raise DomainError(N_("unknown dimension"), code="bad_dimension")
    try:
        conditions = [_cell_condition(d, v, tz) for d, v in cell.items()]
    except ValueError:
        raise DomainError(N_("unknown dimension"), code="bad_dimension") from None
    member_dims = any(d in MEMBER_DIMS or d == "tier" for d in cell)

    def base(q):
        q = q.select_from(Transaction).join(Member, Member.id == Transaction.member_id, isouter=not member_dims)
        return _raw_filters(q, f).where(*conditions)

    sign = case((Transaction.kind == "refund", -Transaction.payable_fen), else_=Transaction.payable_fen)
    per_member = base(select(Transaction.member_id, func.sum(case((Transaction.kind == "purchase", 1), else_=0)),
                             func.sum(sign)).where(Transaction.member_id.is_not(None))).group_by(
        Transaction.member_id)
    rows = session.execute(per_member.order_by(func.sum(sign).desc()).limit(limit)).all()
    count = session.scalar(select(func.count()).select_from(per_member.subquery()))
    by_id = {m.id: m for m in session.scalars(select(Member).where(Member.id.in_([r[0] for r in rows])))}
    txns = list(session.scalars(base(select(Transaction)).order_by(Transaction.id.desc()).limit(limit)))
    return Drill([(by_id[r[0]], int(r[1] or 0), int(r[2] or 0)) for r in rows if r[0] in by_id], txns, int(count or 0))


# ------------------------------------------------------------------ RFM

RFM_SEGMENTS = ("champions", "loyal", "potential", "new", "at_risk", "cant_lose", "hibernating", "lost")


def rfm(session: Session, today: date) -> dict[str, int]:
    """Every buying member in one of eight RFM segments: recency, frequency and monetary value
    each above or below the median of all buying members. Read from the member summary rollup
    and classified in the database: three medians, then one grouped count."""
    buyers = select(MemberSummary).where(MemberSummary.purchases > 0).subquery()
    n = int(session.scalar(select(func.count()).select_from(buyers)) or 0)
    counts = dict.fromkeys(RFM_SEGMENTS, 0)
    if not n:
        return counts

    def median(col, descending: bool = False):
        order = col.desc() if descending else col
        return session.scalar(select(col).where(MemberSummary.purchases > 0).order_by(order).offset(n // 2).limit(1))

    last_median = median(MemberSummary.last_date, descending=True)   # recency: days since, ascending
    f_median, m_median = median(MemberSummary.purchases), median(MemberSummary.net_fen)
    recent = case((MemberSummary.last_date >= last_median, 1), else_=0)
    frequent = case((MemberSummary.purchases > f_median, 1), else_=0)
    valuable = case((MemberSummary.net_fen > m_median, 1), else_=0)
    names = {(1, 1, 1): "champions", (1, 1, 0): "loyal", (1, 0, 1): "potential", (1, 0, 0): "new",
             (0, 1, 1): "cant_lose", (0, 1, 0): "at_risk", (0, 0, 1): "hibernating", (0, 0, 0): "lost"}
    for r, f_, m, count in session.execute(select(recent, frequent, valuable, func.count())
                                           .where(MemberSummary.purchases > 0).group_by(recent, frequent, valuable)):
        counts[names[(int(r), int(f_), int(m))]] += int(count)
    return counts


def local_range_bounds(f: Filters, tz) -> tuple[datetime, datetime]:
    """The filtered days as UTC instants (start inclusive, end exclusive)."""
    return (to_utc_naive(datetime.combine(f.start, time(0), tz)),
            to_utc_naive(datetime.combine(f.end + timedelta(days=1), time(0), tz)))
