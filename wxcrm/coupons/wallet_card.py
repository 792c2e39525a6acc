"""Coupons in the WeChat card wallet (卡券, ``WXCRM_WECHAT_CARD_ENABLED``).

A template is made a WeChat card coupon through wechatpy's card API (``send_template``):
WeChat reviews the card and pushes ``card_pass_check`` or ``card_not_pass_check``; the
console shows the status. The card uses custom codes: a coupon added to the wallet keeps
its own wxcrm code, so the till reads the same code from the wallet's QR as from the H5
wallet's. The server cannot push a card into a wallet: the member taps "add to WeChat card
wallet" in the H5 wallet, whose script hands ``card_ext`` (signed with the wx_card
api_ticket) to the JS-SDK's ``wx.addCard``; WeChat pushes ``user_get_card``.

Redeeming the coupon at the till queues one outbox row (``wallet_coupon_consume``, dedup
key per coupon: a code is consumed at most once) that the dispatcher sends later, with
back-off; the sale never waits on WeChat. A coupon voided in wxcrm (a closed membership)
queues ``wallet_coupon_unavailable``. What WeChat answers for a code that is already gone
(consumed, deleted, expired) ends the row as done (``wxcrm.messages.cardcalls``).

Decisions, as a CRM keeps them:
- a member who deletes the coupon from the WeChat wallet (``user_del_card``) keeps the
  coupon in wxcrm: the wallet copy is a convenience, not the benefit; the coupon still
  applies at the till (by member code or its code) and stays in the H5 wallet. A deleted
  custom code cannot be received again, so the H5 page no longer offers the button.
- a consume made outside wxcrm (``user_consume_card`` not ``FROM_API``: WeChat's own
  verification helper) marks the coupon used, so it is not used twice.
- a refund gives a coupon back in wxcrm; its wallet copy stays consumed (WeChat has no
  undo), so it is used from the H5 wallet or the member code from then on.
"""
from __future__ import annotations

import logging
from datetime import datetime, time

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from wechatpy.exceptions import WeChatClientException
from wechatpy.utils import WeChatSigner

from wxcrm.config import Settings
from wxcrm.coupons.card_models import CouponCard, CouponCardCode
from wxcrm.coupons.models import Coupon, CouponTemplate
from wxcrm.coupons.service import _count_held, worth_words
from wxcrm.errors import N_, DomainError
from wxcrm.members.models import Member
from wxcrm.messages import outbox

log = logging.getLogger(__name__)

# WeChat's card colours (card/getcolors) and their RGB: a template's colour becomes the nearest
WECHAT_COLORS = {"Color010": "#63b359", "Color020": "#2c9f67", "Color030": "#509fc9", "Color040": "#5885cf",
                 "Color050": "#9062c0", "Color060": "#d09a45", "Color070": "#e4b138", "Color080": "#ee903c",
                 "Color081": "#f08500", "Color082": "#a9d92d", "Color090": "#dd6549", "Color100": "#cc463d",
                 "Color101": "#cf3e36", "Color102": "#5e6671"}
TITLE_MAX, BRAND_MAX, NOTICE_MAX, DESCRIPTION_MAX = 9, 12, 16, 1024   # WeChat's base_info limits (characters)
MAX_QUANTITY = 100_000_000
DEFAULT_GET_LIMIT = 100


