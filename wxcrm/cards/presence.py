"""Proof that the member is at the till before a sale spends their points or stored value.

Spending needs one of:

- the member's dynamic code (``codes``), which pays for one spending sale only;
- a one-time presence code sent to the member's WeChat (or SMS) at the cashier's request:
  six digits, valid ``PRESENCE_LIFETIME``, locked after ``MAX_WRONG_TRIES`` wrong tries;
- at a store whose setting allows it, the typed card number alone.

A frozen card (reported lost) spends nothing. ``check_spending_presence`` is the one call
checkout (points) and the stored-value flow make; it runs only when a sale spends, under
the member's row lock, so a purchase that spends nothing pays no query for it.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from wxcrm.cards.codes import card_state, read_member_code
from wxcrm.cards.models import PresenceCode, SpentMemberCode, StoreCardSettings
from wxcrm.config import Settings
from wxcrm.errors import N_, DomainError, NotFound
from wxcrm.members import service as members
from wxcrm.members.models import Member, Staff, Store
from wxcrm.messages import outbox
from wxcrm.messages.models import OutboxMessage

PRESENCE_LIFETIME = timedelta(minutes=5)
MAX_WRONG_TRIES = 5
# A cashier asks for at most this many codes for one member in PRESENCE_LIFETIME.
MAX_CODES_PER_WINDOW = 3


class PresenceRefused(DomainError):
    status = 403


def _hash(secret: str, member_id: int, code: str) -> str:
    return hmac.new(secret.encode(), f"presence:{member_id}:{code}".encode(), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- one-time codes

def member_for_presence(session: Session, *, card_no: str | None, phone: str | None) -> Member:
    member = None
    if card_no:
        member = members.find_member(session, card_no=card_no)
    elif phone:
        member = members.find_member(session, phone=phone)
    if member is None or member.status == "closed":
        raise NotFound(N_("no member with that card"), code="member_not_found")
    return member


def request_presence_code(session: Session, settings: Settings, *, member: Member, store: Store | None,
                          staff: Staff | None, now: datetime) -> tuple[PresenceCode, OutboxMessage]:
    """Make a one-time code and queue it to the member (WeChat, else SMS). The caller
    commits, then sends the message at once (``dispatch.send_now``). Returns the code's row
    and its message (parked when no channel reaches the member)."""
    state = card_state(session, member.id)
    if state is not None and state.frozen_at is not None:
        raise PresenceRefused(N_("this card is frozen: it was reported lost"), code="card_frozen")
    recent = session.scalars(select(PresenceCode.id).where(PresenceCode.member_id == member.id,
                                                          PresenceCode.created_at > now - PRESENCE_LIFETIME)).all()
    if len(recent) >= MAX_CODES_PER_WINDOW:
        raise DomainError(N_("too many codes for this member: wait a few minutes"), code="presence_code_too_many",
                          status=429)
    code = f"{secrets.randbelow(10 ** 6):06d}"
    row = PresenceCode(member_id=member.id, code_hash=_hash(settings.member_code_secret, member.id, code),
                       store_id=store.id if store else None, staff_id=staff.id if staff else None,
                       created_at=now, expires_at=now + PRESENCE_LIFETIME, wrong_tries=0)
    session.add(row)
    store_name = store.name if store else settings.brand_name
    message = outbox.enqueue(session, settings, purpose="presence_code", member=member, now=now,
                             text=f"您在{store_name}的验证码 {code}，5分钟内有效，请告诉收银员。",
                             fields={"code": code, "store": store_name})
    row.channel = message.channel if message.status == "pending" else ""
    session.flush()
    return row, message


def _check_presence_code(session: Session, settings: Settings, member: Member, code: str, now: datetime) -> None:
    row = session.scalar(select(PresenceCode).where(PresenceCode.member_id == member.id)
                         .order_by(PresenceCode.id.desc()).limit(1).with_for_update())
    if row is None or row.used_at is not None:
        raise PresenceRefused(N_("no one-time code was sent to this member: send one first"),
                              code="presence_code_missing", fields={"presence_code": "none sent"})
    if row.wrong_tries >= MAX_WRONG_TRIES:
        raise PresenceRefused(N_("too many wrong codes: send a new one"), code="presence_code_locked",
                              fields={"presence_code": "locked"})
    if now >= row.expires_at:
        raise PresenceRefused(N_("the one-time code has expired: send a new one"), code="presence_code_expired",
                              fields={"presence_code": "expired"})
    if not hmac.compare_digest(row.code_hash, _hash(settings.member_code_secret, member.id, str(code).strip())):
        error = PresenceRefused(N_("the one-time code is wrong"), code="presence_code_wrong",
                                fields={"presence_code": "wrong"})
        code_id = row.id

        def count_wrong_try(s: Session) -> None:   # kept although the sale rolls back
            s.execute(update(PresenceCode).where(PresenceCode.id == code_id)
                      .values(wrong_tries=PresenceCode.wrong_tries + 1))
        error.after_rollback = count_wrong_try
        raise error
    row.used_at = now


# ---------------------------------------------------------------- the check checkout makes

READ_CODES = "wxcrm.cards.read_codes"     # session.info: the codes this transaction already read


def spend_code(session: Session, *, member_id: int, tick: int, store_id: int, now: datetime) -> bool:
    """Record that this member code paid for a sale; False when it already had."""
    values = {"member_id": member_id, "tick": tick, "store_id": store_id, "at": now}
    dialect = session.get_bind().dialect.name
    if dialect in ("mysql", "mariadb"):
        stmt = mysql_insert(SpentMemberCode).values(**values).prefix_with("IGNORE")
    else:
        stmt = sqlite_insert(SpentMemberCode).values(**values).on_conflict_do_nothing()
    return session.execute(stmt).rowcount == 1


def typed_card_spends(session: Session, store: Store) -> bool:
    found = session.get(StoreCardSettings, store.id)
    return bool(found and found.typed_card_spends)


def check_spending_presence(session: Session, settings: Settings, *, member: Member, member_ref: dict,
                            store: Store, now: datetime) -> None:
    """Refuse a sale that spends ``member``'s points or stored value without proof the
    member is here: their dynamic code (``qr_token``, once per spending sale), a one-time
    ``presence_code``, or a typed card number at a store that allows it. A frozen card
    spends nothing. Call it under the member's row lock (one sale per member at a time),
    with ``now`` the moment the sale reached us (UTC)."""
    token = member_ref.get("qr_token")
    if token:       # the till read the code a moment ago (not frozen, not replaced); read again if not
        code = session.info.get(READ_CODES, {}).get(token) or read_member_code(
            session, token, secret=settings.member_code_secret, now=now)
        if code.member_id != member.id:
            raise PresenceRefused(N_("this member code belongs to another member"), code="member_code_mismatch")
        # One statement: the insert is ignored when this code already paid (the unique key).
        if not spend_code(session, member_id=member.id, tick=code.tick, store_id=store.id, now=now):
            raise PresenceRefused(N_("this member code already paid for a sale: ask the member to refresh it"),
                                  code="member_code_used", fields={"qr_token": "already used"})
        return
    state = card_state(session, member.id)
    if state is not None and state.frozen_at is not None:
        raise PresenceRefused(N_("this card is frozen: it was reported lost"), code="card_frozen")
    if member_ref.get("presence_code"):
        _check_presence_code(session, settings, member, member_ref["presence_code"], now)
        return
    if typed_card_spends(session, store):
        return
    raise PresenceRefused(N_("to spend points or balance, scan the member's code or send them a one-time code"),
                          code="presence_required", fields={"member": "scan the member code or a one-time code"})


def set_typed_card_spends(session: Session, store: Store, allowed: bool) -> None:
    found = session.get(StoreCardSettings, store.id)
    if found is None:
        found = StoreCardSettings(store_id=store.id)
        session.add(found)
    found.typed_card_spends = allowed
    session.flush()
