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

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import Session

from wxcrm.analytics.models import LedgerDaily, MemberSummary, SalesDaily, Watermark
from wxcrm.config import Settings
from wxcrm.ledger.models import LedgerAccount, LedgerEntry
from wxcrm.members.models import Member
from wxcrm.sales.models import Transaction, TransactionItem
from wxcrm.sqlutil import insert_missing
from wxcrm.timeutil import to_local, utcnow

BATCH = 20_000
MEASURES = ("purchases", "refunds", "gross_fen", "refund_fen", "qty", "points_earned", "points_redeemed",
            "member_purchases")
MEMBER_DIMS = ("gender", "age", "district", "occupation", "education", "income", "group")
ITEM_DIMS = ("category", "sku")
# Age on the business date by years of birth (the same rule the drill-down's SQL uses).
AGE_BANDS = ((0, 17, "<18"), (18, 24, "18-24"), (25, 34, "25-34"), (35, 44, "35-44"), (45, 54, "45-54"),
             (55, 200, "55+"))


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
    (``ON DUPLICATE KEY UPDATE`` / ``ON CONFLICT DO UPDATE``) per chunk of cells."""
    rows = [{**dict(zip(key_cols, key)), **dict(zip(measures, sums))} for key, sums in cells.items()]
    dialect = session.get_bind().dialect.name
    if dialect in ("mysql", "mariadb"):
        stmt = mysql.insert(model)
        stmt = stmt.on_duplicate_key_update({m: getattr(model, m) + stmt.inserted[m] for m in measures})
    elif dialect == "postgresql":
        stmt = postgresql.insert(model)
        stmt = stmt.on_conflict_do_update(index_elements=list(key_cols),
                                          set_={m: getattr(model, m) + stmt.excluded[m] for m in measures})
    else:
        stmt = sqlite.insert(model)
        stmt = stmt.on_conflict_do_update(index_elements=list(key_cols),
                                          set_={m: getattr(model, m) + stmt.excluded[m] for m in measures})
    for start in range(0, len(rows), 2000):
        session.execute(stmt, rows[start:start + 2000])


def roll_up_sales(session: Session, settings: Settings, *, batch: int = BATCH, lag_seconds: int = 60,
                  now: datetime | None = None) -> int:
    """Roll up the next batch of transactions. Returns how many were rolled up (0: current)."""
    mark = _watermark(session, "sales")
    cutoff = (now or utcnow()) - timedelta(seconds=lag_seconds)
    rows = session.execute(
        select(Transaction.id, Transaction.kind, Transaction.store_id, Transaction.member_id,
               Transaction.business_date, Transaction.created_at, Transaction.recorded_at, Transaction.payable_fen,
               Transaction.points_earned, Transaction.points_redeemed, Member.tier_id, Member.gender,
               Member.birthday, Member.district, Member.occupation, Member.education, Member.income_band,
               Member.group_id)
        .outerjoin(Member, Member.id == Transaction.member_id)
        .where(Transaction.id > mark.last_id).order_by(Transaction.id).limit(batch)).all()
    for n, row in enumerate(rows):
        if (row.recorded_at or row.created_at) > cutoff:
            rows = rows[:n]
            break
    if not rows:
        return 0
    last_id = rows[-1].id
    lines: dict[int, list] = defaultdict(list)
    for it in session.execute(select(TransactionItem.transaction_id, TransactionItem.category, TransactionItem.sku,
                                     TransactionItem.qty, TransactionItem.amount_fen, TransactionItem.discount_fen)
                              .where(TransactionItem.transaction_id > mark.last_id,
                                     TransactionItem.transaction_id <= last_id)):
        lines[it.transaction_id].append(it)
    tz = settings.tz
    cells: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(MEASURES))
    members: dict[int, list] = {}
    for t in rows:
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
    _add_into(session, SalesDaily, ("dim", "business_date", "store_id", "tier_id", "value"), MEASURES, cells)
    _add_members(session, members)
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


def roll_up_ledger(session: Session, settings: Settings, *, batch: int = BATCH * 2, lag_seconds: int = 60,
                   now: datetime | None = None) -> int:
    """Roll up the next batch of ledger entries (points and stored value per day, store and cause)."""
    mark = _watermark(session, "ledger")
    cutoff = (now or utcnow()) - timedelta(seconds=lag_seconds)
    rows = session.execute(
        select(LedgerEntry.id, LedgerEntry.amount, LedgerEntry.cause, LedgerEntry.created_at, LedgerAccount.kind,
               Transaction.store_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .outerjoin(Transaction, Transaction.id == LedgerEntry.transaction_id)
        .where(LedgerEntry.id > mark.last_id).order_by(LedgerEntry.id).limit(batch)).all()
    for n, row in enumerate(rows):
        if row.created_at > cutoff:
            rows = rows[:n]
            break
    if not rows:
        return 0
    tz = settings.tz
    cells: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for e in rows:
        cell = cells[(e.kind, to_local(e.created_at, tz).date(), e.store_id or 0, e.cause)]
        cell[0 if e.amount > 0 else 1] += abs(e.amount)
        cell[2] += 1
    _add_into(session, LedgerDaily, ("kind", "business_date", "store_id", "cause"), ("credit", "debit", "entries"),
              cells)
    mark.last_id, mark.updated_at = rows[-1].id, utcnow()
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
    for model in (SalesDaily, LedgerDaily, MemberSummary, Watermark):
        session.execute(delete(model))
    session.flush()
    return roll_up(session, settings, lag_seconds=0, commit=commit, progress=progress)
