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
from datetime import date, datetime, timedelta, timezone
from typing import NamedTuple

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session

from wxcrm.analytics.models import NO_DATE, BuyerDay, LedgerDaily, MemberSummary, SalesDaily, Watermark
from wxcrm.config import Settings
from wxcrm.sqlutil import ROWS_PER_STATEMENT, insert_missing, mysql_values
from wxcrm.timeutil import to_local, utcnow

BATCH = 20_000
MEASURES = ("purchases", "refunds", "gross_fen", "refund_fen", "qty", "points_earned", "points_redeemed",
            "member_purchases")
SALES_KEY = ("dim", "business_date", "store_id", "tier_id", "value")
MONTHLY = "m:"
REBUILDING = 2 ** 62   # a watermark while a rebuild runs: the job adds nothing on top   # a rollup row's dim prefix for a whole month's sums
MEMBER_DIMS = ("gender", "age", "district", "occupation", "education", "income", "group")
ITEM_DIMS = ("category", "sku")
# Age on the business date by years of birth (the same rule the drill-down's SQL uses).
AGE_BANDS = ((0, 17, "<18"), (18, 24, "18-24"), (25, 34, "25-34"), (35, 44, "35-44"), (45, 54, "45-54"),
             (55, 200, "55+"))


class Sale(NamedTuple):
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


class Line(NamedTuple):
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
              cells: dict[tuple, list[int]], *, upsert: bool = True) -> None:
    """Add each cell's sums into its row, making the rows that do not exist yet: one upsert
    statement (``ON DUPLICATE KEY UPDATE`` / ``ON CONFLICT DO UPDATE``), executed for many rows
    by the driver itself (a rollup batch has tens of thousands of cells). ``upsert=False``: the
    table holds none of these rows (a rebuild), plain inserts."""
    table = model.__table__.name
    cols = key_cols + measures
    dialect = session.get_bind().dialect.name
    # In key order: two runs adding into the same rows take their locks in the same order.
    rows = sorted((*key, *sums) for key, sums in cells.items())
    if dialect in ("mysql", "mariadb"):
        adds = ", ".join(f"{m} = {m} + VALUES({m})" for m in measures)
        _upsert_mysql(session, f"INSERT INTO {table} ({', '.join(cols)}) VALUES ", rows,
                      f" ON DUPLICATE KEY UPDATE {adds}" if upsert else "")
        return
    # SQLite (and PostgreSQL's form, were its driver's marks used)
    marks = ", ".join(["?"] * len(cols))
    adds = ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in measures)
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"
    if upsert:
        sql += f" ON CONFLICT ({', '.join(key_cols)}) DO UPDATE SET {adds}"
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


def _read_sales(session: Session, after: int, batch: int, cutoff: datetime | None) -> tuple[list, dict]:
    """The next ``batch`` transactions past id ``after`` (stopping at the first one recorded after
    ``cutoff``) with their members' attributes, and their lines by transaction id."""
    # Plain SQL, read without SQLAlchemy's per-value processing: a rebuild reads millions of rows.
    rows = [Sale(*r) for r in session.execute(text(
        "SELECT t.id, t.kind, t.store_id, t.member_id, t.business_date, t.created_at, t.recorded_at, t.payable_fen,"
        " t.points_earned, t.points_redeemed, m.tier_id, m.gender, m.birthday, m.district, m.occupation,"
        " m.education, m.income_band, m.group_id"
        " FROM transactions t LEFT JOIN members m ON m.id = t.member_id"
        " WHERE t.id > :after ORDER BY t.id LIMIT :batch"), {"after": after, "batch": batch})]
    if cutoff is not None:
        for n, row in enumerate(rows):
            if _moment(row.recorded_at or row.created_at) > cutoff:
                rows = rows[:n]
                break
    lines: dict[int, list] = defaultdict(list)
    if rows:
        for it in session.execute(text(
                "SELECT transaction_id, category, sku, qty, amount_fen, discount_fen FROM transaction_items"
                " WHERE transaction_id > :after AND transaction_id <= :last"), {"after": after, "last": rows[-1].id}):
            lines[it[0]].append(Line(*it))
    return rows, lines


