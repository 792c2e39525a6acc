"""The outbox: every message to a member is a row written in the caller's transaction.

``enqueue`` decides, there and then, which channel may carry the message, following the
platform's rules, and records why any better channel was skipped:

- template messages are service notices only (not marketing), need a template id per
  purpose, carry short plain fields (no colours since 2023) and reach followers only;
- customer-service ("custom") messages only within 48 hours of the user's last message
  to us (WeChat answers 45015 otherwise);
- mass sends reach a member at most four times a calendar month;
- SMS needs a phone number.

The dispatcher (``wxcrm.messages.dispatch``, driven by a job) sends rows later, outside any request.
Functions take a session, flush, never commit.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wxcrm.config import Settings
from wxcrm.errors import DomainError, NotFound
from wxcrm.members.models import Member
from wxcrm.messages.models import Contact, MassSendCount, OutboxMessage
from wxcrm.sqlutil import insert_missing
from wxcrm.timeutil import to_local, utcnow

# purpose -> channels in order of preference. Marketing never goes as a template message.
PURPOSES: dict[str, tuple[str, ...]] = {
    "points_changed": ("template", "sms"),
    "topup_done": ("template", "sms"),
    "coupon_received": ("template", "sms"),
    "coupon_expiring": ("template", "sms"),
    "membership_expiring": ("template", "sms"),
    "birthday": ("custom", "mass", "sms"),
    "campaign": ("custom", "mass", "sms"),
    "service_reply": ("custom",),
}
CUSTOM_WINDOW = timedelta(hours=48)
MASS_PER_MONTH = 4
# Template keyword types and their length limits (WeChat's 2023 template rules).
TEMPLATE_FIELD_LIMITS = {"thing": 20, "character_string": 32, "number": 32, "amount": 32, "time": 32,
                         "date": 32, "phrase": 5, "phone_number": 17, "car_number": 8, "const": 20}
DEFAULT_FIELD_LIMIT = 20
SMS_LIMIT = 300
TEXT_LIMIT = 600


@dataclass(frozen=True)
class Recipient:
    member_id: int | None
    openid: str | None
    phone: str | None
    followed: bool


def template_data(fields: Mapping[str, object]) -> dict[str, dict[str, str]]:
    """Template keywords as WeChat wants them now: plain values, cut to their type's limit."""
    data = {}
    for key, value in fields.items():
        kind = key.rstrip("0123456789")
        limit = TEMPLATE_FIELD_LIMITS.get(kind, DEFAULT_FIELD_LIMIT)
        text = str(value)
        data[key] = {"value": text if len(text) <= limit else text[:limit - 1] + "…"}
    return data


def month_of(now: datetime, tz: ZoneInfo) -> str:
    return to_local(now, tz).strftime("%Y-%m")


def last_interaction(session: Session, openid: str) -> datetime | None:
    return session.scalar(select(Contact.last_interaction_at).where(Contact.openid == openid))


def record_interaction(session: Session, openid: str, at: datetime) -> None:
    """The user wrote to us (message, menu click, follow, scan): the 48 h window reopens."""
    contact = session.scalar(select(Contact).where(Contact.openid == openid))
    if contact is None:
        insert_missing(session, Contact, "openid", openid=openid, last_interaction_at=at)
        contact = session.scalar(select(Contact).where(Contact.openid == openid))
    contact.last_interaction_at = max(contact.last_interaction_at, at)
    session.flush()


def _mass_count(session: Session, member_id: int, month: str, *, lock: bool) -> MassSendCount | None:
    stmt = select(MassSendCount).where(MassSendCount.member_id == member_id, MassSendCount.month == month)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def reserve_mass_send(session: Session, member_id: int, now: datetime, tz: ZoneInfo) -> int | None:
    """Take one of the member's monthly mass sends; None when all four are used.

    The counter row is locked, so two campaigns queued at once cannot both take the
    fourth. A rolled-back enqueue gives its send back.
    """
    month = month_of(now, tz)
    row = _mass_count(session, member_id, month, lock=True)
    if row is None:
        insert_missing(session, MassSendCount, "member_id", member_id=member_id, month=month, sent=0)
        row = _mass_count(session, member_id, month, lock=True)
    if row.sent >= MASS_PER_MONTH:
        return None
    row.sent += 1
    return row.sent


