from __future__ import annotations

from datetime import date, datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxcrm.extensions import db
from wxcrm.timeutil import utcnow

STORE_KINDS = ("direct", "franchise")
ROLES = ("admin", "marketer", "cashier", "manager")
# Roles that work at one store's till: a manager is a cashier who may also refund and approve
# sales above WXCRM_SALE_APPROVAL_FEN, at their store.
STORE_ROLES = ("cashier", "manager")
# "closed": the member closed their membership; the profile is anonymised, the ledgers kept.
MEMBER_STATUSES = ("active", "expired", "cancelled", "closed")
GENDERS = ("male", "female", "unknown")


class Franchisee(db.Model):
    """The owner of franchise stores (a direct store's owner is the brand). Stored value
    taken at one owner's store and spent at another's is settled between the two."""
    __tablename__ = "franchisees"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Store(db.Model):
    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16), default="direct")
    address: Mapped[str] = mapped_column(String(255), default="")
    city: Mapped[str] = mapped_column(String(64), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # A franchise store's owner (None: the brand's own store).
    franchisee_id: Mapped[int | None] = mapped_column(ForeignKey("franchisees.id"), nullable=True)

    __table_args__ = (CheckConstraint("kind in ('direct', 'franchise')", name="kind"),)


class Staff(UserMixin, db.Model):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # Wrong passwords in a row, and the lock-out they earned (doubling each time); shown to admins.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # Part of every session cookie's user id: raising it (logout, password change, disabling)
    # ends every session of this staff member at once, on every worker.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)

    store: Mapped[Store | None] = relationship()

    __table_args__ = (CheckConstraint("role in ('admin', 'marketer', 'cashier', 'manager')", name="role"),)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:  # Flask-Login: what the session cookie holds
        return f"{self.id}:{self.session_epoch}"

    @property
    def works_at_a_store(self) -> bool:
        return self.role in STORE_ROLES


class ApiToken(db.Model):
    """A staff bearer token. Only its SHA-256 is kept; the token is shown once."""
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # first characters, to tell tokens apart
    name: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    staff: Mapped[Staff] = relationship()


class Tier(db.Model):
    __tablename__ = "tiers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64), default="")
    rank: Mapped[int] = mapped_column(Integer, unique=True)
    # Rolling 12-month spend (fen) that qualifies a member for this tier.
    upgrade_threshold_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # Paid membership (issue 13): the tier can be bought for this price (None: not for sale),
    # for this many months of membership.
    price_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    term_months: Mapped[int] = mapped_column(Integer, default=12)


class GroupAccount(db.Model):
    """A company or club that holds several member cards."""
    __tablename__ = "group_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    contact_name: Mapped[str] = mapped_column(String(64), default="")
    contact_phone: Mapped[str] = mapped_column(String(20), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Member(db.Model):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    card_no: Mapped[str] = mapped_column(String(32), unique=True)
    openid: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    unionid: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True, nullable=True)
    name: Mapped[str] = mapped_column(String(64), default="")
    gender: Mapped[str] = mapped_column(String(8), default="unknown")
    birthday: Mapped[date | None] = mapped_column(Date, nullable=True)
    district: Mapped[str] = mapped_column(String(64), default="")
    occupation: Mapped[str] = mapped_column(String(64), default="")
    education: Mapped[str] = mapped_column(String(32), default="")
    income_band: Mapped[str] = mapped_column(String(32), default="")
    home_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), nullable=True, index=True)
    referrer_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True, index=True)
    tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id"), nullable=True)
    # A tier set by staff holds (no automatic downgrade below it) through this date.
    tier_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("group_accounts.id"), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    followed: Mapped[bool] = mapped_column(Boolean, default=False)
    joined_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    # PIPL: the privacy notice version the member accepted (None: not yet; no profile kept),
    # and the separate marketing consent campaigns honour.
    privacy_version: Mapped[str | None] = mapped_column(String(16), nullable=True)
    privacy_consented_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    marketing_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # Coupons in the wallet not yet used (wxcrm.coupons keeps it): 0 spares the till a query.
    coupons_held: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    home_store: Mapped[Store | None] = relationship()
    tier: Mapped[Tier | None] = relationship()
    group: Mapped[GroupAccount | None] = relationship()
    referrer: Mapped["Member | None"] = relationship(remote_side=[id])

    __table_args__ = (
        CheckConstraint("status in ('active', 'expired', 'cancelled', 'closed')", name="status"),
        CheckConstraint("gender in ('male', 'female', 'unknown')", name="gender"),
        Index("ix_members_joined_on", "joined_on"),  # the new-members report
    )