def _add_up(rows: list, lines: dict, tz, cells: dict, members: dict, buyer_days: dict) -> None:
    """Add transactions into rollup cells (daily and monthly), member summaries
    (member -> [first day, last day, purchases, net fen]) and buyer days
    ((member, day, store) -> tier), all in memory."""
    month_of: dict[date, date] = {}
    for t in rows:
        t = t._replace(business_date=_day(t.business_date), created_at=_moment(t.created_at),
                       birthday=_day(t.birthday) if t.birthday else None)
        day = t.business_date
        month = month_of.get(day)
        if month is None:
            month = month_of[day] = day.replace(day=1)
        is_purchase = t.kind == "purchase"
        sign = 1 if is_purchase else -1
        qty = sign * sum(it.qty for it in lines.get(t.id, ()))
        base = (int(is_purchase), int(not is_purchase), t.payable_fen if is_purchase else 0,
                0 if is_purchase else t.payable_fen, qty, t.points_earned, t.points_redeemed,
                int(is_purchase and t.member_id is not None))
        tier = t.tier_id or 0
        values = [("all", ""), ("hour", str(to_local(t.created_at, tz).hour))]
        if t.member_id is not None:
            values += [("gender", t.gender or ""), ("age", age_band(t.birthday, day)),
                       ("district", t.district or ""), ("occupation", t.occupation or ""),
                       ("education", t.education or ""), ("income", t.income_band or ""),
                       ("group", str(t.group_id or ""))]
            summary = members.get(t.member_id)
            if summary is None:
                summary = members[t.member_id] = [day, day, 0, 0]
            if is_purchase:
                if day < summary[0]:
                    summary[0] = day
                if day > summary[1]:
                    summary[1] = day
                summary[2] += 1
                buyer_days.setdefault((t.member_id, day, t.store_id), tier)
            summary[3] += sign * t.payable_fen
        # Each value's sums go into its day's cell and its month's ("m:" + dim, the month's first
        # day): a long range reads its whole months from these and only its edge days from the daily rows.
        for dim, value in values:
            for key in ((dim, day, t.store_id, tier, value), (MONTHLY + dim, month, t.store_id, tier, value)):
                cell = cells.get(key)
                if cell is None:
                    cells[key] = list(base)
                else:
                    for i, v in enumerate(base):
                        cell[i] += v
        seen: set[tuple] = set()
        for it in lines.get(t.id, ()):
            net = it.amount_fen - it.discount_fen
            for dim, value in (("category", it.category or ""), ("sku", it.sku)):
                first = (dim, value) not in seen
                if first:
                    seen.add((dim, value))
                for key in ((dim, day, t.store_id, tier, value), (MONTHLY + dim, month, t.store_id, tier, value)):
                    cell = cells.get(key)
                    if cell is None:
                        cell = cells[key] = [0] * len(MEASURES)
                    if first:
                        cell[0] += int(is_purchase)
                        cell[1] += int(not is_purchase)
                    cell[2 if is_purchase else 3] += net
                    cell[4] += sign * it.qty


def roll_up_sales(session: Session, settings: Settings, *, batch: int = BATCH, lag_seconds: int = 60,
                  now: datetime | None = None) -> int:
    """Roll up the next batch of transactions. Returns how many were rolled up (0: current)."""
    mark = _watermark(session, "sales")
    if mark.last_id >= REBUILDING:
        return 0
    rows, lines = _read_sales(session, mark.last_id, batch, (now or utcnow()) - timedelta(seconds=lag_seconds))
    if not rows:
        return 0
    cells: dict[tuple, list[int]] = {}
    members: dict[int, list] = {}
    buyer_days: dict[tuple[int, date, int], int] = {}
    _add_up(rows, lines, settings.tz, cells, members, buyer_days)
    _add_into(session, SalesDaily, SALES_KEY, MEASURES, cells)
    _add_members(session, members)
    _add_buyer_days(session, buyer_days)
    mark.last_id, mark.updated_at = rows[-1].id, utcnow()
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


