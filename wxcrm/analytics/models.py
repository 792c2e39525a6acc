"""Rollups: the figures reports read, kept current by the ``analytics-rollup`` job from the
raw tables (transactions, their lines, ledger entries), which stay the source of truth.
``flask wxcrm rollup-rebuild`` rebuilds them from the raw tables.

A rollup row is one business day (merchant time zone) x store x tier (the member's tier
when the row was rolled up; 0: no member or no tier) x one dimension value. ``dim`` names
the dimension ("all" for the day's totals, "gender", "age", "district", "hour", "category",
"sku", ...), so a report over one dimension reads only that dimension's rows for the
days asked: its cost grows with the range, not with the history stored.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wxcrm.extensions import db
from wxcrm.timeutil import utcnow

BIG = BigInteger().with_variant(Integer, "sqlite")


class SalesDaily(db.Model):
    __tablename__ = "analytics_sales_daily"

    id: Mapped[int] = mapped_column(BIG, primary_key=True)
    dim: Mapped[str] = mapped_column(String(16))
    business_date: Mapped[date] = mapped_column(Date)
    store_id: Mapped[int] = mapped_column(Integer)
    tier_id: Mapped[int] = mapped_column(Integer)
    value: Mapped[str] = mapped_column(String(64))
    purchases: Mapped[int] = mapped_column(BigInteger, default=0)        # purchase transactions
    refunds: Mapped[int] = mapped_column(BigInteger, default=0)          # refund transactions
    gross_fen: Mapped[int] = mapped_column(BigInteger, default=0)        # paid on purchases
    refund_fen: Mapped[int] = mapped_column(BigInteger, default=0)       # paid back on refunds
    qty: Mapped[int] = mapped_column(BigInteger, default=0)              # units sold less units returned
    points_earned: Mapped[int] = mapped_column(BigInteger, default=0)
    points_redeemed: Mapped[int] = mapped_column(BigInteger, default=0)
    member_purchases: Mapped[int] = mapped_column(BigInteger, default=0)  # purchases by members

    __table_args__ = (UniqueConstraint("dim", "business_date", "store_id", "tier_id", "value",
                                       name="uq_analytics_sales_daily_cell"),)


class LedgerDaily(db.Model):
    """Points and stored value moved per business day, store (0: none) and cause."""
    __tablename__ = "analytics_ledger_daily"

    id: Mapped[int] = mapped_column(BIG, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    business_date: Mapped[date] = mapped_column(Date)
    store_id: Mapped[int] = mapped_column(Integer)
    cause: Mapped[str] = mapped_column(String(24))
    credit: Mapped[int] = mapped_column(BigInteger, default=0)
    debit: Mapped[int] = mapped_column(BigInteger, default=0)   # positive: what was taken
    entries: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (UniqueConstraint("kind", "business_date", "store_id", "cause",
                                       name="uq_analytics_ledger_daily_cell"),)


class MemberSummary(db.Model):
    """Each buying member's purchases in one row: what RFM reads."""
    __tablename__ = "analytics_member_summary"

    member_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    first_date: Mapped[date] = mapped_column(Date)
    last_date: Mapped[date] = mapped_column(Date)
    purchases: Mapped[int] = mapped_column(BigInteger, default=0)
    net_fen: Mapped[int] = mapped_column(BigInteger, default=0)


NO_DATE = date(1970, 1, 1)   # a buyer day's "no earlier purchase"


class BuyerDay(db.Model):
    """One member buying at one store on one business day, with the day of the member's
    previous buyer day (any store; same-day rows in store order) and of the previous one at
    this store. Distinct buyers over a range are then a plain count of the range's rows whose
    previous day falls before the range (each member's first row in it), read from an index,
    not a de-duplication of the range's transactions."""
    __tablename__ = "analytics_buyer_days"

    member_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    store_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tier_id: Mapped[int] = mapped_column(Integer, default=0)   # the member's tier when rolled up (0: none)
    prev_date: Mapped[date] = mapped_column(Date, default=NO_DATE)
    prev_store_date: Mapped[date] = mapped_column(Date, default=NO_DATE)

    __table_args__ = (
        Index("ix_analytics_buyer_days_range", "business_date", "prev_date", "tier_id"),
        Index("ix_analytics_buyer_days_store", "store_id", "business_date", "prev_store_date"),
    )


class Watermark(db.Model):
    """How far a rollup has read its raw table: the last id rolled up."""
    __tablename__ = "analytics_watermarks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ImportRow(db.Model):
    """One imported source row, keyed by (kind, key): a re-run finds it and changes nothing."""
    __tablename__ = "analytics_import_rows"

    id: Mapped[int] = mapped_column(BIG, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(128))
    target_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    imported_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("kind", "key", name="uq_analytics_import_rows_key"),)


ANY_STORE = 0   # a buyer-day count over all stores (its previous day: at any store)


class BuyerDayCount(db.Model):
    """How many buyer days fall on each business day with each previous day: per store (the
    previous day at that store) and over all stores (``ANY_STORE``, the previous day anywhere).
    The members who bought in a range are the sum over its days of the counts whose previous
    day is before it. A range reads at most days x previous days cells, however many
    transactions each day holds: at ten times the transactions, the same cost."""
    __tablename__ = "analytics_buyer_day_counts"

    store_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    prev_date: Mapped[date] = mapped_column(Date, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)
