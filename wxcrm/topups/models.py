"""Top-ups. The money itself lives in the stored-value ledger (``wxcrm.ledger``: one lot per
top-up, principal and bonus apart); a ``Topup`` is the business record: who paid what, how,
where, and what the rules gave for it."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from wxcrm.extensions import db
from wxcrm.timeutil import utcnow

TOPUP_METHODS = ("cash", "card", "wechat_pay", "other")
TOPUP_CHANNELS = ("counter", "wechat")
# pending: a WeChat Pay order not paid yet; paid: credited; refunded: its money went back;
# closed: the order expired or failed and credited nothing; refunding: taken off the card, the
# money on its way back through WeChat Pay's refund (then refunded).
TOPUP_STATUSES = ("pending", "paid", "refunding", "refunded", "closed")


class Topup(db.Model):
    __tablename__ = "topups"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), nullable=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    channel: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    amount_fen: Mapped[int] = mapped_column(BigInteger)            # the principal: what the member paid
    bonus_fen: Mapped[int] = mapped_column(BigInteger, default=0)   # stored-value bonus the rules gave
    bonus_points: Mapped[int] = mapped_column(BigInteger, default=0)
    # WeChat Pay: our order number (the notify's idempotency key) and WeChat's.
    out_trade_no: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    wechat_transaction_id: Mapped[str] = mapped_column(String(64), default="")
    prepay_id: Mapped[str] = mapped_column(String(64), default="")
    refunded_principal_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_bonus_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_points_back: Mapped[int] = mapped_column(BigInteger, default=0)
    business_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    receipt: Mapped[dict] = mapped_column(JSON, default=dict)

    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        Index("ix_topups_member_status", "member_id", "status"),
        Index("ix_topups_status_created", "status", "created_at"),
    )


class SettlementPeriod(db.Model):
    """A closed month of the settlement between owners: its lines as they were at closing,
    and the last ledger entry they saw (anything later counts in the next open month)."""
    __tablename__ = "settlement_periods"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(7), unique=True)      # YYYY-MM, merchant time
    closed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    last_entry_id: Mapped[int] = mapped_column(BigInteger, default=0)
    lines: Mapped[list] = mapped_column(JSON, default=list)


MEMBERSHIP_CHANNELS = ("counter", "wechat")
# paid: the membership was given; pending: a WeChat Pay order not paid yet; closed: the order
# expired unpaid; refunding/refunded: paid after the membership was closed, so the money goes
# back through WeChat Pay's refund instead of buying anything.
MEMBERSHIP_STATUSES = ("pending", "paid", "closed", "refunding", "refunded")


class MembershipPurchase(db.Model):
    """A tier and a membership term bought (paid membership): what was paid, how, and the
    membership it gave. Paid with stored value it names its ledger entry; bought by WeChat
    Pay from the H5 page it carries its order (``out_trade_no``), like a WeChat top-up."""
    __tablename__ = "membership_purchases"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    tier_id: Mapped[int] = mapped_column(ForeignKey("tiers.id"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), nullable=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    price_fen: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(16))
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"), nullable=True)
    months: Mapped[int] = mapped_column(Integer)
    expires_on: Mapped[date] = mapped_column(Date)     # the membership's end after this purchase
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    receipt: Mapped[dict] = mapped_column(JSON, default=dict)
    channel: Mapped[str] = mapped_column(String(16), default="counter", server_default="counter")
    status: Mapped[str] = mapped_column(String(16), default="paid", server_default="paid")
    out_trade_no: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    wechat_transaction_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    prepay_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
    paid_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    __table_args__ = (
        Index("ix_membership_purchases_status_created", "status", "created_at"),
    )