def _insert_buyer_days(session: Session, days: dict[tuple[int, date, int], int]) -> None:
    """A rebuild's buyer days (the table is empty): each member's days in order, each with the
    member's previous buyer day (any store, and at that store)."""
    out, member, prev, prev_at = [], None, NO_DATE, {}
    for member_id, day, store_id in sorted(days):
        if member_id != member:
            member, prev, prev_at = member_id, NO_DATE, {}
        out.append((member_id, day, store_id, days[(member_id, day, store_id)], prev, prev_at.get(store_id, NO_DATE)))
        prev, prev_at[store_id] = day, day
    table, cols = BuyerDay.__table__.name, "member_id, business_date, store_id, tier_id, prev_date, prev_store_date"
    if session.get_bind().dialect.name in ("mysql", "mariadb"):
        _upsert_mysql(session, f"INSERT INTO {table} ({cols}) VALUES ", out, "")
        return
    conn = session.connection()
    for start in range(0, len(out), 5000):
        conn.exec_driver_sql(f"INSERT INTO {table} ({cols}) VALUES (?, ?, ?, ?, ?, ?)", out[start:start + 5000])


def _read_ledger(session: Session, after: int, batch: int, cutoff: datetime | None) -> list[tuple]:
    rows = [(i, amount, cause, _moment(at), kind, store) for i, amount, cause, at, kind, store in session.execute(text(
        "SELECT e.id, e.amount, e.cause, e.created_at, a.kind, t.store_id FROM ledger_entries e"
        " JOIN ledger_accounts a ON a.id = e.account_id LEFT JOIN transactions t ON t.id = e.transaction_id"
        " WHERE e.id > :after ORDER BY e.id LIMIT :batch"), {"after": after, "batch": batch})]
    if cutoff is not None:
        for n, row in enumerate(rows):
            if row[3] > cutoff:
                return rows[:n]
    return rows


def _add_up_ledger(rows: list[tuple], tz, cells: dict) -> None:
    for _id, amount, cause, at, kind, store_id in rows:
        key = (kind, to_local(at, tz).date(), store_id or 0, cause)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = [0, 0, 0]
        cell[0 if amount > 0 else 1] += abs(amount)
        cell[2] += 1


LEDGER_KEY = ("kind", "business_date", "store_id", "cause")
LEDGER_MEASURES = ("credit", "debit", "entries")


def roll_up_ledger(session: Session, settings: Settings, *, batch: int = BATCH * 2, lag_seconds: int = 60,
                   now: datetime | None = None) -> int:
    """Roll up the next batch of ledger entries (points and stored value per day, store and cause)."""
    mark = _watermark(session, "ledger")
    if mark.last_id >= REBUILDING:
        return 0
    rows = _read_ledger(session, mark.last_id, batch, (now or utcnow()) - timedelta(seconds=lag_seconds))
    if not rows:
        return 0
    cells: dict[tuple, list[int]] = {}
    _add_up_ledger(rows, settings.tz, cells)
    _add_into(session, LedgerDaily, LEDGER_KEY, LEDGER_MEASURES, cells)
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
            progress: Callable[[int], None] | None = None, batch: int = BATCH * 5) -> int:
    """Throw the rollups away and add them up again from the raw tables.

    On MariaDB/MySQL the database adds them up, one ``INSERT ... SELECT`` per dimension
    (:func:`_rebuild_mysql`); elsewhere the whole history is added up in memory (:class:`Totals`:
    the cells are bounded by days x stores x tiers x values, not by transactions) and each table
    written once. Either way, not batch by batch: upserting into tables that already hold
    millions of rows was most of a large rebuild's time. While it runs, the watermarks say
    ``REBUILDING``, so the ``analytics-rollup`` job adds nothing on top; a rebuild stopped
    half-way leaves them so (the reports stale, never counted twice) until the next rebuild."""
    for model in (SalesDaily, LedgerDaily, MemberSummary, BuyerDay, Watermark):
        session.execute(delete(model))
    for name in ("sales", "ledger"):
        session.execute(insert(Watermark).values(name=name, last_id=REBUILDING, updated_at=utcnow()))
    session.flush()
    if commit:
        commit()
    if session.get_bind().dialect.name in ("mysql", "mariadb"):
        return _rebuild_mysql(session, settings, commit=commit, progress=progress)
    totals, mark = Totals(settings.tz), 0
    while True:
        rows, lines = _read_sales(session, mark, batch, None)
        if not rows:
            break
        totals.add_sales(rows, lines)
        mark = rows[-1].id
        if commit:
            commit()   # nothing written: a long read holds no snapshot across the whole history
        if progress:
            progress(len(rows))
    mark = 0
    while True:
        entries = _read_ledger(session, mark, batch * 2, None)
        if not entries:
            break
        totals.add_ledger(entries)
        mark = entries[-1][0]
        if progress:
            progress(len(entries))
    totals.write(session, empty=True)
    if commit:
        commit()
    return totals.sales + totals.entries


