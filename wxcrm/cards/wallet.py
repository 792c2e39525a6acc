"""The WeChat wallet member card (``WXCRM_WECHAT_CARD_ENABLED``).

One MEMBER_CARD for the account, made through wechatpy's card API with custom codes: a
member adds it from the card page (JS-SDK ``addCard``, the code being their card number),
fills WeChat's activation form, and wxcrm activates it (``activate_membercard``, with the
card number as both membership number and code, and the values as they stand).

The card face shows what the card page shows: points (WeChat's ``bonus``), and three member
fields: the tier (``FIELD_NAME_TYPE_LEVEL``), the coupons held (``FIELD_NAME_TYPE_COUPON``)
and the stored-value balance in yuan (a field named 储值). Stored value goes in a field, not
in WeChat's own ``balance``: that needs a separate WeChat permission (``supply_balance``,
errcode 43010 without it). Every update (``update_membercard``) is an outbox row carrying
absolute values, so a retry is safe and the newest values win: the till queues one at once
after a sale or refund, and the ``wallet-card-sync`` job queues one for every member whose
card shows something else (a top-up, a coupon, a tier change, a claim, an expiry).
The card events (got, deleted, viewed, form submitted) come through the callback.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import Session
from wechatpy.exceptions import WeChatClientException
from wechatpy.utils import WeChatSigner

from wxcrm.cards.models import WalletCard, WalletMember
from wxcrm.config import Settings
from wxcrm.errors import N_, DomainError
from wxcrm.ledger import service as ledger
from wxcrm.ledger.models import LedgerAccount
from wxcrm.members.models import Member, Tier
from wxcrm.messages import outbox
from wxcrm.messages.models import OutboxMessage
from wxcrm.money import fen_to_yuan_str

ACTIVATION_FORM = {"required_form": {"common_field_id_list": ["USER_FORM_INFO_FLAG_MOBILE"]},
                   "optional_form": {"common_field_id_list": ["USER_FORM_INFO_FLAG_BIRTHDAY"]}}


def wallet_card(session: Session) -> WalletCard | None:
    """The account's member card: the newest one made."""
    return session.scalar(select(WalletCard).order_by(WalletCard.id.desc()).limit(1))


FIELD_VALUE_BYTES = 12     # a member field's value: at most 12 bytes (4 Chinese characters), WeChat says


def card_body(settings: Settings) -> dict:
    """The MEMBER_CARD as WeChat's card/create wants it (its length limits: brand 12, title 9,
    notice 16 characters), with the three member fields and where each leads."""
    base = settings.public_url.rstrip('/')
    return {"card": {"card_type": "MEMBER_CARD", "member_card": {
        "base_info": {"logo_url": f"{base}/static/img/logo.png",
                      "code_type": "CODE_TYPE_QRCODE", "brand_name": settings.brand_name[:12], "title": "会员卡",
                      "color": "Color010", "notice": "结账时出示会员码", "description": "积分、储值和优惠券，到店出示即可使用。",
                      "sku": {"quantity": 100_000_000}, "date_info": {"type": "DATE_TYPE_PERMANENT"},
                      "use_custom_code": True, "get_limit": 1},
        "prerogative": "消费积分，会员专享价", "supply_bonus": True, "supply_balance": False,
        "custom_field1": {"name_type": "FIELD_NAME_TYPE_LEVEL", "url": f"{base}/h5/"},
        "custom_field2": {"name_type": "FIELD_NAME_TYPE_COUPON", "url": f"{base}/h5/coupons"},
        "custom_field3": {"name": "储值", "url": f"{base}/h5/stored-value"},
        "wx_activate": True}}}


def _field_value(text: str) -> str:
    """``text`` cut to what a member field holds (12 bytes of UTF-8, whole characters)."""
    out = ""
    for ch in text:
        if len((out + ch).encode()) > FIELD_VALUE_BYTES:
            break
        out += ch
    return out


def card_values(points: int, stored_fen: int, coupons: int, tier_name: str | None) -> dict:
    """What the card face shows, as ``update_membercard`` takes it (absolute values)."""
    return {"bonus": int(points), "custom_field_value1": _field_value(tier_name or "普通会员"),
            "custom_field_value2": _field_value(str(int(coupons))),
            "custom_field_value3": _field_value(fen_to_yuan_str(stored_fen))}


def member_card_values(session: Session, member: Member) -> dict:
    tier = session.get(Tier, member.tier_id) if member.tier_id is not None else None
    return card_values(ledger.balance(session, member.id, "points"), ledger.balance(session, member.id, "stored_value"),
                       member.coupons_held or 0, tier.name if tier is not None else None)


