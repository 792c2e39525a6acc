from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxcrm.extensions import db
from wxcrm.timeutil import utcnow


class Transaction(db.Model):
    """A purchase or a refund rung up at a till. Amounts are fen, points integers."""
    __tablename__ = "transactions"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # purchase | refund
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    original_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"), nullable=True, index=True)
    payment_method: Mapped[str] = mapped_column(String(24), default="cash")
    total_fen: Mapped[int] = mapped_column(BigInteger)
    discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    points_redeemed_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    payable_fen: Mapped[int] = mapped_column(BigInteger)
    points_earned: Mapped[int] = mapped_column(BigInteger, default=0)
    points_redeemed: Mapped[int] = mapped_column(BigInteger, default=0)
    # Refunds only: earned points the member had already spent, charged against the refund.
    points_shortfall: Mapped[int] = mapped_column(BigInteger, default=0)
    receipt: Mapped[dict] = mapped_column(JSON)  # the response body, as first answered
    business_date: Mapped[date] = mapped_column(Date)
    # When the sale happened (an offline till's occurred_at) and when wxcrm got it.
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    recorded_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, default=utcnow)

    items: Mapped[list["TransactionItem"]] = relationship(order_by="TransactionItem.line_no",
                                                          back_populates="transaction")
    benefits: Mapped[list["TransactionBenefit"]] = relationship(order_by="TransactionBenefit.id")

    __table_args__ = (
        Index("ix_transactions_member_date", "member_id", "business_date"),
        Index("ix_transactions_store_date", "store_id", "business_date"),
        Index("ix_transactions_business_date", "business_date"),
        # Distinct buying members over a range of days (reports), read from the index alone.
        Index("ix_transactions_date_member", "business_date", "member_id", "kind"),
    )


class TransactionItem(db.Model):
    __tablename__ = "transaction_items"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(64), default="")
    qty: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int] = mapped_column(BigInteger)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # For a purchase line: how many units have been refunded so far.
    refunded_qty: Mapped[int] = mapped_column(Integer, default=0)

    transaction: Mapped[Transaction] = relationship(back_populates="items")


class TransactionBenefit(db.Model):
    """One benefit on a receipt and why: which rule (and version) gave it."""
    __tablename__ = "transaction_benefits"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("transactions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    rule_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rule_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rule_name: Mapped[str] = mapped_column(String(120), default="")
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    text_zh: Mapped[str] = mapped_column(String(255), default="")
    text_en: Mapped[str] = mapped_column(String(255), default="")