def is_empty(session: Session) -> bool:
    """No sales rollup rows and no buyer days yet."""
    return all(session.scalar(select(model).limit(1)) is None for model in (SalesDaily, BuyerDay))


class Totals:
    """Rollups added up in memory, then written at once (a rebuild, or a bulk data set as it
    is written): the cells are bounded by days x stores x tiers x values, not by the rows."""

    def __init__(self, tz) -> None:
        self.tz = tz
        self.cells: dict[tuple, list[int]] = {}
        self.members: dict[int, list] = {}
        self.buyer_days: dict[tuple[int, date, int], int] = {}
        self.ledger_cells: dict[tuple, list[int]] = {}
        self.sales = self.entries = 0
        self.last_sale = self.last_entry = 0

    def add_sales(self, rows: list[Sale], lines: dict[int, list[Line]]) -> None:
        _add_up(rows, lines, self.tz, self.cells, self.members, self.buyer_days)
        if rows:
            self.sales += len(rows)
            self.last_sale = max(self.last_sale, max(r.id for r in rows))

    def add_ledger(self, rows: list[tuple]) -> None:
        """Entries as ``(id, amount, cause, created_at, account kind, store id or None)``."""
        _add_up_ledger(rows, self.tz, self.ledger_cells)
        if rows:
            self.entries += len(rows)
            self.last_entry = max(self.last_entry, max(r[0] for r in rows))

    def write(self, session: Session, *, empty: bool) -> None:
        """Add everything into the rollup tables (``empty``: they hold none of it, plain inserts)
        and move the watermarks past the rows added up."""
        _add_into(session, SalesDaily, SALES_KEY, MEASURES, self.cells, upsert=not empty)
        _add_members(session, self.members)
        (_insert_buyer_days if empty else _add_buyer_days)(session, self.buyer_days)
        _add_into(session, LedgerDaily, LEDGER_KEY, LEDGER_MEASURES, self.ledger_cells, upsert=not empty)
        for name, last_id in (("sales", self.last_sale), ("ledger", self.last_entry)):
            if last_id:
                _watermark(session, name)
                session.execute(update(Watermark).where(Watermark.name == name)
                                .values(last_id=last_id, updated_at=utcnow()))
        session.flush()
        self.cells, self.members, self.buyer_days, self.ledger_cells = {}, {}, {}, {}


def _local_offset_sql(tz, column: str) -> str:
    """SQL for the seconds ``tz`` is ahead of UTC at the naive-UTC ``column``: one offset, or a
    CASE over the zone's changes since 2000 (found by probing it day by day, then hour by hour),
    so the database needs no time zone tables of its own."""
    def offset(moment: datetime) -> int:
        return int(moment.replace(tzinfo=timezone.utc).astimezone(tz).utcoffset().total_seconds())
    moment, end = datetime(2000, 1, 1), utcnow() + timedelta(days=2)
    current, changes = offset(moment), []
    while moment < end:
        nxt = moment + timedelta(days=1)
        if offset(nxt) != current:
            hour = moment
            while offset(hour) == current:
                hour += timedelta(hours=1)
            current = offset(hour)
            changes.append((hour, current))
        moment = nxt
    first = offset(datetime(2000, 1, 1))
    if not changes:
        return str(first)
    whens = []
    previous = first
    for at, value in changes:
        whens.append(f"WHEN {column} < '{at:%Y-%m-%d %H:%M:%S}' THEN {previous}")
        previous = value
    return f"CASE {' '.join(whens)} ELSE {previous} END"


