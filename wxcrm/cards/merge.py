"""Two members of one person become one: a follower binding their WeChat to the membership
they already had (enrolled at the till, by phone, imported), or staff merging duplicates.

The kept member takes the other's points (lot by lot, dates kept) and stored value by
ledger entries that name the merge, its sales, and its WeChat or phone where it had none.
The other member is closed (its ledgers stay, at zero) and its card number retired, so
the till names it as replaced. Both members' histories say who merged them and why.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from wxcrm.cards import wallet
from wxcrm.cards.models import PresenceCode, RetiredCardNumber
from wxcrm.config import Settings
from wxcrm.errors import N_, DomainError
from wxcrm.ledger import service as ledger
from wxcrm.members import service as members
from wxcrm.members.models import Member
from wxcrm.messages import outbox
from wxcrm.messages.models import OutboxMessage
from wxcrm.sales.models import Transaction

BIND_CODE_LIFETIME = timedelta(minutes=5)
MAX_WRONG_TRIES = 5


def merge_members(session: Session, *, keep: Member, away: Member, at: datetime, source: str,
                  staff_id: int | None = None, reason: str = "", settings: Settings | None = None) -> None:
    """Merge ``away`` into ``keep`` (see the module's words). Flushes. With ``settings`` and the
    WeChat wallet card on, ``away``'s wallet card moves to ``keep`` (``wallet.member_merged``)."""
    if keep.id == away.id:
        raise DomainError(N_("a member cannot be merged with themselves"), code="merge_same_member")
    if away.status == "closed" or keep.status == "closed":
        raise DomainError(N_("a closed membership cannot be merged"), code="member_closed")
    for member_id in sorted((keep.id, away.id)):
        session.execute(select(Member.id).where(Member.id == member_id).with_for_update())
    ref = f"merge:{away.id}->{keep.id}"
    out_text = (f"会员合并：转入会员卡 {keep.card_no}", f"Merged into card {keep.card_no}")
    cause = ledger.Cause("merge", ref=ref, staff_id=staff_id, at=at,
                         text_zh=f"会员合并：{away.card_no} → {keep.card_no}",
                         text_en=f"Members merged: {away.card_no} -> {keep.card_no}")
    ledger.move_points(session, away.id, keep.id, cause)
    value = ledger.balance(session, away.id, "stored_value")
    if value > 0:
        # principal and bonus move apart, so the kept member's lots stay what was paid and what was given
        spent = ledger.spend_value(session, away.id, value, ledger.Cause("merge", ref=ref, staff_id=staff_id, at=at,
                                                                         text_zh=out_text[0], text_en=out_text[1]))
        if spent.taken.principal:
            ledger.credit_value(session, keep.id, spent.taken.principal, cause)
        if spent.taken.bonus:
            ledger.credit_value(session, keep.id, spent.taken.bonus, cause, bonus=True)
    session.execute(update(Transaction).where(Transaction.member_id == away.id).values(member_id=keep.id)
                    .execution_options(synchronize_session=False))
    openid, unionid, phone = away.openid, away.unionid, away.phone
    away.openid = away.unionid = away.phone = None
    away.status, away.closed_at = "closed", at
    session.flush()
    if keep.openid is None and openid:
        keep.openid, keep.unionid, keep.followed = openid, unionid, keep.followed or away.followed
    if keep.phone is None and phone:
        keep.phone = phone
    if keep.home_store_id is None:
        keep.home_store_id = away.home_store_id
    session.add(RetiredCardNumber(card_no=away.card_no, member_id=keep.id, retired_at=at, reason="merged"))
    why = reason or N_("two members of one person merged")
    members.record_change(session, keep, "merged", away.card_no, keep.card_no, source=source, staff_id=staff_id,
                          reason=why, at=at)
    members.record_change(session, away, "merged", away.card_no, keep.card_no, source=source, staff_id=staff_id,
                          reason=why, at=at)
    session.flush()
    if settings is not None and settings.wechat_card_enabled:
        wallet.member_merged(session, settings, keep=keep, away=away, now=at)


# ---------------------------------------------------------------- a follower binds their membership

def _hash(settings: Settings, member_id: int, code: str) -> str:
    return hmac.new(settings.member_code_secret.encode(), f"bind:{member_id}:{code}".encode(),
                    hashlib.sha256).hexdigest()


def membership_for_phone(session: Session, phone: str, follower: Member) -> Member:
    found = members.find_member(session, phone=(phone or "").strip())
    if found is None or found.id == follower.id or found.status == "closed":
        raise DomainError(N_("no other membership has this phone number"), code="bind_no_membership",
                          fields={"phone": "no membership"})
    if found.openid:
        raise DomainError(N_("this membership is already bound to a WeChat account"), code="bind_already_bound",
                          fields={"phone": "already bound"})
    return found


def send_bind_code(session: Session, settings: Settings, *, follower: Member, phone: str,
                   now: datetime) -> OutboxMessage:
    """Text a code to the phone of the membership the follower says is theirs (only the SMS
    channel: the code proves the phone is theirs). The caller commits, then sends it at once."""
    target = membership_for_phone(session, phone, follower)
    recent = session.scalars(select(PresenceCode.id).where(PresenceCode.member_id == target.id,
                                                          PresenceCode.channel == "bind",
                                                          PresenceCode.created_at > now - BIND_CODE_LIFETIME)).all()
    if len(recent) >= 3:
        raise DomainError(N_("too many codes for this phone: wait a few minutes"), code="bind_too_many", status=429)
    code = f"{secrets.randbelow(10 ** 6):06d}"
    session.add(PresenceCode(member_id=target.id, code_hash=_hash(settings, target.id, code), created_at=now,
                             expires_at=now + BIND_CODE_LIFETIME, wrong_tries=0, channel="bind"))
    message = outbox.enqueue(session, settings, purpose="verify_phone", member=target, now=now,
                             text=f"您的验证码 {code}，5分钟内有效。", fields={"code": code})
    session.flush()
    return message


def bind_follower(session: Session, settings: Settings, *, follower: Member, phone: str, code: str,
                  now: datetime) -> Member:
    """Check the texted code and merge the follower's card into their membership, which
    keeps its card number and takes the WeChat account. Returns the membership."""
    target = membership_for_phone(session, phone, follower)
    row = session.scalar(select(PresenceCode).where(PresenceCode.member_id == target.id,
                                                    PresenceCode.channel == "bind")
                         .order_by(PresenceCode.id.desc()).limit(1).with_for_update())
    if row is None or row.used_at is not None:
        raise DomainError(N_("send a code to this phone first"), code="bind_code_missing", fields={"code": "none"})
    if row.wrong_tries >= MAX_WRONG_TRIES:
        raise DomainError(N_("too many wrong codes: send a new one"), code="bind_code_locked", fields={"code": "locked"})
    if now >= row.expires_at:
        raise DomainError(N_("the code has expired: send a new one"), code="bind_code_expired",
                          fields={"code": "expired"})
    if not hmac.compare_digest(row.code_hash, _hash(settings, target.id, (code or "").strip())):
        row.wrong_tries += 1
        session.flush()
        raise DomainError(N_("the code is wrong"), code="bind_code_wrong", fields={"code": "wrong"})
    row.used_at = now
    merge_members(session, keep=target, away=follower, at=now, source="member", settings=settings,
                  reason=N_("the member bound their WeChat to their membership"))
    return target
