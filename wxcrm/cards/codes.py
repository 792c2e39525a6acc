"""The dynamic member code: what a member shows at the till (QR and Code 128 barcode).

A code is 20 digits, so a scanner can type it into the till's field and a phone's barcode
carries it::

    L  member-id (L digits)  tick mod 1000 (3 digits)  signature (16 - L digits)

``tick`` counts 10-second steps of Unix time: a code lives ``LIFETIME`` (60 s) from its
tick, and is accepted ``GRACE`` longer (a slow scan). The signature is an HMAC over the
member id, the card's generation and the full tick with ``WXCRM_MEMBER_CODE_SECRET``: a
forged code fails it, and a replaced card (its generation raised) kills every code
signed before. The code names the card's internal id and nothing personal. It may be
looked up any number of times; ``presence`` lets it pay for one spending sale.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from wxcrm.cards.models import CardState
from wxcrm.errors import N_, DomainError
from wxcrm.members.models import Member

CODE_LENGTH = 20
TICK_SECONDS = 10
LIFETIME = timedelta(seconds=60)
GRACE = timedelta(seconds=20)
MAX_ID_DIGITS = 8          # the signature keeps at least 8 digits
_EPOCH = datetime(1970, 1, 1)


class MemberCodeRefused(DomainError):
    """A code the till cannot take; ``code`` says why (forged, expired, replaced, frozen)."""
    status = 422


@dataclass(frozen=True)
class MemberCode:
    token: str
    member_id: int
    tick: int
    issued_at: datetime
    expires_at: datetime


def looks_like_member_code(text: str | None) -> bool:
    """A scanned value that is a member code rather than a card number or a phone."""
    return bool(text) and len(text) == CODE_LENGTH and text.isdigit()


def _tick(now: datetime) -> int:
    return int((now - _EPOCH).total_seconds()) // TICK_SECONDS


def _moment(tick: int) -> datetime:
    return _EPOCH + timedelta(seconds=tick * TICK_SECONDS)


def _signature(secret: str, member_id: int, generation: int, tick: int, digits: int) -> str:
    mac = hmac.new(secret.encode(), f"member-code:{member_id}:{generation}:{tick}".encode(), hashlib.sha256)
    return str(int.from_bytes(mac.digest()[:12], "big") % 10 ** digits).zfill(digits)


def card_state(session: Session, member_id: int) -> CardState | None:
    return session.get(CardState, member_id)


def generation_of(session: Session, member_id: int) -> int:
    state = card_state(session, member_id)
    return state.generation if state else 0


def issue_member_code(session: Session, member: Member, *, secret: str, now: datetime) -> MemberCode:
    """A fresh code for the member's card at ``now`` (UTC, naive). A frozen card gets none."""
    state = card_state(session, member.id)
    if state is not None and state.frozen_at is not None:
        raise MemberCodeRefused(N_("this card is frozen: it was reported lost"), code="card_frozen")
    ident = str(member.id)
    if len(ident) > MAX_ID_DIGITS:
        raise ValueError("member ids beyond 8 digits need a longer code layout")
    tick = _tick(now)
    digits = CODE_LENGTH - 4 - len(ident)
    token = (f"{len(ident)}{ident}{tick % 1000:03d}"
             + _signature(secret, member.id, state.generation if state else 0, tick, digits))
    issued = _moment(tick)
    return MemberCode(token, member.id, tick, issued, issued + LIFETIME)


def read_member_code(session: Session, token: str, *, secret: str, now: datetime) -> MemberCode:
    """The member code ``token`` if the till may take it at ``now``; otherwise refused with
    ``member_code_forged``, ``member_code_expired``, ``member_code_replaced`` or ``card_frozen``."""
    token = (token or "").strip()
    if not looks_like_member_code(token) or not ("1" <= token[0] <= str(MAX_ID_DIGITS)):
        raise MemberCodeRefused(N_("this is not a member code"), code="member_code_forged",
                                fields={"qr_token": "not a member code"})
    width = int(token[0])
    member_id = int(token[1:1 + width])
    small_tick = int(token[1 + width:4 + width])
    signature = token[4 + width:]
    now_tick = _tick(now)
    tick = now_tick - ((now_tick - small_tick) % 1000)
    if tick == now_tick - 999:      # a till whose clock runs a step behind the phone's
        tick = now_tick + 1
    state = card_state(session, member_id)
    generation = state.generation if state else 0

    def signed(gen: int) -> bool:
        return member_id > 0 and hmac.compare_digest(signature, _signature(secret, member_id, gen, tick,
                                                                           len(signature)))

    if not signed(generation):
        if any(signed(g) for g in range(max(0, generation - 5), generation)):
            raise MemberCodeRefused(N_("this member code belongs to a card that was replaced"),
                                    code="member_code_replaced", fields={"qr_token": "card replaced"})
        raise MemberCodeRefused(N_("this member code is not genuine"), code="member_code_forged",
                                fields={"qr_token": "signature does not match"})
    issued = _moment(tick)
    if now >= issued + LIFETIME + GRACE:
        raise MemberCodeRefused(N_("this member code has expired: ask the member to refresh their card page"),
                                code="member_code_expired", fields={"qr_token": "expired"})
    if state is not None and state.frozen_at is not None:
        raise MemberCodeRefused(N_("this card is frozen: it was reported lost"), code="card_frozen",
                                fields={"qr_token": "card frozen"})
    return MemberCode(token, member_id, tick, issued, issued + LIFETIME)
