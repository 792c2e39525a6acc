"""The WeChat wallet member card (``WXCRM_WECHAT_CARD_ENABLED``).

One MEMBER_CARD for the account, made through wechatpy's card API with custom codes: a
member adds it from the card page (JS-SDK ``addCard``, the code being their card number),
fills WeChat's activation form, and wxcrm activates it (``activate_membercard``, with the
card number as both membership number and code, and the points as they stand). After that,
every change to the member's points queues one outbox row that sets the wallet's points to
the absolute balance (``update_membercard`` with ``bonus``), so a retry is safe and the
newest balance wins. The card events (got, deleted, viewed, form submitted) come through
the callback. Stored value on a wallet card needs WeChat's separate permission (43010), so
this card shows points only.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from wechatpy.exceptions import WeChatClientException
from wechatpy.utils import WeChatSigner

from wxcrm.cards.models import WalletCard, WalletMember
from wxcrm.config import Settings
from wxcrm.errors import N_, DomainError
from wxcrm.ledger import service as ledger
from wxcrm.members.models import Member
from wxcrm.messages import outbox
from wxcrm.messages.models import OutboxMessage

ACTIVATION_FORM = {"required_form": {"common_field_id_list": ["USER_FORM_INFO_FLAG_MOBILE"]},
                   "optional_form": {"common_field_id_list": ["USER_FORM_INFO_FLAG_BIRTHDAY"]}}


def wallet_card(session: Session) -> WalletCard | None:
    """The account's member card: the newest one made."""
    return session.scalar(select(WalletCard).order_by(WalletCard.id.desc()).limit(1))


def card_body(settings: Settings) -> dict:
    """The MEMBER_CARD as WeChat's card/create wants it (its length limits: brand 12, title 9,
    notice 16 characters)."""
    return {"card": {"card_type": "MEMBER_CARD", "member_card": {
        "base_info": {"logo_url": f"{settings.public_url.rstrip('/')}/static/img/logo.png",
                      "code_type": "CODE_TYPE_QRCODE", "brand_name": settings.brand_name[:12], "title": "会员卡",
                      "color": "Color010", "notice": "结账时出示会员码", "description": "积分、储值和优惠券，到店出示即可使用。",
                      "sku": {"quantity": 100_000_000}, "date_info": {"type": "DATE_TYPE_PERMANENT"},
                      "use_custom_code": True, "get_limit": 1},
        "prerogative": "消费积分，会员专享价", "supply_bonus": True, "supply_balance": False,
        "wx_activate": True}}}


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
    card = WalletCard(card_id=str(card_id), created_at=now)
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
    number as its membership number and the points as they stand."""
    row = session.scalar(select(WalletMember).where(WalletMember.code == code).with_for_update())
    if row is None or row.activated_at is not None or row.removed_at is not None:
        return row
    points = ledger.balance(session, row.member_id, "points")
    client.card.activate_membercard(code, code, card_id=row.card_id, init_bonus=points,
                                    init_bonus_record="开卡同步积分")
    row.activated_at = now
    session.flush()
    return row


# ---------------------------------------------------------------- keeping the points in step

def queue_points_sync(session: Session, settings: Settings, member: Member, *, now: datetime) -> OutboxMessage | None:
    """After the member's points changed: the wallet card shows the new balance (an outbox
    row with the absolute value; a row still waiting takes the newer value instead)."""
    row = session.get(WalletMember, member.id)
    if row is None or row.activated_at is None or row.removed_at is not None:
        return None
    points = ledger.balance(session, member.id, "points")
    fields = {"card_id": row.card_id, "code": row.code, "bonus": points}
    waiting = session.scalar(select(OutboxMessage).where(OutboxMessage.member_id == member.id,
                                                         OutboxMessage.purpose == "wallet_card_sync",
                                                         OutboxMessage.status == "pending").with_for_update())
    if waiting is not None:
        waiting.payload = {**waiting.payload, **fields, "source_fields": fields}
        return waiting
    return outbox.enqueue(session, settings, purpose="wallet_card_sync", member=member, now=now,
                          text=f"会员卡积分 {points}", fields=fields)