def create_wallet_card(session: Session, client, settings: Settings, *, now: datetime,
                       again: bool = False) -> WalletCard:
    """Make the account's member card (once, unless ``again``: a new one becomes the card
    members add, e.g. a demo whose stand-in forgot the old) and set its activation form."""
    found = wallet_card(session)
    if found is not None and not again:
        return found
    try:
        card_id = client.card.create(card_body(settings))
        client.card.set_activate_user_form(card_id, **ACTIVATION_FORM)
    except WeChatClientException as exc:
        raise DomainError(N_("WeChat did not make the member card: %(error)s") % {"error": exc.errmsg or exc.errcode},
                          code="wechat_card_failed", status=502, params={"errcode": exc.errcode}) from exc
    card = WalletCard(card_id=str(card_id), created_at=now, member_fields=True)
    session.add(card)
    session.flush()
    return card


def card_ext(client, member: Member, card_id: str, *, nonce: str, timestamp: int) -> dict:
    """What the card page passes to ``wx.addCard`` (the cardExt, signed with the card ticket)."""
    ticket = client.jsapi.get_jsapi_card_ticket()
    signer = WeChatSigner()        # addCard's cardExt: SHA-1 of the sorted values (WeChat's JS-SDK appendix 4)
    signer.add_data(ticket, str(timestamp), card_id, member.card_no, member.openid or "", nonce)
    return {"code": member.card_no, "openid": member.openid or "", "timestamp": str(timestamp),
            "nonce_str": nonce, "signature": signer.signature}


# ---------------------------------------------------------------- the card's events

def member_got_card(session: Session, *, openid: str, card_id: str, code: str, now: datetime) -> None:
    member = session.scalar(select(Member).where(Member.openid == openid))
    if member is None or code != member.card_no:
        return
    row = session.get(WalletMember, member.id)
    if row is None:
        session.add(WalletMember(member_id=member.id, card_id=card_id, code=code, got_at=now))
    else:
        row.card_id, row.code, row.got_at, row.removed_at, row.activated_at = card_id, code, now, None, None
    session.flush()


def member_deleted_card(session: Session, *, code: str, now: datetime) -> None:
    row = session.scalar(select(WalletMember).where(WalletMember.code == code))
    if row is not None:
        row.removed_at = now


def member_viewed_card(session: Session, *, code: str, now: datetime) -> None:
    row = session.scalar(select(WalletMember).where(WalletMember.code == code))
    if row is not None:
        row.viewed_at = now


def activate_from_form(session: Session, client, *, code: str, today, now: datetime) -> WalletMember | None:
    """The member submitted WeChat's activation form: activate their copy with the card
    number as its membership number and the values as they stand."""
    row = session.scalar(select(WalletMember).where(WalletMember.code == code).with_for_update())
    if row is None or row.activated_at is not None or row.removed_at is not None:
        return row
    values = _for_card(session, row.card_id, member_card_values(session, session.get(Member, row.member_id)))
    extra = {f"init_{k}": v for k, v in values.items() if k.startswith("custom_field_value")}
    client.card.activate_membercard(code, code, card_id=row.card_id, init_bonus=values["bonus"],
                                    init_bonus_record="开卡同步积分", **extra)
    row.activated_at, row.sent = now, values
    session.flush()
    return row


def _for_card(session: Session, card_id: str, values: dict) -> dict:
    """``values`` less the member fields, for a card made before it had them."""
    card = session.scalar(select(WalletCard).where(WalletCard.card_id == card_id))
    if card is not None and card.member_fields:
        return values
    return {"bonus": values["bonus"]}


# ---------------------------------------------------------------- keeping the card in step

def queue_sync(session: Session, settings: Settings, member: Member, *, now: datetime,
               values: dict | None = None) -> OutboxMessage | None:
    """After the member's points, stored value, coupons or tier changed: the wallet card
    shows the new values (an outbox row with absolute values; a row still waiting takes the
    newer values instead)."""
    row = session.get(WalletMember, member.id)
    if row is None or row.activated_at is None or row.removed_at is not None:
        return None
    shown = _for_card(session, row.card_id, values or member_card_values(session, member))
    row.sent = shown
    fields = {"card_id": row.card_id, "code": row.code, **shown}
    waiting = session.scalar(select(OutboxMessage).where(OutboxMessage.member_id == member.id,
                                                         OutboxMessage.purpose == "wallet_card_sync",
                                                         OutboxMessage.status == "pending").with_for_update())
    if waiting is not None:
        waiting.payload = {**waiting.payload, **fields, "source_fields": fields}
        return waiting
    return outbox.enqueue(session, settings, purpose="wallet_card_sync", member=member, now=now,
                          text=f"会员卡积分 {shown['bonus']}", fields=fields)