def _rebuild_mysql(session: Session, settings: Settings, *, commit: Callable[[], None] | None,
                   progress: Callable[[int], None] | None) -> int:
    """The rebuild as set-based statements on MariaDB/MySQL, up to the last ids at its start:
    the same cells, summaries and buyer days as the batch-by-batch roll-up (the tests compare
    the two), added up by the database (10,000,000 transactions are minutes, not an hour of
    Python reading rows). The app's connections are READ COMMITTED, so ``INSERT ... SELECT``
    reads a snapshot per statement and locks no rows of the raw tables: the tills go on selling."""
    # Room for the GROUP BYs' tens of thousands of cells in memory: past the server's default
    # 16 MB a grouping spills to an on-disk table and takes several times as long.
    session.execute(text("SET SESSION tmp_table_size = 1073741824, max_heap_table_size = 1073741824"))
    try:
        return _rebuild_mysql_statements(session, settings, commit=commit, progress=progress)
    finally:
        session.execute(text("SET SESSION tmp_table_size = DEFAULT, max_heap_table_size = DEFAULT"))


def _rebuild_mysql_statements(session: Session, settings: Settings, *, commit: Callable[[], None] | None,
                              progress: Callable[[int], None] | None) -> int:
    def run(sql: str, **params) -> int:
        result = session.execute(text(sql), params)
        if commit:
            commit()
        return result.rowcount

    last_sale = int(session.scalar(text("SELECT COALESCE(MAX(id), 0) FROM transactions")))
    last_entry = int(session.scalar(text("SELECT COALESCE(MAX(id), 0) FROM ledger_entries")))
    hour_offset = _local_offset_sql(settings.tz, "t.created_at")
    measures = ", ".join(MEASURES)
    purchase = "t.kind = 'purchase'"
    # A transaction's units, signed: what each of its dimension rows adds to ``qty``.
    session.execute(text("DROP TEMPORARY TABLE IF EXISTS rebuild_qty"))
    run("CREATE TEMPORARY TABLE rebuild_qty (transaction_id BIGINT PRIMARY KEY, qty BIGINT NOT NULL) "
        "SELECT transaction_id, SUM(qty) AS qty FROM transaction_items WHERE transaction_id <= :last "
        "GROUP BY transaction_id", last=last_sale)
    sums = (f"SUM({purchase}), SUM(NOT {purchase}), SUM(IF({purchase}, t.payable_fen, 0)), "
            f"SUM(IF({purchase}, 0, t.payable_fen)), SUM(IF({purchase}, 1, -1) * COALESCE(q.qty, 0)), "
            f"SUM(t.points_earned), SUM(t.points_redeemed), SUM({purchase} AND t.member_id IS NOT NULL)")
    age = ("CASE WHEN m.birthday IS NULL THEN '' " + " ".join(
        f"WHEN YEAR(t.business_date) - YEAR(m.birthday) BETWEEN {lo} AND {hi} THEN '{label}'"
        for lo, hi, label in AGE_BANDS) + " ELSE '' END")
    values = {
        "all": "''",
        "hour": f"CAST(HOUR(t.created_at + INTERVAL {hour_offset} SECOND) AS CHAR)",
        "gender": "COALESCE(m.gender, '')", "age": age, "district": "COALESCE(m.district, '')",
        "occupation": "COALESCE(m.occupation, '')", "education": "COALESCE(m.education, '')",
        "income": "COALESCE(m.income_band, '')", "group": "COALESCE(CAST(m.group_id AS CHAR), '')",
    }
    head = f"INSERT INTO {SalesDaily.__tablename__} ({', '.join(SALES_KEY)}, {measures}) "
    rows_in = "FROM transactions t LEFT JOIN members m ON m.id = t.member_id " \
              "LEFT JOIN rebuild_qty q ON q.transaction_id = t.id WHERE t.id <= :last"
    for dim, value in values.items():
        member_only = "" if dim in ("all", "hour") else " AND t.member_id IS NOT NULL"
        run(head + f"SELECT '{dim}', t.business_date, t.store_id, COALESCE(m.tier_id, 0), {value}, {sums} "
            f"{rows_in}{member_only} GROUP BY 2, 3, 4, 5", last=last_sale)
        if progress:
            progress(0)
    # Categories and SKUs: a transaction counts once per value, whatever its lines.
    for dim, column in (("category", "COALESCE(i.category, '')"), ("sku", "i.sku")):
        run(head + f"SELECT '{dim}', business_date, store_id, tier_id, value, SUM({purchase.replace('t.', 'x.')}), "
            "SUM(NOT x.kind = 'purchase'), SUM(IF(x.kind = 'purchase', net, 0)), SUM(IF(x.kind = 'purchase', 0, net)), "
            "SUM(qty), 0, 0, 0 FROM ("
            f"SELECT t.id, t.kind, t.business_date, t.store_id, COALESCE(m.tier_id, 0) AS tier_id, {column} AS value, "
            "SUM(i.amount_fen - i.discount_fen) AS net, SUM(IF(t.kind = 'purchase', 1, -1) * i.qty) AS qty "
            "FROM transaction_items i JOIN transactions t ON t.id = i.transaction_id "
            "LEFT JOIN members m ON m.id = t.member_id WHERE t.id <= :last GROUP BY t.id, 6) x "
            "GROUP BY business_date, store_id, tier_id, value", last=last_sale)
        if progress:
            progress(0)
    # Whole months, from the days.
    run(head + f"SELECT CONCAT('{MONTHLY}', dim), DATE_FORMAT(business_date, '%Y-%m-01'), store_id, tier_id, "
        f"value, {', '.join(f'SUM({m})' for m in MEASURES)} FROM {SalesDaily.__tablename__} "
        f"WHERE dim NOT LIKE '{MONTHLY}%' GROUP BY 1, 2, 3, 4, 5")
    session.execute(text("DROP TEMPORARY TABLE IF EXISTS rebuild_qty"))
    run(f"INSERT INTO {MemberSummary.__tablename__} (member_id, first_date, last_date, purchases, net_fen) "
        f"SELECT t.member_id, COALESCE(MIN(IF({purchase}, t.business_date, NULL)), MIN(t.business_date)), "
        f"COALESCE(MAX(IF({purchase}, t.business_date, NULL)), MIN(t.business_date)), SUM({purchase}), "
        f"SUM(IF({purchase}, t.payable_fen, -t.payable_fen)) FROM transactions t "
        "WHERE t.id <= :last AND t.member_id IS NOT NULL GROUP BY t.member_id", last=last_sale)
    # Each member's buyer days in (day, store) order with the day before, any store and at the store.
    no_date = f"'{NO_DATE.isoformat()}'"
    run(f"INSERT INTO {BuyerDay.__tablename__} (member_id, business_date, store_id, tier_id, prev_date, "
        "prev_store_date) SELECT d.member_id, d.business_date, d.store_id, COALESCE(m.tier_id, 0), "
        f"COALESCE(LAG(d.business_date) OVER (PARTITION BY d.member_id ORDER BY d.business_date, d.store_id), "
        f"{no_date}), COALESCE(LAG(d.business_date) OVER (PARTITION BY d.member_id, d.store_id "
        f"ORDER BY d.business_date), {no_date}) FROM (SELECT DISTINCT member_id, business_date, store_id "
        f"FROM transactions t WHERE t.id <= :last AND {purchase} AND t.member_id IS NOT NULL) d "
        "JOIN members m ON m.id = d.member_id", last=last_sale)
    if progress:
        progress(last_sale)
    entry_offset = _local_offset_sql(settings.tz, "e.created_at")
    run(f"INSERT INTO {LedgerDaily.__tablename__} ({', '.join(LEDGER_KEY + LEDGER_MEASURES)}) "
        f"SELECT a.kind, DATE(e.created_at + INTERVAL {entry_offset} SECOND), COALESCE(t.store_id, 0), e.cause, "
        "SUM(IF(e.amount > 0, e.amount, 0)), SUM(IF(e.amount > 0, 0, -e.amount)), COUNT(*) "
        "FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id "
        "LEFT JOIN transactions t ON t.id = e.transaction_id WHERE e.id <= :last GROUP BY 1, 2, 3, 4",
        last=last_entry)
    if progress:
        progress(last_entry)
    for name, last_id in (("sales", last_sale), ("ledger", last_entry)):
        session.execute(update(Watermark).where(Watermark.name == name).values(last_id=last_id, updated_at=utcnow()))
    session.flush()
    if commit:
        commit()
    return int(session.scalar(text("SELECT (SELECT COUNT(*) FROM transactions WHERE id <= :s) + "
                                   "(SELECT COUNT(*) FROM ledger_entries WHERE id <= :e)"),
                              {"s": last_sale, "e": last_entry}))
