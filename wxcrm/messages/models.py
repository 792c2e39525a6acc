"""The outbox's tables: messages, contact windows and the per-member monthly mass-send
counters."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from wxcrm.extensions import db
from wxcrm.timeutil import utcnow

# outbox channels, in the words of the platform
CHANNELS = ("template", "custom", "mass", "sms")
# pending -> sending -> sent; or -> parked (failed N times, or no channel may carry it)
OUTBOX_STATUSES = ("pending", "sending", "sent", "parked")


class Contact(db.Model):
    """When a WeChat user last wrote to us: customer-service messages may only be sent
    within 48 hours of it."""
    __tablename__ = "wechat_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    last_interaction_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class OutboxMessage(db.Model):
    """A message to a member, written in the transaction that caused it and sent later
    by the dispatcher. ``reason`` says why a channel was skipped or why it cannot go."""
    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))      # points_changed, birthday, campaign, ...
    channel: Mapped[str] = mapped_column(String(16))      # template, custom, mass, sms
    status: Mapped[str] = mapped_column(String(16), default="pending")
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True, index=True)
    openid: Mapped[str | None] = mapped_column(String(64), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    payload: Mapped[dict] = mapped_column(JSON)
    # Optional caller key (e.g. "birthday:2026:42") so a job that runs twice queues once.
    dedup_key: Mapped[str | None] = mapped_column(String(191), unique=True, nullable=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    remote_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    __table_args__ = (Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),)


class MassSendCount(db.Model):
    """Mass sends reach a user at most four times a month: one counter per member and month."""
    __tablename__ = "wechat_mass_counts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM, merchant time zone
    sent: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("member_id", "month"),)