queue_points_sync = queue_sync      # the till's name for it


def member_merged(session: Session, settings: Settings, *, keep: Member, away: Member,
                  now: datetime) -> OutboxMessage | None:
    """Two members of one person merged (e.g. a follower bound their WeChat to the membership
    they had): the wallet card the merged-away member added becomes the kept member's, its
    code moved to the kept card number (``card/code/update`` through the outbox), then its
    values updated. Nothing when the kept member has a wallet card of their own."""
    row = session.scalar(select(WalletMember).where(WalletMember.member_id == away.id).with_for_update())
    if row is None or row.removed_at is not None or session.get(WalletMember, keep.id) is not None:
        return None
    old_code, fields = row.code, (row.card_id, row.got_at, row.activated_at, row.viewed_at)
    session.delete(row)
    session.flush()
    moved = WalletMember(member_id=keep.id, card_id=fields[0], code=keep.card_no, got_at=fields[1],
                         activated_at=fields[2], viewed_at=fields[3])
    session.add(moved)
    for waiting in session.scalars(select(OutboxMessage).where(OutboxMessage.member_id == away.id,
                                                               OutboxMessage.purpose == "wallet_card_sync",
                                                               OutboxMessage.status == "pending").with_for_update()):
        waiting.payload = {**waiting.payload, "code": keep.card_no}      # sent after the move, to the new code
    message = outbox.enqueue(session, settings, purpose="wallet_card_code", member=keep, now=now,
                             text=f"会员卡号更新为 {keep.card_no}",
                             fields={"card_id": moved.card_id, "code": old_code, "new_code": keep.card_no})
    if moved.activated_at is not None:
        queue_sync(session, settings, keep, now=now)       # the kept member's points, tier, coupons, balance
    return message


def card_replaced(session: Session, settings: Settings, member: Member, *, old_code: str,
                  now: datetime) -> OutboxMessage | None:
    """The member's card was replaced: their wallet card's code (the old card number) becomes
    the new number, through the outbox (``card/code/update``). A card update still waiting
    names the new code from now on (if it goes first it is refused once, then retried)."""
    row = session.scalar(select(WalletMember).where(WalletMember.member_id == member.id).with_for_update())
    if row is None or row.removed_at is not None or row.code != old_code:
        return None
    row.code = member.card_no
    for waiting in session.scalars(select(OutboxMessage).where(OutboxMessage.member_id == member.id,
                                                               OutboxMessage.purpose == "wallet_card_sync",
                                                               OutboxMessage.status == "pending").with_for_update()):
        waiting.payload = {**waiting.payload, "code": member.card_no,
                           "source_fields": {**waiting.payload.get("source_fields", {}), "code": member.card_no}}
    return outbox.enqueue(session, settings, purpose="wallet_card_code", member=member, now=now,
                          text=f"会员卡号更新为 {member.card_no}",
                          fields={"card_id": row.card_id, "code": old_code, "new_code": member.card_no})


def sync_changed(session: Session, settings: Settings, *, now: datetime, batch: int = 1000,
                 commit=None) -> int:
    """The ``wallet-card-sync`` job: queue an update for every activated wallet card whose
    last values sent differ from the member's now (one read per ``batch`` cards; ``commit``
    after each batch, if given). Returns how many were queued."""
    points = LedgerAccount.__table__.alias("points")
    stored = LedgerAccount.__table__.alias("stored")
    queued, after = 0, 0
    while True:
        rows = session.execute(
            select(WalletMember, Member, points.c.balance, stored.c.balance, Tier.name)
            .join(Member, Member.id == WalletMember.member_id)
            .outerjoin(points, and_(points.c.member_id == Member.id, points.c.kind == "points"))
            .outerjoin(stored, and_(stored.c.member_id == Member.id, stored.c.kind == "stored_value"))
            .outerjoin(Tier, Tier.id == Member.tier_id)
            .where(WalletMember.member_id > after, WalletMember.activated_at.is_not(None),
                   WalletMember.removed_at.is_(None))
            .order_by(WalletMember.member_id).limit(batch)).all()
        if not rows:
            return queued
        for held, member, pts, sv, tier_name in rows:
            values = _for_card(session, held.card_id, card_values(pts or 0, sv or 0, member.coupons_held or 0,
                                                                   tier_name))
            if values != (held.sent or {}):
                queue_sync(session, settings, member, now=now, values=values)
                queued += 1
        if commit is not None:
            commit()
        after = rows[-1][0].member_id
