"""A member's phone number, verified by a code texted to it (the outbox's SMS provider, sent
at once). The number is the member's only after they type the code back: 5 minutes, 5 wrong
tries. A number another membership holds is refused here: that member binds instead."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxcrm.cards.models import PresenceCode
from wxcrm.config import Settings
from wxcrm.errors import N_, DomainError
from wxcrm.members import service as members
from wxcrm.members.models import Member
from wxcrm.messages import outbox
from wxcrm.messages.models import OutboxMessage
from wxcrm.messages.sms import mobile

LIFETIME = timedelta(minutes=5)
MAX_WRONG_TRIES = 5


def _hash(settings: Settings, member_id: int, phone: str, code: str) -> str:
    return hmac.new(settings.member_code_secret.encode(), f"phone:{member_id}:{phone}:{code}".encode(),
                    hashlib.sha256).hexdigest()


def _check_phone(session: Session, member: Member, phone: str) -> str:
    phone = (phone or "").strip()
    if not mobile(phone):
        raise DomainError(N_("phone must be an 11-digit mainland mobile number"), code="invalid_phone",
                          fields={"phone": "invalid"})
    other = members.find_member(session, phone=phone)
    if other is not None and other.id != member.id:
        raise DomainError(N_("another membership has this phone: use “Already a member?” on your card page"),
                          code="phone_taken", fields={"phone": "taken"})
    return phone


def send_phone_code(session: Session, settings: Settings, *, member: Member, phone: str,
                    now: datetime) -> OutboxMessage:
    phone = _check_phone(session, member, phone)
    recent = session.scalars(select(PresenceCode.id).where(PresenceCode.member_id == member.id,
                                                          PresenceCode.channel == "phone",
                                                          PresenceCode.created_at > now - LIFETIME)).all()
    if len(recent) >= 3:
        raise DomainError(N_("too many codes for this phone: wait a few minutes"), code="phone_too_many", status=429)
    code = f"{secrets.randbelow(10 ** 6):06d}"
    session.add(PresenceCode(member_id=member.id, code_hash=_hash(settings, member.id, phone, code), created_at=now,
                             expires_at=now + LIFETIME, wrong_tries=0, channel="phone"))
    message = outbox.enqueue(session, settings, purpose="verify_phone", member=member, phone=phone, now=now,
                             text=f"您的验证码 {code}，5分钟内有效。", fields={"code": code})
    session.flush()
    return message


def verify_phone(session: Session, settings: Settings, *, member: Member, phone: str, code: str,
                 now: datetime) -> None:
    """Set the member's phone if ``code`` is the one texted to it. A wrong code counts a try
    (flushed: the caller commits it although it shows the error)."""
    phone = _check_phone(session, member, phone)
    row = session.scalar(select(PresenceCode).where(PresenceCode.member_id == member.id,
                                                    PresenceCode.channel == "phone")
                         .order_by(PresenceCode.id.desc()).limit(1).with_for_update())
    if row is None or row.used_at is not None:
        raise DomainError(N_("send a code to this phone first"), code="phone_code_missing", fields={"code": "none"})
    if row.wrong_tries >= MAX_WRONG_TRIES:
        raise DomainError(N_("too many wrong codes: send a new one"), code="phone_code_locked",
                          fields={"code": "locked"})
    if now >= row.expires_at:
        raise DomainError(N_("the code has expired: send a new one"), code="phone_code_expired",
                          fields={"code": "expired"})
    if not hmac.compare_digest(row.code_hash, _hash(settings, member.id, phone, (code or "").strip())):
        row.wrong_tries += 1
        session.flush()
        raise DomainError(N_("the code is wrong"), code="phone_code_wrong", fields={"code": "wrong"})
    row.used_at = now
    if member.phone != phone:
        members.record_change(session, member, "phone", members.mask_phone(member.phone) or "",
                              members.mask_phone(phone), source="member", reason=N_("verified by a texted code"),
                              at=now)
        member.phone = phone
    session.flush()
