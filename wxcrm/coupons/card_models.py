"""A coupon template made a WeChat card coupon (卡券), and the coupons members added to
their WeChat card wallet (``wxcrm.coupons.wallet_card``)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from wxcrm.extensions import db
from wxcrm.timeutil import utcnow

# pending: WeChat is reviewing the card; approved: members may add it; rejected: WeChat said no
CARD_STATUSES = ("pending", "approved", "rejected")


class CouponCard(db.Model):
    """The WeChat card (one ``card_id``) a template's coupons are added to the wallet as.
    A template sent again after a rejection gets a new card; codes keep the card they were
    added with (``CouponCardCode.card_id``)."""
    __tablename__ = "coupon_wechat_cards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("coupon_templates.id"), unique=True)
    card_id: Mapped[str] = mapped_column(String(64), unique=True)
    card_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    refuse_reason: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class CouponCardCode(db.Model):
    """One coupon in a member's WeChat card wallet: its WeChat code is the coupon's own code
    (a custom code), so the till reads the same code from either QR."""
    __tablename__ = "coupon_wechat_codes"

    coupon_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), ForeignKey("coupons.id"),
                                           primary_key=True)
    card_id: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(20), unique=True)
    openid: Mapped[str] = mapped_column(String(64))
    got_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)     # the member deleted it
    consumed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)    # WeChat says consumed
    consume_source: Mapped[str] = mapped_column(String(32), default="")