def color_for(hex_color: str) -> str:
    """The WeChat colour nearest (in RGB) to a template's ``#rrggbb``."""
    try:
        rgb = tuple(int(hex_color.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    except (ValueError, AttributeError):
        return "Color010"
    return min(WECHAT_COLORS, key=lambda name: sum(
        (a - int(WECHAT_COLORS[name][1 + 2 * i:3 + 2 * i], 16)) ** 2 for i, a in enumerate(rgb)))


def _moment(day, settings: Settings, *, end: bool = False) -> int:
    """A business day's first (or last) second in the merchant's time zone, as Unix time."""
    at = datetime.combine(day, time(23, 59, 59) if end else time(0), tzinfo=settings.tz)
    return int(at.timestamp())


def card_body(tpl: CouponTemplate, settings: Settings, *, now: datetime) -> dict:
    """The template as WeChat's card/create wants it. Raises DomainError for what WeChat
    would refuse and the marketer can fix (a title over 9 characters, a validity over)."""
    title = tpl.title_zh.strip()
    if len(title) > TITLE_MAX:
        raise DomainError(N_("A WeChat card title has at most 9 characters: shorten the Chinese title "
                             "(now %(n)d).") % {"n": len(title)}, code="wechat_card_title",
                          fields={"title_zh": "too long"}, params={"n": len(title)})
    today = now.date()
    if tpl.valid_until and tpl.valid_until < today:
        raise DomainError(N_("This coupon's validity has ended: WeChat takes no card that ends in the past."),
                          code="wechat_card_ended", fields={"valid_until": "past"})
    worth_zh, _ = worth_words(tpl)
    description = "；".join(filter(None, [worth_zh, tpl.description_zh.strip(),
                                         "到店结账时出示此券，或出示会员码自动使用。"]))[:DESCRIPTION_MAX]
    if tpl.valid_days:
        date_info = {"type": "DATE_TYPE_FIX_TERM", "fixed_term": tpl.valid_days, "fixed_begin_term": 0}
        if tpl.valid_until:
            date_info["end_timestamp"] = _moment(tpl.valid_until, settings, end=True)
    else:
        begin = tpl.valid_from if tpl.valid_from and tpl.valid_from > today else today
        date_info = {"type": "DATE_TYPE_FIX_TIME_RANGE", "begin_timestamp": _moment(begin, settings),
                     "end_timestamp": _moment(tpl.valid_until, settings, end=True)}
    # Every code received is a coupon wxcrm already issued (within the template's stock), so the
    # card's own stock never needs to follow the template's: the most WeChat allows.
    quantity = MAX_QUANTITY
    base = {"logo_url": f"{settings.public_url.rstrip('/')}/static/img/logo.png", "code_type": "CODE_TYPE_QRCODE",
            "brand_name": settings.brand_name[:BRAND_MAX], "title": title, "color": color_for(tpl.color),
            "notice": "结账时出示券码"[:NOTICE_MAX], "description": description,
            "sku": {"quantity": quantity}, "date_info": date_info, "use_custom_code": True, "bind_openid": True,
            "can_share": False, "can_give_friend": False,
            "get_limit": max(1, tpl.per_member_limit or DEFAULT_GET_LIMIT)}
    kind, detail = _kind(tpl, worth_zh)
    return {"card": {"card_type": kind, kind.lower(): {"base_info": base, **detail}}}


def _kind(tpl: CouponTemplate, worth_zh: str) -> tuple[str, dict]:
    if tpl.type == "cash":
        return "CASH", {"least_cost": 0, "reduce_cost": tpl.face_value_fen}
    if tpl.type == "spend_get":
        return "CASH", {"least_cost": tpl.min_spend_fen, "reduce_cost": tpl.face_value_fen}
    if tpl.type == "percent":     # WeChat's discount is the percentage taken off (30: 七折); a cap is in the words
        return "DISCOUNT", {"discount": tpl.percent_off}
    if tpl.type == "gift":
        return "GIFT", {"gift": f"兑换 {tpl.item_sku}"}
    return "GENERAL_COUPON", {"default_detail": worth_zh}


def card_of(session: Session, template_id: int) -> CouponCard | None:
    return session.scalar(select(CouponCard).where(CouponCard.template_id == template_id))


def statuses(session: Session) -> dict[int, CouponCard]:
    """Every template's card, by template id (the console's list)."""
    return {c.template_id: c for c in session.scalars(select(CouponCard))}


def send_template(session: Session, client, settings: Settings, tpl: CouponTemplate, *,
                  now: datetime) -> CouponCard:
    """Make the template a WeChat card coupon (once; again after WeChat rejected it). The
    call is made while the marketer waits (with the client's timeout), holding no lock."""
    if not settings.wechat_card_enabled:
        raise DomainError(N_("The WeChat card wallet is not enabled (WXCRM_WECHAT_CARD_ENABLED)."),
                          code="wechat_card_off", status=409)
    found = card_of(session, tpl.id)
    if found is not None and found.status != "rejected":
        return found
    body = card_body(tpl, settings, now=now)
    try:
        card_id = str(client.card.create(body))
    except WeChatClientException as exc:
        error = f"{exc.errcode} {exc.errmsg}"
        raise DomainError(N_("WeChat did not make the card coupon: %(error)s") % {"error": error},
                          code="wechat_card_failed", status=502, params={"error": error}) from exc
    card_type = body["card"]["card_type"]
    if found is None:
        found = CouponCard(template_id=tpl.id, card_id=card_id, card_type=card_type, created_at=now)
        session.add(found)
    else:
        found.card_id, found.card_type, found.created_at = card_id, card_type, now
    found.status, found.refuse_reason, found.checked_at = "pending", "", None
    session.flush()
    return found


def reviewed(session: Session, *, card_id: str, passed: bool, reason: str, now: datetime) -> CouponCard | None:
    """WeChat's review of a card (``card_pass_check`` / ``card_not_pass_check``)."""
    card = session.scalar(select(CouponCard).where(CouponCard.card_id == card_id))
    if card is not None:
        card.status = "approved" if passed else "rejected"
        card.refuse_reason = "" if passed else (reason or "")[:255]
        card.checked_at = now
        session.flush()
    return card


# ---------------------------------------------------------------- adding to the wallet

def addable(session: Session, settings: Settings, member: Member, coupons: list[Coupon]) -> dict[int, str]:
    """For each coupon (by id) its wallet state: ``add`` (may be added now), ``in_wallet``,
    ``removed`` (the member deleted it from WeChat), ``consumed``; absent when the coupon's
    template is not an approved card (or the wallet is off). Two queries at most."""
    if not coupons:
        return {}
    held = {r.coupon_id: r for r in session.scalars(select(CouponCardCode).where(
        CouponCardCode.coupon_id.in_([c.id for c in coupons])))}
    states = {}
    for c in coupons:
        row = held.get(c.id)
        if row is not None:
            states[c.id] = "consumed" if row.consumed_at else "removed" if row.removed_at else "in_wallet"
    if not settings.wechat_card_enabled or not member.openid:
        return states
    approved = set(session.scalars(select(CouponCard.template_id).where(
        CouponCard.template_id.in_({c.template_id for c in coupons}), CouponCard.status == "approved")))
    for c in coupons:
        if c.id not in states and c.template_id in approved and c.status == "available":
            states[c.id] = "add"
    return states


def card_ext(session: Session, client, settings: Settings, member: Member, coupon: Coupon, *, nonce: str,
             timestamp: int) -> dict:
    """The cardList entry for ``wx.addCard``: the card and its cardExt (the coupon's code,
    the member's openid, and for a fixed-term card the coupon's first day as
    fixed_begintimestamp, so the wallet shows wxcrm's dates), signed with the wx_card
    api_ticket (WeChat's JS-SDK appendix 4: SHA-1 of the sorted values)."""
    card = card_of(session, coupon.template_id)
    if (card is None or card.status != "approved" or not settings.wechat_card_enabled
            or coupon.member_id != member.id or not member.openid):
        raise DomainError(N_("This coupon cannot be added to the WeChat card wallet."), code="wechat_card_unavailable",
                          status=409)
    if coupon.status != "available":
        raise DomainError(N_("Only a usable coupon can be added to the WeChat card wallet."),
                          code="wechat_card_coupon_used", status=409)
    if session.get(CouponCardCode, coupon.id) is not None:
        raise DomainError(N_("This coupon is already in your WeChat card wallet."), code="wechat_card_added",
                          status=409)
    ticket = client.jsapi.get_jsapi_card_ticket()
    signer = WeChatSigner()
    signer.add_data(ticket, str(timestamp), card.card_id, coupon.code, member.openid, nonce)
    ext = {"code": coupon.code, "openid": member.openid, "timestamp": str(timestamp), "nonce_str": nonce,
           "outer_str": "h5_wallet", "signature": signer.signature}
    if coupon.template.valid_days:
        ext["fixed_begintimestamp"] = _moment(coupon.valid_from, settings)
    return {"cardId": card.card_id, "cardExt": ext}


# ---------------------------------------------------------------- the wallet's events

def _coupon_card(session: Session, card_id: str) -> CouponCard | None:
    return session.scalar(select(CouponCard).where(CouponCard.card_id == card_id)) if card_id else None


def is_coupon_card(session: Session, card_id: str) -> bool:
    return _coupon_card(session, card_id) is not None


def got(session: Session, settings: Settings, *, openid: str, card_id: str, code: str,
        now: datetime) -> CouponCardCode | None:
    """``user_get_card``: the member's coupon is in their wallet. A coupon used or withdrawn
    meanwhile (the member paid with it before WeChat's event came) is consumed or made
    unavailable at once, through the outbox."""
    coupon = session.scalar(select(Coupon).where(Coupon.code == code))
    member = session.get(Member, coupon.member_id) if coupon is not None else None
    if coupon is None or member is None or member.openid != openid:
        log.warning("wechat card %s: code %s is no coupon of %s", card_id, code, openid)
        return None
    row = session.get(CouponCardCode, coupon.id)
    if row is None:
        row = CouponCardCode(coupon_id=coupon.id, card_id=card_id, code=code, openid=openid, got_at=now)
        session.add(row)
        session.flush()
    if coupon.status == "used":
        queue_consumes(session, settings, [coupon.id], now=now)
    elif coupon.status == "void":
        queue_unavailable(session, settings, [coupon.id], now=now)
    return row


def deleted(session: Session, *, code: str, now: datetime) -> None:
    """``user_del_card``: the wallet copy is gone; the coupon stays valid in wxcrm."""
    session.execute(update(CouponCardCode).where(CouponCardCode.code == code, CouponCardCode.removed_at.is_(None))
                    .values(removed_at=now).execution_options(synchronize_session=False))


def consumed(session: Session, *, code: str, source: str, now: datetime) -> None:
    """``user_consume_card``: WeChat consumed the code. Our own consume (FROM_API) only
    confirms; one made with WeChat's own tools marks the coupon used, once."""
    row = session.scalar(select(CouponCardCode).where(CouponCardCode.code == code))
    if row is None:
        return
    if row.consumed_at is None:
        row.consumed_at, row.consume_source = now, (source or "")[:32]
    if source != "FROM_API":
        coupon = session.get(Coupon, row.coupon_id)
        done = session.execute(update(Coupon).where(Coupon.id == row.coupon_id, Coupon.status == "available")
                               .values(status="used", used_at=now, reason=f"WeChat {source}"[:255])
                               .execution_options(synchronize_session=False)).rowcount
        if done and coupon is not None:
            _count_held(session, coupon.member_id, -1)
    session.flush()


# ---------------------------------------------------------------- deferred card calls

def _held(session: Session, coupon_ids: list[int]) -> list[CouponCardCode]:
    if not coupon_ids:
        return []
    return list(session.scalars(select(CouponCardCode).where(CouponCardCode.coupon_id.in_(coupon_ids),
                                                             CouponCardCode.removed_at.is_(None),
                                                             CouponCardCode.consumed_at.is_(None))))


def queue_consumes(session: Session, settings: Settings, coupon_ids: list[int], *, now: datetime) -> int:
    """Coupons used at the till that are in a WeChat wallet: one outbox row each to consume
    the code there (keyed by the coupon: a code is consumed once, whatever repeats)."""
    rows = _held(session, coupon_ids)
    for row in rows:
        outbox.enqueue(session, settings, purpose="wallet_coupon_consume", now=now,
                       text=f"核销卡券 {row.code}", fields={"card_id": row.card_id, "code": row.code},
                       dedup_key=f"wxcard_consume:{row.coupon_id}")
    return len(rows)


def queue_unavailable(session: Session, settings: Settings, coupon_ids: list[int], *, now: datetime) -> int:
    """Coupons withdrawn in wxcrm that are in a WeChat wallet: made unavailable there."""
    rows = _held(session, coupon_ids)
    for row in rows:
        outbox.enqueue(session, settings, purpose="wallet_coupon_unavailable", now=now,
                       text=f"卡券失效 {row.code}", fields={"card_id": row.card_id, "code": row.code},
                       dedup_key=f"wxcard_unavailable:{row.coupon_id}")
    return len(rows)


def close_member(session: Session, settings: Settings, member_id: int, *, now: datetime) -> int:
    """A closed membership (after its coupons were voided): every wallet copy is made
    unavailable, and the wallet rows forget the member's openid (the outbox rows carry
    only the card and the code)."""
    ids = list(session.scalars(select(Coupon.id).where(Coupon.member_id == member_id, Coupon.status == "void")))
    queued = queue_unavailable(session, settings, ids, now=now)
    if ids:
        session.execute(update(CouponCardCode).where(CouponCardCode.coupon_id.in_(ids)).values(openid="")
                        .execution_options(synchronize_session=False))
    return queued
