"""Append-only ledgers.

An account's ``balance`` is a cache of the sum of its entries, written in the same
transaction as each entry while the account row is locked. Entries are never
updated or deleted; a correction is a new entry.

Points live in lots: each earning entry makes a lot with an expiry date and,
optionally, a date from which it may be spent (a return window). Spending takes
from the available lots nearest expiry first. For a points account the sum of the
lots' ``remaining`` always equals the balance.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxcrm.extensions import db
from wxcrm.timeutil import utcnow

ACCOUNT_KINDS = ("points", "stored_value")
# What caused an entry. Every entry names one, plus the id of the thing.
CAUSES = ("purchase", "refund", "redeem", "redeem_reversal", "expiry", "adjustment", "topup",
          "signup", "referral", "rule", "coupon", "job", "transfer", "reset", "closure", "membership", "merge", "import")


class LedgerAccount(db.Model):
    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(16))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("member_id", "kind"),
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("kind in ('points', 'stored_value')", name="kind"),
    )


class LedgerEntry(db.Model):
    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)  # signed: + credit, - debit
    balance_after: Mapped[int] = mapped_column(BigInteger)
    cause: Mapped[str] = mapped_column(String(24))
    cause_id: Mapped[str] = mapped_column(String(64), default="")
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"), nullable=True, index=True)
    rule_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rule_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    text_zh: Mapped[str] = mapped_column(String(255), default="")
    text_en: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (Index("ix_ledger_entries_account_id_id", "account_id", "id"),)


class PointsLot(db.Model):
    __tablename__ = "points_lots"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    available_from: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)  # last day on which the points count
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    entry: Mapped[LedgerEntry] = relationship()

    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= points", name="remaining_in_range"),
        Index("ix_points_lots_account_open", "account_id", "expires_on", "remaining"),
    )


class LotMovement(db.Model):
    """Which lots a debit entry took its points from, so a reversal can put them back."""
    __tablename__ = "points_lot_movements"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("points_lots.id"), index=True)
    points: Mapped[int] = mapped_column(BigInteger)  # signed: - taken from the lot, + put back


class ValueLot(db.Model):
    """One credit of stored value (a top-up, its bonus, a staff credit): the principal
    (money the member paid) and the bonus (a reward) kept apart, and what is left of each.
    Spending takes from the lots (``WXCRM_STORED_VALUE_SPEND_ORDER``) and records each
    take as a ``ValueMovement``, so every fen is traceable from its credit to its spend or
    refund. For a stored-value account the lots' remainders always add up to the balance.
    ``source`` names what made the lot (``topup:12``), ``store_id`` where it was issued
    (the settlement between owners reads it)."""
    __tablename__ = "stored_value_lots"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    source: Mapped[str] = mapped_column(String(64), default="", index=True)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), nullable=True)
    principal: Mapped[int] = mapped_column(BigInteger, default=0)
    bonus: Mapped[int] = mapped_column(BigInteger, default=0)
    principal_left: Mapped[int] = mapped_column(BigInteger, default=0)
    bonus_left: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (
        CheckConstraint("principal_left >= 0 AND principal_left <= principal", name="principal_in_range"),
        CheckConstraint("bonus_left >= 0 AND bonus_left <= bonus", name="bonus_in_range"),
    )


class ValueMovement(db.Model):
    """What one stored-value entry did to one lot: + credited or put back, - taken."""
    __tablename__ = "stored_value_movements"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("stored_value_lots.id"), index=True)
    principal: Mapped[int] = mapped_column(BigInteger, default=0)
    bonus: Mapped[int] = mapped_column(BigInteger, default=0)
    # A put-back (refund of a purchase paid with stored value) names the spend it reverses.
    reverses_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"), nullable=True, index=True)
