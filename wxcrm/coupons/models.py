"""Coupon templates (what a coupon is worth and where it holds) and the coupons issued
from them (one row per coupon, with its code, owner, validity and fate)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxcrm.extensions import db
from wxcrm.timeutil import utcnow

TYPES = ("cash", "percent", "gift", "free_item", "spend_get")
STATUSES = ("available", "used", "void")           # "expired" is available with valid_until in the past
CHANNELS = ("rule", "manual", "campaign", "exchange", "scan")


class CouponTemplate(db.Model):
    """A coupon as the marketer designs it. Money in fen. ``restrictions`` holds the lists
    (stores, store kinds, SKUs and categories included or excluded, tiers, weekdays, hours),
    validated by ``wxcrm.coupons.service.clean_restrictions``."""
    __tablename__ = "coupon_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    title_zh: Mapped[str] = mapped_column(String(60))
    title_en: Mapped[str] = mapped_column(String(60), default="")
    description_zh: Mapped[str] = mapped_column(String(255), default="")
    description_en: Mapped[str] = mapped_column(String(255), default="")
    color: Mapped[str] = mapped_column(String(7), default="#07c160")
    face_value_fen: Mapped[int] = mapped_column(BigInteger, default=0)    # cash, spend_get; a gift's worth
    percent_off: Mapped[int] = mapped_column(Integer, default=0)          # percent: 1..99
    cap_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # percent: at most this off
    item_sku: Mapped[str] = mapped_column(String(64), default="")         # gift, free_item
    min_spend_fen: Mapped[int] = mapped_column(BigInteger, default=0)     # spend_get: the X of "spend X"
    valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)  # fixed dates ...
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_days: Mapped[int | None] = mapped_column(Integer, nullable=True)  # ... or N days from issue
    start_delay_days: Mapped[int] = mapped_column(Integer, default=0)
    restrictions: Mapped[dict] = mapped_column(JSON, default=dict)
    combinable: Mapped[bool] = mapped_column(Boolean, default=False)     # with other coupons
    with_points: Mapped[bool] = mapped_column(Boolean, default=True)     # with paying by points
    stock_total: Mapped[int | None] = mapped_column(Integer, nullable=True)   # None: unlimited
    issued_count: Mapped[int] = mapped_column(Integer, default=0)
    per_member_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    points_price: Mapped[int | None] = mapped_column(Integer, nullable=True)  # exchangeable for points in H5
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    def title(self, locale: str) -> str:
        return self.title_zh if locale.startswith("zh") or not self.title_en else self.title_en


class Coupon(db.Model):
    """One coupon in one member's wallet. ``valid_until`` is its last valid business day."""
    __tablename__ = "coupons"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("coupon_templates.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    status: Mapped[str] = mapped_column(String(16), default="available")
    channel: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(255), default="")
    # What issued it, unique: a rule's effect at an occasion, a staff request, an exchange.
    source_ref: Mapped[str] = mapped_column(String(128), unique=True)
    rule_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    issued_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    used_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"), nullable=True,
                                                            index=True)
    used_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), nullable=True)
    used_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)  # a gift's hand-over
    discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    basket_fen: Mapped[int] = mapped_column(BigInteger, default=0)      # the basket it was used on
    restored_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    reminded_on: Mapped[date | None] = mapped_column(Date, nullable=True)

    template: Mapped[CouponTemplate] = relationship()

    __table_args__ = (
        Index("ix_coupons_member_status", "member_id", "status", "valid_until"),
        Index("ix_coupons_status_until", "status", "valid_until"),
        Index("ix_coupons_issued_at", "issued_at"),     # the coupons report: issued per period
        Index("ix_coupons_used_at", "used_at"),         # ... and used per period
    )