def release_mass_send(session: Session, member_id: int, sent_at_month: datetime, tz: ZoneInfo) -> None:
    row = _mass_count(session, member_id, month_of(sent_at_month, tz), lock=True)
    if row is not None and row.sent > 0:
        row.sent -= 1


def _choose_channel(session: Session, channels: tuple[str, ...], purpose: str, to: Recipient, now: datetime,
                    settings: Settings) -> tuple[str | None, list[str]]:
    """The first channel allowed for this recipient now, and why each earlier one was not."""
    skipped: list[str] = []
    for channel in channels:
        if channel in ("template", "custom", "mass"):
            if not to.openid:
                skipped.append(f"{channel}: member has no WeChat openid")
                continue
            if not to.followed:
                skipped.append(f"{channel}: member does not follow the account")
                continue
        if channel == "template":
            if purpose not in settings.wechat_template_ids:
                skipped.append(f"template: no template id configured for {purpose}")
                continue
        elif channel == "custom":
            last = last_interaction(session, to.openid)
            if last is None or now - last > CUSTOM_WINDOW:
                when = f"last message {last:%Y-%m-%d %H:%M} UTC" if last else "no message from the user"
                skipped.append(f"custom: outside the 48 h window ({when})")
                continue
        elif channel == "mass":
            if to.member_id is None or reserve_mass_send(session, to.member_id, now, settings.tz) is None:
                skipped.append(f"mass: monthly limit of {MASS_PER_MONTH} reached for {month_of(now, settings.tz)}")
                continue
        elif channel == "sms":
            if not to.phone:
                skipped.append("sms: member has no phone number")
                continue
        return channel, skipped
    return None, skipped


def _payload(channel: str, purpose: str, text: str, fields: Mapping | None, url: str | None,
             settings: Settings) -> dict:
    if channel == "template":
        data = template_data(fields or {"thing1": text})
        return {"template_id": settings.wechat_template_ids[purpose], "data": data, "url": url or "", "text": text}
    if channel == "sms":
        return {"text": text[:SMS_LIMIT]}
    body = text if not url else f"{text}\n{url}"
    return {"text": body[:TEXT_LIMIT], "fields": dict(fields or {}), "url": url or ""}


def recipient_for(member: Member) -> Recipient:
    return Recipient(member.id, member.openid, member.phone, bool(member.followed))


def enqueue(session: Session, settings: Settings, *, purpose: str, text: str, member: Member | None = None,
            openid: str | None = None, fields: Mapping[str, object] | None = None, url: str | None = None,
            dedup_key: str | None = None, now: datetime | None = None) -> OutboxMessage:
    """Queue one message in the caller's transaction and return its row.

    ``text`` is the message in words (custom, mass, SMS; the template's first field when no
    ``fields``); ``fields`` are the template keywords. With ``dedup_key`` a second call
    returns the first row. A message no channel may carry is stored parked, with the reason.
    """
    if purpose not in PURPOSES:
        raise DomainError(f"unknown message purpose {purpose}", code="unknown_message_purpose")
    if not text.strip():
        raise DomainError("a message needs text", code="empty_message")
    now = now or utcnow()
    if dedup_key:
        existing = session.scalar(select(OutboxMessage).where(OutboxMessage.dedup_key == dedup_key))
        if existing is not None:
            return existing
    to = recipient_for(member) if member is not None else Recipient(None, openid, None, bool(openid))
    channel, skipped = _choose_channel(session, PURPOSES[purpose], purpose, to, now, settings)
    row = OutboxMessage(purpose=purpose, channel=channel or PURPOSES[purpose][0], member_id=to.member_id,
                        openid=to.openid, phone=to.phone, dedup_key=dedup_key, attempts=0, last_error="",
                        payload=_payload(channel or PURPOSES[purpose][0], purpose, text, fields, url, settings)
                        | {"source_text": text, "source_fields": dict(fields or {}), "source_url": url or ""},
                        status="pending" if channel else "parked", next_attempt_at=now, created_at=now,
                        remote_id="", reason=_reason(skipped, cannot_go=channel is None))
    if dedup_key is None:
        session.add(row)
        session.flush()
        return row
    # A concurrent caller with the same key: whichever commits first wins, the other gets its row.
    values = {c.key: getattr(row, c.key) for c in OutboxMessage.__table__.columns if c.key != "id"}
    insert_missing(session, OutboxMessage, "dedup_key", **values)
    return session.scalar(select(OutboxMessage).where(OutboxMessage.dedup_key == dedup_key))


