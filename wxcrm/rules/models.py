"""Stored rules, their versions, and what they have already given (limits and budgets).

The engine never reads these tables: ``wxcrm.rules.service`` loads the live rule set,
compiles it once per revision, and gives the engine plain data.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wxcrm.extensions import db
from wxcrm.timeutil import utcnow

RULE_STATUSES = ("draft", "active", "paused", "archived")


class Rule(db.Model):
    __tablename__ = "rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    event: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    versions: Mapped[list["RuleVersion"]] = relationship(order_by="RuleVersion.version", back_populates="rule")


class RuleVersion(db.Model):
    """An immutable definition. Every edit adds one; transactions name the version they used."""
    __tablename__ = "rule_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.id"))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    rule: Mapped[Rule] = relationship(back_populates="versions")

    __table_args__ = (UniqueConstraint("rule_id", "version"),)


class RuleStatusChange(db.Model):
    """A rule's status from a moment on (draft, active, paused, archived): with the versions'
    ``created_at`` it says which rules were in force at any moment (``live.rule_set_at``),
    so a purchase claimed later is credited by the rules as they were at the purchase."""
    __tablename__ = "rule_status_changes"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RuleSetState(db.Model):
    """One row: bumped with every change to any rule, so workers know to recompile.
    ``token`` is new at every bump, so a restored or rebuilt database never matches a
    stale compiled set by revision number alone."""
    __tablename__ = "rule_set_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    token: Mapped[str] = mapped_column(String(32), default="")


class RuleUsage(db.Model):
    """How often a rule gave a member something: per business day, month, calendar year,
    membership year and lifetime."""
    __tablename__ = "rule_usage"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    period: Mapped[str] = mapped_column(String(8))       # day | month | year | myear | life
    period_key: Mapped[str] = mapped_column(String(10))  # 2026-11-23 | 2026-11 | 2026 | 2026-03-15 | -
    count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (UniqueConstraint("rule_id", "member_id", "period", "period_key"),)


class RuleBudget(db.Model):
    """What a rule with a total budget has given to all members together."""
    __tablename__ = "rule_budgets"

    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.id"), primary_key=True, autoincrement=False)
    points_used: Mapped[int] = mapped_column(BigInteger, default=0)
    fen_used: Mapped[int] = mapped_column(BigInteger, default=0)


class ReferralPayout(db.Model):
    """A referral rule paid the referrer for one referred member: each rule pays once per
    referred member (the unique key), at signup or at a later purchase of theirs."""
    __tablename__ = "referral_payouts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.id"))
    referred_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    referrer_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    rule_version: Mapped[int] = mapped_column(Integer, default=1)
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"), nullable=True,
                                                       index=True)  # the purchase, if any
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    fen: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("rule_id", "referred_id"),)


class RuleEventRun(db.Model):
    """A daily member event (birthday, membership expiry) handled for one member on one
    business date: the key that makes a rerun, or a second leader, change nothing."""
    __tablename__ = "rule_event_runs"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    event: Mapped[str] = mapped_column(String(32))
    business_date: Mapped[date] = mapped_column(Date)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    effects: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("event", "business_date", "member_id"),)


class RuleDayDone(db.Model):
    """A daily event finished for a business date; the job catches up from the last one."""
    __tablename__ = "rule_days_done"

    event: Mapped[str] = mapped_column(String(32), primary_key=True)
    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    members: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
