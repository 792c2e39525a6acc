"""Marketing's tables: greeting templates, RFM thresholds, segments, campaigns and who each
campaign chose (target or control)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxcrm.extensions import db
from wxcrm.timeutil import utcnow

GREETING_KINDS = ("birthday", "holiday")
# sending: its messages are being written to the outbox; done: all are there (the dispatcher sends them)
CAMPAIGN_STATUSES = ("draft", "scheduled", "sending", "paused", "done", "cancelled")


class Greeting(db.Model):
    """A ready greeting a marketer enables, edits, schedules for a time of day and may attach
    a coupon to: the birthday greeting (WXCRM_BIRTHDAY_GREETING_DAYS before), or a holiday (its date
    each year from ``holidays``; the brand's own dates carry ``month``/``day``)."""
    __tablename__ = "greetings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="holiday")
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    send_time: Mapped[str] = mapped_column(String(5), default="10:00")   # HH:MM, merchant time zone
    month: Mapped[int | None] = mapped_column(Integer, nullable=True)    # the brand's own dates
    day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # the coupon template issued with the greeting (the coupons package issues it; None: no coupon)
    coupon_template_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class RfmThreshold(db.Model):
    """The thresholds of the ready RFM classes (editable in the console)."""
    __tablename__ = "rfm_thresholds"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class Segment(db.Model):
    """A saved filter over members' profile and behaviour (``segments.FIELDS``)."""
    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    filters: Mapped[list] = mapped_column(JSON, default=list)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Campaign(db.Model):
    """A message to a segment from a start time, with an optional random control group that
    gets nothing. Its members are chosen once (``CampaignMember``), queued set-based in the
    outbox under the keys ``campaign:{id}:m{member}``, so nobody gets it twice."""
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id"))
    filters: Mapped[list] = mapped_column(JSON, default=list)        # the segment as it was when queued
    purpose: Mapped[str] = mapped_column(String(32), default="campaign")   # the outbox kind: its channels
    text: Mapped[str] = mapped_column(Text)
    start_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    control_pct: Mapped[int] = mapped_column(Integer, default=0)
    coupon_template_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    # the feed's cursor: every target member up to this id has its message in the outbox
    fed_through: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    segment: Mapped[Segment] = relationship()

    __table_args__ = (Index("ix_campaigns_status_start", "status", "start_at"),)


class CampaignMember(db.Model):
    """A member a campaign chose: in the target group (sent to) or the control group (not)."""
    __tablename__ = "campaign_members"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    control: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (UniqueConstraint("campaign_id", "member_id"),)
