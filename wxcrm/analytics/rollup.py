"""Keeping the rollups current: read the raw rows past the watermark, add them up per cell,
add the sums into the rollup rows, move the watermark, all in the caller's transaction.

Runs as the ``analytics-rollup`` job (never inside a purchase, which stays as fast as it
was). Transactions and ledger entries are append-only (a refund is a row of its own), so
what was rolled up never changes; an id allocated by a sale that has not committed yet could
be passed by the watermark, so a batch stops at the first row recorded less than
``lag_seconds`` ago and picks it up on the next run.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from wxcrm.analytics.models import NO_DATE, BuyerDay, LedgerDaily, MemberSummary, SalesDaily, Watermark
from wxcrm.config import Settings
from wxcrm.sqlutil import ROWS_PER_STATEMENT, insert_missing, mysql_values
from wxcrm.timeutil import to_local, utcnow

BATCH = 20_000
MEASURES = ("purchases", "refunds", "gross_fen", "refund_fen", "qty", "points_earned", "points_redeemed",
            "member_purchases")
SALES_KEY = ("dim", "business_date", "store_id", "tier_id", "value")
MONTHLY = "m:"   # a rollup row's dim prefix for a whole month's sums
MEMBER_DIMS = ("gender", "age", "district", "occupation", "education", "income", "group")
ITEM_DIMS = ("category", "sku")
# Age on the business date by years of birth (the same rule the drill-down's SQL uses).
AGE_BANDS = ((0, 17, "<18"), (18, 24, "18-24"), (25, 34, "25-34"), (35, 44, "35-44"), (45, 54, "45-54"),
             (55, 200, "55+"))


class _Sale(NamedTuple):
    id: int
    kind: str
    store_id: int
    member_id: int | None
    business_date: date
    created_at: datetime
    recorded_at: datetime | None
    payable_fen: int
    points_earned: int
    points_redeemed: int
    tier_id: int | None
    gender: str | None
    birthday: date | None
    district: str | None
    occupation: str | None
    education: str | None
    income_band: str | None
    group_id: int | None


class _Line(NamedTuple):
    transaction_id: int
    category: str
    sku: str
    qty: int
    amount_fen: int
    discount_fen: int


def _day(v) -> date:
    """A DATE as the driver gave it (SQLite: text)."""
    return v if isinstance(v, date) else date.fromisoformat(str(v)[:10])


def _moment(v) -> datetime:
    return v if isinstance(v, datetime) else datetime.fromisoformat(str(v))


def age_band(birthday: date | None, on: date) -> str:
    if birthday is None:
        return ""
    age = on.year - birthday.year
    return next((label for lo, hi, label in AGE_BANDS if lo <= age <= hi), "")


def _watermark(session: Session, name: str) -> Watermark:
    insert_missing(session, Watermark, "name", name=name, last_id=0, updated_at=utcnow())
    return session.scalar(select(Watermark).where(Watermark.name == name).with_for_update()
                          .execution_options(populate_existing=True))


def _add_into(session: Session, model, key_cols: tuple[str, ...], measures: tuple[str, ...],
              cells: dict[tuple, list[int]]) -> None:
    """Add each cell's sums into its row, making the rows that do not exist yet: one upsert
    statement (``ON DUPLICATE KEY UPDATE`` / ``ON CONFLICT DO UPDATE``), executed for many rows
    by the driver itself (a rollup batch has tens of thousands of cells)."""
    table = model.__table__.name
    cols = key_cols + measures
    dialect = session.get_bind().dialect.name
    # In key order: two runs adding into the same rows take their locks in the same order.
    rows = sorted((*key, *sums) for key, sums in cells.items())
    if dialect in ("mysql", "mariadb"):
        adds = ", ".join(f"{m} = {m} + VALUES({m})" for m in measures)
        _upsert_mysql(session, f"INSERT INTO {table} ({', '.join(cols)}) VALUES ", rows,
                      f" ON DUPLICATE KEY UPDATE {adds}")
        return
    else:  # SQLite (and PostgreSQL's form, were its driver's marks used)
        marks = ", ".join(["?"] * len(cols))
        adds = ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in measures)
        sql = (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks}) "
               f"ON CONFLICT ({', '.join(key_cols)}) DO UPDATE SET {adds}")
    conn = session.connection()
    for start in range(0, len(rows), 5000):
        conn.exec_driver_sql(sql, rows[start:start + 5000])


def _upsert_mysql(session: Session, head: str, rows: list[tuple], tail: str) -> None:
    """A multi-row upsert as literal text (the driver's per-value escaping was most of a
    rebuild's time), in the session's transaction."""
    cursor = session.connection().connection.cursor()
    try:
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            cursor.execute(head + mysql_values(rows[start:start + ROWS_PER_STATEMENT]) + tail)
    finally:
        cursor.close()


def roll_up_sales(session: Session, settings: Settings, *, batch: int = BATCH, lag_seconds: int = 60,
                  now: datetime | None = None, mark_name: str = "sales", upto: int | None = None,
                  cells_into: dict | None = None, cells_only: bool = False) -> int:
    """Roll up the next batch of transactions. Returns how many were rolled up (0: current).
    ``mark_name`` and ``upto``: a part of the history (ids up to ``upto``) rolled up under its
    own watermark, beside the others (``bench/rollup_parts.py``); ``cells_into``: add the
    rollup cells up there (the caller writes them) rather than into the table; ``cells_only``:
    leave the member summaries and buyer days alone (they are current)."""
    mark = _watermark(session, mark_name)
    cutoff = (now or utcnow()) - timedelta(seconds=lag_seconds)
    # Plain SQL, read without SQLAlchemy's per-value processing: a rebuild reads millions of rows.
    rows = [_Sale(*r) for r in session.execute(text(
        "SELECT t.id, t.kind, t.store_id, t.member_id, t.business_date, t.created_at, t.recorded_at, t.payable_fen,"
        " t.points_earned, t.points_redeemed, m.tier_id, m.gender, m.birthday, m.district, m.occupation,"
        " m.education, m.income_band, m.group_id"
        " FROM transactions t LEFT JOIN members m ON m.id = t.member_id"
        " WHERE t.id > :after AND t.id <= :upto ORDER BY t.id LIMIT :batch"),
        {"after": mark.last_id, "upto": upto if upto is not None else 2 ** 62, "batch": batch})]
    for n, row in enumerate(rows):
        if _moment(row.recorded_at or row.created_at) > cutoff:
            rows = rows[:n]
            break
    if not rows:
        return 0
    last_id = rows[-1].id
    lines: dict[int, list] = defaultdict(list)
    for it in session.execute(text(
            "SELECT transaction_id, category, sku, qty, amount_fen, discount_fen FROM transaction_items"
            " WHERE transaction_id > :after AND transaction_id <= :last"), {"after": mark.last_id, "last": last_id}):
        lines[it[0]].append(_Line(*it))
    tz = settings.tz
    cells: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(MEASURES))
    members: dict[int, list] = {}
    buyer_days: dict[tuple[int, date, int], int] = {}
    for t in rows:
        t = t._replace(business_date=_day(t.business_date), created_at=_moment(t.created_at),
                       birthday=_day(t.birthday) if t.birthday else None)
        is_purchase = t.kind == "purchase"
        sign = 1 if is_purchase else -1
        qty = sign * sum(it.qty for it in lines.get(t.id, ()))
        base = (int(is_purchase), int(not is_purchase), t.payable_fen if is_purchase else 0,
                0 if is_purchase else t.payable_fen, qty, t.points_earned, t.points_redeemed,
                int(is_purchase and t.member_id is not None))
        tier = t.tier_id or 0
        values = [("all", ""), ("hour", str(to_local(t.created_at, tz).hour))]
        if t.member_id is not None:
            values += [("gender", t.gender or ""), ("age", age_band(t.birthday, t.business_date)),
                       ("district", t.district or ""), ("occupation", t.occupation or ""),
                       ("education", t.education or ""), ("income", t.income_band or ""),
                       ("group", str(t.group_id or ""))]
            summary = members.setdefault(t.member_id, [t.business_date, t.business_date, 0, 0])
            if is_purchase:
                summary[0] = min(summary[0], t.business_date)
                summary[1] = max(summary[1], t.business_date)
                summary[2] += 1
            summary[3] += sign * t.payable_fen
            if is_purchase:
                buyer_days.setdefault((t.member_id, t.business_date, t.store_id), tier)
        for dim, value in values:
            cell = cells[(dim, t.business_date, t.store_id, tier, value)]
            for i, v in enumerate(base):
                cell[i] += v
        seen: set[tuple] = set()
        for it in lines.get(t.id, ()):
            net = it.amount_fen - it.discount_fen
            for dim, value in (("category", it.category or ""), ("sku", it.sku)):
                cell = cells[(dim, t.business_date, t.store_id, tier, value)]
                if (dim, value) not in seen:
                    seen.add((dim, value))
                    cell[0] += int(is_purchase)
                    cell[1] += int(not is_purchase)
                cell[2 if is_purchase else 3] += net
                cell[4] += sign * it.qty
    # The same cells by month ("m:" + dim, the month's first day): a long range reads its whole
    # months from these and only its edge days from the daily rows.
    for (dim, day, store_id, tier, value), sums in list(cells.items()):
        month = cells[(MONTHLY + dim, day.replace(day=1), store_id, tier, value)]
        for i, v in enumerate(sums):
            month[i] += v
    if cells_into is None:
        _add_into(session, SalesDaily, SALES_KEY, MEASURES, cells)
    else:
        for key, sums in cells.items():
            into = cells_into.get(key)
            if into is None:
                cells_into[key] = sums
            else:
                for i, v in enumerate(sums):
                    into[i] += v
    if not cells_only:
        _add_members(session, members)
        _add_buyer_days(session, buyer_days)
    mark.last_id, mark.updated_at = last_id, utcnow()
    session.flush()
    return len(rows)


def _add_members(session: Session, members: dict[int, list]) -> None:
    ids = list(members)
    existing = {}
    for start in range(0, len(ids), 1000):
        for row in session.execute(select(MemberSummary).where(MemberSummary.member_id.in_(ids[start:start + 1000]))):
            existing[row[0].member_id] = row[0]
    inserts = []
    for member_id, (first, last, purchases, net) in members.items():
        row = existing.get(member_id)
        if row is None:
            inserts.append(dict(member_id=member_id, first_date=first, last_date=last, purchases=purchases,
                                net_fen=net))
        else:
            if purchases:
                row.first_date = min(row.first_date, first) if row.purchases else first
                row.last_date = max(row.last_date, last) if row.purchases else last
            row.purchases += purchases
            row.net_fen += net
    for start in range(0, len(inserts), 5000):
        session.execute(insert(MemberSummary), inserts[start:start + 5000])


def _add_buyer_days(session: Session, new: dict[tuple[int, date, int], int]) -> None:
    """Add the batch's buyer days and set the previous days of each member's rows anew (an
    offline sale or an import can land before days already rolled up)."""
    if not new:
        return
    ids = sorted({k[0] for k in new})
    rows: dict[int, dict[tuple[date, int], list]] = defaultdict(dict)   # member -> (day, store) -> [tier, prev, prev_store]
    for start in range(0, len(ids), 1000):
        for member_id, day, store_id, tier, prev, prev_store in session.execute(
                select(BuyerDay.member_id, BuyerDay.business_date, BuyerDay.store_id, BuyerDay.tier_id,
                       BuyerDay.prev_date, BuyerDay.prev_store_date)
                .where(BuyerDay.member_id.in_(ids[start:start + 1000]))):
            rows[member_id][(_day(day), store_id)] = [tier, _day(prev), _day(prev_store), False]
    for (member_id, day, store_id), tier in new.items():
        rows[member_id].setdefault((day, store_id), [tier, None, None, True])
    out = []
    for member_id, days in rows.items():
        prev, prev_at = NO_DATE, {}
        for key in sorted(days):
            day, store_id = key
            tier, old_prev, old_prev_store, is_new = days[key]
            prev_store = prev_at.get(store_id, NO_DATE)
            if is_new or old_prev != prev or old_prev_store != prev_store:
                out.append((member_id, day, store_id, tier, prev, prev_store))
            prev, prev_at[store_id] = day, day
    table, cols = BuyerDay.__table__.name, "member_id, business_date, store_id, tier_id, prev_date, prev_store_date"
    if session.get_bind().dialect.name in ("mysql", "mariadb"):
        _upsert_mysql(session, f"INSERT INTO {table} ({cols}) VALUES ", out, " ON DUPLICATE KEY UPDATE "
                      "prev_date = VALUES(prev_date), prev_store_date = VALUES(prev_store_date)")
        return
    else:
        sql = (f"INSERT INTO {table} ({cols}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (member_id, business_date, "
               "store_id) DO UPDATE SET prev_date = excluded.prev_date, prev_store_date = excluded.prev_store_date")
    conn = session.connection()
    for start in range(0, len(out), 5000):
        conn.exec_driver_sql(sql, out[start:start + 5000])


def roll_up_ledger(session: Session, settings: Settings, *, batch: int = BATCH * 2, lag_seconds: int = 60,
                   now: datetime | None = None) -> int:
    """Roll up the next batch of ledger entries (points and stored value per day, store and cause)."""
    mark = _watermark(session, "ledger")
    cutoff = (now or utcnow()) - timedelta(seconds=lag_seconds)
    rows = [(i, amount, cause, _moment(at), kind, store) for i, amount, cause, at, kind, store in session.execute(text(
        "SELECT e.id, e.amount, e.cause, e.created_at, a.kind, t.store_id FROM ledger_entries e"
        " JOIN ledger_accounts a ON a.id = e.account_id LEFT JOIN transactions t ON t.id = e.transaction_id"
        " WHERE e.id > :after ORDER BY e.id LIMIT :batch"), {"after": mark.last_id, "batch": batch})]
    for n, row in enumerate(rows):
        if row[3] > cutoff:
            rows = rows[:n]
            break
    if not rows:
        return 0
    tz = settings.tz
    cells: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for _id, amount, cause, at, kind, store_id in rows:
        cell = cells[(kind, to_local(at, tz).date(), store_id or 0, cause)]
        cell[0 if amount > 0 else 1] += abs(amount)
        cell[2] += 1
    _add_into(session, LedgerDaily, ("kind", "business_date", "store_id", "cause"), ("credit", "debit", "entries"),
              cells)
    mark.last_id, mark.updated_at = rows[-1][0], utcnow()
    session.flush()
    return len(rows)


def roll_up(session: Session, settings: Settings, *, lag_seconds: int = 60, commit: Callable[[], None] | None = None,
            progress: Callable[[int], None] | None = None) -> int:
    """Bring every rollup up to date, batch by batch (``commit`` after each, if given)."""
    total = 0
    for step in (roll_up_sales, roll_up_ledger):
        while True:
            n = step(session, settings, lag_seconds=lag_seconds)
            if commit:
                commit()
            if not n:
                break
            total += n
            if progress:
                progress(n)
    return total


def rebuild(session: Session, settings: Settings, *, commit: Callable[[], None] | None = None,
            progress: Callable[[int], None] | None = None) -> int:
    """Throw the rollups away and add them up again from the raw tables."""
    for model in (SalesDaily, LedgerDaily, MemberSummary, BuyerDay, Watermark):
        session.execute(delete(model))
    session.flush()
    return roll_up(session, settings, lag_seconds=0, commit=commit, progress=progress)
