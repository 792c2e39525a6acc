"""A coupon template as a WeChat card coupon over the API (``wxcrm.coupons.wallet_card``):
send it to WeChat, and read WeChat's review (pending, approved, rejected with the reason)."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import fields

from wxcrm.api.auth import roles_required
from wxcrm.api.schemas import StrictSchema
from wxcrm.config import current_settings
from wxcrm.coupons import service as coupons
from wxcrm.coupons import wallet_card
from wxcrm.errors import NotFound
from wxcrm.extensions import db
from wxcrm.timeutil import utcnow
from wxcrm.wechat.adapter.client import wechat_client

blp = Blueprint("api_coupon_cards", __name__, description="Coupons in the WeChat card wallet")


class WeChatCardOut(StrictSchema):
    template = fields.String()
    card_id = fields.String()
    card_type = fields.String()
    status = fields.String(metadata={"description": "pending (WeChat reviews it), approved, rejected"})
    refuse_reason = fields.String()


def _body(code: str, card) -> dict:
    return {"template": code, "card_id": card.card_id, "card_type": card.card_type, "status": card.status,
            "refuse_reason": card.refuse_reason}


@blp.route("/coupon-templates/<code>/wechat-card", methods=["POST"])
@roles_required(blp, "marketer", "admin")
@blp.response(200, WeChatCardOut)
def send_card(code):
    """Make the template a WeChat card coupon (once; again after WeChat rejected it). WeChat
    reviews the card; members can add coupons to their wallet once it is approved."""
    tpl = coupons.template_by_code(db.session, code)
    settings = current_settings()
    card = wallet_card.send_template(db.session, wechat_client(settings, db.engine), settings, tpl, now=utcnow())
    db.session.commit()
    return _body(tpl.code, card)


@blp.route("/coupon-templates/<code>/wechat-card", methods=["GET"])
@roles_required(blp, "marketer", "admin")
@blp.response(200, WeChatCardOut)
def get_card(code):
    tpl = coupons.template_by_code(db.session, code)
    card = wallet_card.card_of(db.session, tpl.id)
    if card is None:
        raise NotFound(f"coupon template {code} is not a WeChat card coupon", code="wechat_card_not_sent")
    return _body(tpl.code, card)