def _reason(skipped: list[str], *, cannot_go: bool) -> str:
    text = "; ".join(skipped)
    if cannot_go:
        text = "cannot go: " + (text or "no channel")
    return text[:500]


def reroute(session: Session, row: OutboxMessage, why: str, now: datetime, settings: Settings) -> None:
    """The channel refused at send time (window closed, user unfollowed): try the next ones."""
    member = session.get(Member, row.member_id) if row.member_id else None
    to = recipient_for(member) if member else Recipient(None, row.openid, row.phone, bool(row.openid))
    channels = PURPOSES[row.purpose]
    later = channels[channels.index(row.channel) + 1:] if row.channel in channels else ()
    channel, skipped = _choose_channel(session, later, row.purpose, to, now, settings)
    reason = "; ".join(filter(None, [row.reason, f"{row.channel}: {why}", *skipped]))
    if channel is None:
        row.status, row.reason = "parked", ("cannot go: " + reason)[:500]
    else:
        p = row.payload
        row.channel, row.status, row.reason = channel, "pending", reason[:500]
        row.payload = _payload(channel, row.purpose, p["source_text"], p.get("source_fields") or None,
                               p.get("source_url") or None, settings) | {
            k: p[k] for k in ("source_text", "source_fields", "source_url")}
        row.next_attempt_at = now
    row.claimed_by = row.claimed_until = None


def resend(session: Session, message_id: int, settings: Settings, now: datetime | None = None) -> OutboxMessage:
    """Put a parked message back in the queue, choosing its channel afresh (the member may
    have followed again, written to us, or entered a phone number since)."""
    now = now or utcnow()
    row = session.scalar(select(OutboxMessage).where(OutboxMessage.id == message_id).with_for_update())
    if row is None:
        raise NotFound(f"no outbox message {message_id}", code="outbox_message_not_found")
    if row.status != "parked":
        raise DomainError(f"message {message_id} is {row.status}, not parked", code="outbox_not_parked")
    member = session.get(Member, row.member_id) if row.member_id else None
    to = recipient_for(member) if member else Recipient(None, row.openid, row.phone, bool(row.openid))
    channel, skipped = _choose_channel(session, PURPOSES[row.purpose], row.purpose, to, now, settings)
    if channel is None:
        row.reason = _reason(skipped, cannot_go=True)
        raise DomainError(row.reason, code="outbox_cannot_go")
    p = row.payload
    row.payload = _payload(channel, row.purpose, p["source_text"], p.get("source_fields") or None,
                           p.get("source_url") or None, settings) | {
        k: p[k] for k in ("source_text", "source_fields", "source_url")}
    row.channel, row.status, row.attempts, row.last_error = channel, "pending", 0, ""
    row.reason = _reason(skipped, cannot_go=False)
    row.next_attempt_at, row.claimed_by, row.claimed_until = now, None, None
    session.flush()
    return row


def status_counts(session: Session) -> dict[str, int]:
    return dict(session.execute(select(OutboxMessage.status, func.count(OutboxMessage.id))
                                .group_by(OutboxMessage.status)).all())
