"""The outbox's tables: messages, customer-service windows, mass sends and the per-member
monthly mass-send counters."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wxcrm.extensions import db
from wxcrm.timeutil import utcnow

# outbox channels, in the words of the platform
CHANNELS = ("template", "custom", "mass", "sms", "card")   # card: a wallet member card update
# pending -> sending -> sent; or -> parked (failed N times, refused, or no channel may carry it); held while paused
OUTBOX_STATUSES = ("pending", "sending", "sent", "parked", "held")  # held: its campaign is paused
# a mass send: sending (claimed, WeChat not yet answered) -> submitted -> reported; or failed
MASS_STATUSES = ("sending", "submitted", "reported", "failed", "outside")


class Contact(db.Model):
    """A WeChat user's customer-service windows, opened by what they did (WeChat's rules):
    a message opens 48 h for 5 messages; a follow, QR scan or menu click 1 minute for 3;
    a payment 48 h without a count. A newer action of the same kind replaces the window."""
    __tablename__ = "wechat_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    message_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    message_used: Mapped[int] = mapped_column(Integer, default=0)
    event_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    event_used: Mapped[int] = mapped_column(Integer, default=0)
    payment_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class MassSend(db.Model):
    """One call to WeChat's mass send (2..10,000 openids, the same content), and the
    MASSSENDJOBFINISH report WeChat pushes for it. ``status`` "outside" records a mass
    send someone made elsewhere (the official-account console): it counts against every
    follower's four a month, since WeChat does not say whom it reached."""
    __tablename__ = "mass_sends"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_key: Mapped[str | None] = mapped_column(String(40), nullable=True)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    client_msg_id: Mapped[str] = mapped_column(String(64), default="")
    msg_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default="sending")
    error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # the report: WeChat's Status text and counts (FilterCount is how many were left to send to)
    reported_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    report_status: Mapped[str] = mapped_column(String(64), default="")
    total_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    filter_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sent_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # filtered or failed recipients wxcrm could not name (it moved the ones it could)
    unexplained: Mapped[int] = mapped_column(Integer, default=0)


class OutboxMessage(db.Model):
    """A message to a member, written in the transaction that caused it and sent later
    by the dispatcher. ``history`` is its fate step by step (skipped channels and why,
    moves, retries, parking), shown translated in the console; ``reason`` is the same
    in English for logs and the CLI."""
    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))      # points_changed, birthday, campaign, ...
    channel: Mapped[str] = mapped_column(String(16))      # template, custom, mass, sms
    status: Mapped[str] = mapped_column(String(16), default="pending")
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True, index=True)
    openid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    payload: Mapped[dict] = mapped_column(JSON)
    history: Mapped[list] = mapped_column(JSON, default=list)
    # Optional caller key (e.g. "birthday:2026:42") so a job that runs twice queues once.
    dedup_key: Mapped[str | None] = mapped_column(String(191), unique=True, nullable=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    remote_id: Mapped[str] = mapped_column(String(64), default="")
    # mass sends: messages with the same content_key go out together, in a MassSend
    content_key: Mapped[str | None] = mapped_column(String(40), nullable=True)
    mass_send_id: Mapped[int | None] = mapped_column(ForeignKey("mass_sends.id"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    __table_args__ = (Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),
                      Index("ix_outbox_messages_mass", "channel", "status", "content_key"),
                      Index("ix_outbox_messages_remote_id", "remote_id"))


class MassSendCount(db.Model):
    """Mass sends reach a user at most four times a month: one counter per member and month
    of the sends wxcrm queued for them."""
    __tablename__ = "wechat_mass_counts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM, merchant time zone
    sent: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("member_id", "month"),)
