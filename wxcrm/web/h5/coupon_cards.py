"""The H5 wallet's "add to WeChat card wallet": each usable coupon whose template is an
approved WeChat card coupon gets a button; its script fetches the signed cardList entry
here and hands it to the JS-SDK's ``wx.addCard`` (the server cannot push a card into a
wallet). ``coupon_wallet_states`` tells the wallet page each coupon's state."""
from __future__ import annotations

import json
import secrets
import time

from flask import jsonify
from sqlalchemy import select

from wxcrm.config import current_settings
from wxcrm.coupons import wallet_card
from wxcrm.coupons.models import Coupon
from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.members.models import Member
from wxcrm.web.h5.views import bp, customer_page
from wxcrm.web.labels import problem_text
from wxcrm.wechat.adapter.client import wechat_client

NO_STORE = {"Cache-Control": "no-store"}


@bp.app_template_global("coupon_wallet_states")
def coupon_wallet_states(member: Member, cards: list[dict]) -> dict[int, str]:
    """Coupon id -> add | in_wallet | removed | consumed (see wallet_card.addable)."""
    return wallet_card.addable(db.session, current_settings(), member, [k["c"] for k in cards])


@bp.app_template_global("wechat_standin_base")
def wechat_standin_base() -> str:
    """The stand-in's address when wxcrm talks to it (its WeixinJSBridge plays addCard)."""
    return current_settings().wechat_api_base or ""


@bp.route("/coupons/<code>/wechat-card")
@customer_page()
def coupon_wechat_card(member: Member, code: str):
    """The cardList entry for ``wx.addCard``: {"cardId", "cardExt"} (cardExt a JSON string)."""
    coupon = db.session.scalar(select(Coupon).where(Coupon.code == code))
    if coupon is None or coupon.member_id != member.id:
        return jsonify({"code": "coupon_unknown"}), 404, NO_STORE
    settings = current_settings()
    try:
        entry = wallet_card.card_ext(db.session, wechat_client(settings, db.engine), settings, member, coupon,
                                     nonce=secrets.token_hex(8), timestamp=int(time.time()))
    except DomainError as exc:
        return jsonify({"code": exc.code, "detail": problem_text(exc)}), exc.status, NO_STORE
    return jsonify({"cardId": entry["cardId"], "cardExt": json.dumps(entry["cardExt"])}), 200, NO_STORE
