"""The cards' tables: a card's state (its generation and whether it is frozen), retired card
numbers, member codes that paid for a sale, one-time presence codes, the stores' card
settings and QR codes, and scan-to-earn claims."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wxcrm.extensions import db
from wxcrm.timeutil import utcnow

BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class CardState(db.Model):
    """A member's card beyond its number (``members.card_no``). No row: generation 0, not
    frozen. A replacement raises the generation, which kills every member code signed
    before it."""
    __tablename__ = "card_states"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    frozen_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    frozen_reason: Mapped[str] = mapped_column(String(255), default="")


class RetiredCardNumber(db.Model):
    """A card number replaced by a new one: the till refuses it and says so."""
    __tablename__ = "retired_card_numbers"

    card_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    retired_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(String(24), default="replaced")   # replaced | merged


class SpentMemberCode(db.Model):
    """A member code that paid for a spending sale: each pays for one (the unique key)."""
    __tablename__ = "spent_member_codes"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    tick: Mapped[int] = mapped_column(BigInteger)            # the code's 10-second counter
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("member_id", "tick", name="uq_spent_member_codes_member_tick"),)


class PresenceCode(db.Model):
    """A one-time code sent to the member at a cashier's request, proving the member is at
    the till. Only its hash is kept; it expires and locks after too many wrong tries."""
    __tablename__ = "presence_codes"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), nullable=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    wrong_tries: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    channel: Mapped[str] = mapped_column(String(16), default="")    # where it went: template | sms


class StoreCardSettings(db.Model):
    """A store's card settings and its permanent WeChat QR code (scene ``store_<code>``)."""
    __tablename__ = "store_card_settings"

    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), primary_key=True)
    # A typed card number alone may spend points and stored value here (off: it only earns).
    typed_card_spends: Mapped[bool] = mapped_column(Boolean, default=False)
    qr_scene: Mapped[str] = mapped_column(String(64), default="")
    qr_ticket: Mapped[str] = mapped_column(String(255), default="")
    qr_url: Mapped[str] = mapped_column(String(255), default="")
    qr_created_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class PurchaseClaim(db.Model):
    """Scan-to-earn: a purchase rung up without a member, and the token its receipt prints.
    A member who scans it claims the purchase once (``member_id`` set under a row lock)."""
    __tablename__ = "purchase_claims"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True, index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    # What was left of the purchase (net of discounts, fen) when it was claimed: the claim's
    # points were given on this, so a later refund takes them back in proportion to it.
    net_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ReferralQr(db.Model):
    """A member's own referral QR code: temporary (WeChat allows 100,000 permanent codes an
    account), scene ``ref_<member id>``, renewed when the member opens the page near its end."""
    __tablename__ = "referral_qr_codes"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    ticket: Mapped[str] = mapped_column(String(255))
    url: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class WalletCard(db.Model):
    """The account's WeChat wallet member card (MEMBER_CARD), made once through the card API."""
    __tablename__ = "wallet_cards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    card_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # made with the member fields (tier, coupons, stored value); a card made before shows points only
    member_fields: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class WalletMember(db.Model):
    """A member's copy of the wallet card: its code is the member's card number (custom code),
    got when the member added it, activated through WeChat's activation form."""
    __tablename__ = "wallet_members"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    card_id: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    got_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    viewed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # the values last queued for the card (bonus, custom_field_value1..3): what it shows
    sent: Mapped[dict | None] = mapped_column(JSON, nullable=True)
