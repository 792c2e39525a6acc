"""Cards: which member a till's reference names, loss and replacement.

A card is the member's number (``members.card_no``) and its ``CardState``. Reporting it
lost freezes it at once (it spends nothing, and no new member code is issued); replacing
it gives the same member a new number, raises the card's generation (every member code
signed before dies) and retires the old number, which the till then refuses by name.
Points and their lots, stored value, coupons, tier and history stay on the member: only
the number changes. Each step is a line of the member's history, with who and why.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxcrm.cards import wallet
from wxcrm.cards.codes import MemberCode, MemberCodeRefused, card_state, looks_like_member_code, read_member_code
from wxcrm.cards.models import CardState, RetiredCardNumber
from wxcrm.cards.presence import READ_CODES
from wxcrm.config import Settings
from wxcrm.errors import N_, DomainError, NotFound
from wxcrm.members import service as members
from wxcrm.members.models import Member


def read_code(session: Session, settings: Settings, token: str, *, now: datetime) -> MemberCode:
    """The dynamic code the till may take (refused: forged, expired, replaced, frozen);
    remembered for this transaction, so the spending check does not read it again."""
    code = read_member_code(session, token, secret=settings.member_code_secret, now=now)
    session.info.setdefault(READ_CODES, {})[token] = code
    return code


def member_for_code(session: Session, settings: Settings, token: str, *, now: datetime) -> Member:
    """The member whose dynamic code this is (refused: forged, expired, replaced, frozen)."""
    code = read_member_code(session, token, secret=settings.member_code_secret, now=now)
    member = session.get(Member, code.member_id)
    if member is None:
        raise MemberCodeRefused(N_("this member code is not genuine"), code="member_code_forged")
    return member


def refuse_unknown_card(session: Session, card_no: str) -> None:
    """A card number the till did not find: say so, naming a replaced number as replaced.
    Called only after the look-up failed, so a known card costs no query here."""
    if looks_like_member_code(card_no):
        raise MemberCodeRefused(N_("this is a member code: send it as qr_token"), code="member_code_as_card_no",
                                fields={"member.card_no": "a member code"})
    if session.get(RetiredCardNumber, card_no.strip()) is not None:
        raise DomainError(N_("this card was replaced by a new one: ask for the new card"), code="card_replaced",
                          fields={"member.card_no": "replaced"})
    raise NotFound(N_("no member with that card"), code="member_not_found")


def _state_for_update(session: Session, member: Member) -> CardState:
    state = session.scalar(select(CardState).where(CardState.member_id == member.id).with_for_update())
    if state is None:
        state = CardState(member_id=member.id, generation=0)
        session.add(state)
        session.flush()
    return state


def is_frozen(session: Session, member: Member) -> bool:
    state = card_state(session, member.id)
    return bool(state and state.frozen_at)


def report_lost(session: Session, member: Member, *, at: datetime, source: str, staff_id: int | None = None,
                reason: str = "") -> None:
    """Freeze the card at once: it spends nothing and shows no member code until replaced
    (or found). ``source`` is "member" (H5) or "staff"."""
    if member.status == "closed":
        raise DomainError(N_("this membership is closed"), code="member_closed")
    state = _state_for_update(session, member)
    if state.frozen_at is not None:
        return
    state.frozen_at, state.frozen_reason = at, (reason or "")[:255]
    members.record_change(session, member, "card_status", "active", "frozen", source=source, staff_id=staff_id,
                          reason=reason or N_("card reported lost"), at=at)


def report_found(session: Session, member: Member, *, at: datetime, staff_id: int, reason: str = "") -> None:
    """Staff unfreeze a card that was found again (the same number, the same codes)."""
    state = _state_for_update(session, member)
    if state.frozen_at is None:
        return
    state.frozen_at, state.frozen_reason = None, ""
    members.record_change(session, member, "card_status", "frozen", "active", source="staff", staff_id=staff_id,
                          reason=reason or N_("card found"), at=at)


def replace_card(session: Session, settings: Settings, member: Member, *, at: datetime, source: str,
                 staff_id: int | None = None, reason: str = "") -> str:
    """Give the member a new card number; the old one and every member code issued before
    are refused from now on. The card is active again. Returns the new number."""
    if member.status == "closed":
        raise DomainError(N_("this membership is closed"), code="member_closed")
    session.execute(select(Member.id).where(Member.id == member.id).with_for_update())
    state = _state_for_update(session, member)
    old = member.card_no
    session.add(RetiredCardNumber(card_no=old, member_id=member.id, retired_at=at, reason="replaced"))
    member.card_no = members.next_card_no(session, settings.card_prefix)
    state.generation += 1
    was_frozen = state.frozen_at is not None
    state.frozen_at, state.frozen_reason = None, ""
    members.record_change(session, member, "card_no", old, member.card_no, source=source, staff_id=staff_id,
                          reason=reason or N_("card replaced"), at=at)
    if was_frozen:
        members.record_change(session, member, "card_status", "frozen", "active", source=source, staff_id=staff_id,
                              reason=N_("new card issued"), at=at)
    session.flush()
    if settings.wechat_card_enabled:        # the WeChat wallet card's code is the card number
        wallet.card_replaced(session, settings, member, old_code=old, now=at)
    return member.card_no