CONSENT_KINDS = ("privacy", "marketing")
CONSENT_CHANNELS = ("h5", "staff", "wechat", "sms")  # wechat, sms: an opt-out reply


class ConsentRecord(db.Model):
    """Every consent given or withdrawn, with the notice version and who recorded it (PIPL)."""
    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[str] = mapped_column(String(16), default="")
    granted: Mapped[bool] = mapped_column(Boolean)
    channel: Mapped[str] = mapped_column(String(16))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class MemberAccess(db.Model):
    """A staff action on a member's personal data: a look-up, a view, an enrolment, an export."""
    __tablename__ = "member_access_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True, index=True)
    action: Mapped[str] = mapped_column(String(24))     # lookup, view, ledger, enrol, sale
    channel: Mapped[str] = mapped_column(String(16))    # api, till, console
    detail: Mapped[str] = mapped_column(String(120), default="")  # e.g. "by phone" (never the phone)


class MembershipClosure(db.Model):
    """A member closed their membership: what was left on the accounts, and the stored-value
    refund they are owed (the stored-value flow pays it)."""
    __tablename__ = "membership_closures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), unique=True)
    closed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    points_forfeited: Mapped[int] = mapped_column(BigInteger, default=0)
    stored_value_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # none: nothing owed; requested: finance owes the counter part; paid: finance paid it;
    # wechat: all of it goes back through WeChat Pay's refunds (the top-ups say how far).
    refund_status: Mapped[str] = mapped_column(String(16), default="none")
    # Of ``stored_value_fen``: the part going back to the member's WeChat Pay (the top-ups paid
    # that way, refunded through WeChat Pay's refund API); the rest was paid in at a counter
    # and finance pays it out, then marks the refund paid.
    refund_wechat_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    refund_paid_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    refund_paid_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
# What a member-history row may name: the tier, the membership and the profile.
HISTORY_FIELDS = ("tier", "tier_until", "expires_on", "status", "name", "gender", "birthday", "district",
                  "occupation", "education", "income_band", "home_store",
                  # the card (wxcrm.cards): reported lost / found, replaced by a new number, merged
                  "card_status", "card_no", "merged", "group", "phone")
HISTORY_SOURCES = ("staff", "spend", "month_end", "group", "rule", "member")


class MemberChange(db.Model):
    """One change to a member's tier, membership or profile: what changed (field, before,
    after), who (staff, or the rule, the spend review, the member), when and why.
    Append-only, like the ledgers."""
    __tablename__ = "member_changes"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    field: Mapped[str] = mapped_column(String(24))
    old_value: Mapped[str] = mapped_column(String(120), default="")
    new_value: Mapped[str] = mapped_column(String(120), default="")
    source: Mapped[str] = mapped_column(String(16))          # one of HISTORY_SOURCES
    reason: Mapped[str] = mapped_column(String(255), default="")
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    rule_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The purchase or refund that caused it (a tier going up at once after a purchase).
    transaction_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    staff: Mapped[Staff | None] = relationship()

    __table_args__ = (Index("ix_member_changes_member_id_id", "member_id", "id"),)


class CardNumberSequence(db.Model):
    """One row per prefix; card numbers come from a locked counter, never from max(id)+1."""
    __tablename__ = "card_number_sequences"

    prefix: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_value: Mapped[int] = mapped_column(BigInteger, default=1)


class ReferenceRevision(db.Model):
    """One row: a token that changes with every write to what the till reads on every sale
    and rarely changes (API tokens, staff, stores, tiers, the rules). Each worker caches
    those and reads only this token per request (``wxcrm.members.cache``)."""
    __tablename__ = "reference_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
