"""Coupons over the API: templates (marketers), issuing by staff, a member's wallet."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import fields, validate

from wxcrm.api.auth import current_staff, roles_required, token_scope
from wxcrm.api.members import _opened_by_till
from wxcrm.api.schemas import MemberRef, StrictSchema
from wxcrm.api.transactions import idempotency_key
from wxcrm.cards import service as cards
from wxcrm.config import current_settings
from wxcrm.coupons import service as coupons
from wxcrm.coupons import wallet_card, words
from wxcrm.coupons.codes import pretty
from wxcrm.coupons.models import TYPES, CouponTemplate
from wxcrm.errors import DomainError, NotFound
from wxcrm.extensions import db
from wxcrm.members import service as members
from wxcrm.members.models import STORE_KINDS
from wxcrm.timeutil import Clock, rfc3339

blp = Blueprint("api_coupons", __name__, description="Coupons: templates, issuing, wallets")

MAX_FEN = 100_000_000
def short_list():
    return fields.List(fields.String(validate=validate.Length(min=1, max=64)), validate=validate.Length(max=200))


class RestrictionsIn(StrictSchema):
    stores = short_list()
    store_kinds = fields.List(fields.String(validate=validate.OneOf(STORE_KINDS)))
    skus_in = short_list()
    skus_out = short_list()
    categories_in = short_list()
    categories_out = short_list()
    tiers = short_list()
    weekdays = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1, max=7)),
                           metadata={"description": "ISO weekdays: 1 Monday .. 7 Sunday"})
    hours = fields.List(fields.Integer(strict=True, validate=validate.Range(min=0, max=24)),
                        validate=validate.Length(equal=2), metadata={"description": "[from, to): local hours"})


def _fen(**kw):
    return fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_FEN), **kw)


class TemplateIn(StrictSchema):
    type = fields.String(required=True, validate=validate.OneOf(TYPES))
    title_zh = fields.String(required=True, validate=validate.Length(min=1, max=60))
    title_en = fields.String(load_default="", validate=validate.Length(max=60))
    description_zh = fields.String(load_default="", validate=validate.Length(max=255))
    description_en = fields.String(load_default="", validate=validate.Length(max=255))
    color = fields.String(load_default="#07c160", validate=validate.Regexp(r"^#[0-9a-fA-F]{6}$"))
    face_value_fen = _fen(load_default=0, metadata={"description": "cash and spend_get: off; gift: its worth"})
    percent_off = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=99))
    cap_fen = _fen(load_default=None, allow_none=True)
    item_sku = fields.String(load_default="", validate=validate.Length(max=64))
    min_spend_fen = _fen(load_default=0)
    valid_from = fields.Date(load_default=None, allow_none=True)
    valid_until = fields.Date(load_default=None, allow_none=True)
    valid_days = fields.Integer(load_default=None, allow_none=True, strict=True,
                                validate=validate.Range(min=1, max=3650))
    start_delay_days = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=365))
    restrictions = fields.Nested(RestrictionsIn, load_default=dict)
    combinable = fields.Boolean(load_default=False, metadata={"description": "with other coupons"})
    with_points = fields.Boolean(load_default=True, metadata={"description": "with paying by points"})
    stock_total = fields.Integer(load_default=None, allow_none=True, strict=True,
                                 validate=validate.Range(min=0, max=10**9))
    per_member_limit = fields.Integer(load_default=None, allow_none=True, strict=True,
                                      validate=validate.Range(min=1, max=10**6))
    points_price = fields.Integer(load_default=None, allow_none=True, strict=True,
                                  validate=validate.Range(min=1, max=10**9))
    active = fields.Boolean(load_default=True)


class TemplateCreateIn(TemplateIn):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{2,32}$"))


class TemplateOut(StrictSchema):
    code = fields.String()
    type = fields.String()
    title_zh = fields.String()
    title_en = fields.String()
    description_zh = fields.String()
    description_en = fields.String()
    color = fields.String()
    face_value_fen = fields.Integer()
    percent_off = fields.Integer()
    cap_fen = fields.Integer(allow_none=True)
    item_sku = fields.String()
    min_spend_fen = fields.Integer()
    valid_from = fields.Date(allow_none=True)
    valid_until = fields.Date(allow_none=True)
    valid_days = fields.Integer(allow_none=True)
    start_delay_days = fields.Integer()
    restrictions = fields.Dict()
    combinable = fields.Boolean()
    with_points = fields.Boolean()
    stock_total = fields.Integer(allow_none=True)
    issued_count = fields.Integer()
    per_member_limit = fields.Integer(allow_none=True)
    points_price = fields.Integer(allow_none=True)
    active = fields.Boolean()


class IssueIn(StrictSchema):
    template = fields.String(required=True, validate=validate.Length(min=1, max=32))
    member = fields.Nested(MemberRef, required=True)
    reason = fields.String(required=True, validate=validate.Length(min=2, max=255))


class CouponOut(StrictSchema):
    code = fields.String()
    code_display = fields.String()
    template = fields.String()
    type = fields.String()
    title = fields.String()
    worth = fields.String()
    rules = fields.List(fields.String())
    status = fields.String()
    channel = fields.String()
    valid_from = fields.Date()
    valid_until = fields.Date()
    discount_fen = fields.Integer(allow_none=True)
    used_transaction_id = fields.Integer(allow_none=True)
    member_id = fields.Integer()


class WalletQuery(StrictSchema):
    status = fields.String(load_default="available", validate=validate.OneOf(("available", "used", "expired")))


class WalletOut(StrictSchema):
    member_id = fields.Integer()
    status = fields.String()
    coupons = fields.List(fields.Nested(CouponOut))


def coupon_body(c, today) -> dict:
    tpl = c.template
    return {"code": c.code, "code_display": pretty(c.code), "template": tpl.code, "type": tpl.type,
            "title": words.title(tpl), "worth": words.worth(tpl), "rules": words.rules(tpl),
            "status": coupons.coupon_status(c, today), "channel": c.channel, "valid_from": c.valid_from,
            "valid_until": c.valid_until, "discount_fen": c.discount_fen if c.status == "used" else None,
            "used_transaction_id": c.used_transaction_id, "member_id": c.member_id}


@blp.route("/coupon-templates", methods=["POST"])
@roles_required(blp, "marketer", "admin")
@blp.arguments(TemplateCreateIn)
@blp.response(201, TemplateOut)
def create_template(data):
    """Design a coupon: its type and worth, validity, restrictions, combining, stock and limits."""
    tpl = coupons.save_template(db.session, data)
    db.session.commit()
    return tpl


@blp.route("/coupon-templates", methods=["GET"])
@roles_required(blp, "marketer", "admin", "manager", "cashier")
@blp.response(200, TemplateOut(many=True))
def list_templates():
    from sqlalchemy import select
    return list(db.session.scalars(select(CouponTemplate).order_by(CouponTemplate.code)))


@blp.route("/coupon-templates/<code>", methods=["GET"])
@roles_required(blp, "marketer", "admin", "manager", "cashier")
@blp.response(200, TemplateOut)
def get_template(code):
    return coupons.template_by_code(db.session, code)


@blp.route("/coupon-templates/<code>", methods=["PUT"])
@roles_required(blp, "marketer", "admin")
@blp.arguments(TemplateIn)
@blp.response(200, TemplateOut)
def put_template(data, code):
    """Change a template. Coupons already issued keep their validity."""
    tpl = coupons.template_by_code(db.session, code, lock=True)
    coupons.save_template(db.session, data, template=tpl)
    db.session.commit()
    return tpl


@blp.route("/coupons", methods=["POST"])
@roles_required(blp, "manager", "marketer", "admin")
@blp.arguments(IssueIn)
@blp.response(201, CouponOut)
@blp.doc(parameters=[{"in": "header", "name": "Idempotency-Key", "required": True,
                      "schema": {"type": "string", "minLength": 8, "maxLength": 128},
                      "description": "One key per coupon: a repeat returns the same coupon."}])
def issue(data):
    """Issue one coupon to a member by hand, with the reason (kept on the coupon)."""
    key = idempotency_key()
    ref = data["member"]
    if ref.get("qr_token"):     # the member's dynamic code (issue 12)
        settings = current_settings()
        member = cards.member_for_code(db.session, settings, ref["qr_token"], now=Clock.now(settings.tz).utc)
    elif ref.get("member_id") is not None:
        member = members.find_member(db.session, member_id=ref["member_id"])
    else:
        member = members.find_member(db.session, card_no=ref["card_no"])
    if member is None:
        raise NotFound("no member with that card", code="member_not_found")
    settings = current_settings()
    clock = Clock.now(settings.tz)
    coupon = coupons.issue_coupon(db.session, settings, template_code=data["template"], member=member,
                                  channel="manual", source_ref=f"manual:{token_scope()}:{key}", clock=clock,
                                  reason=data["reason"], staff_id=current_staff().id)
    if coupon.member_id != member.id or coupon.template.code != data["template"]:
        raise DomainError("this Idempotency-Key issued another coupon", code="idempotency_key_reused", status=409)
    db.session.commit()
    return coupon_body(coupon, clock.today)


@blp.route("/members/<int:member_id>/coupons", methods=["GET"])
@roles_required(blp, "cashier", "manager", "marketer", "admin")
@blp.arguments(WalletQuery, location="query")
@blp.response(200, WalletOut)
def member_wallet(query, member_id):
    """A member's coupons by status (at the till: a member looked up there, as for the profile)."""
    _opened_by_till(member_id)
    today = Clock.now(current_settings().tz).today
    rows = coupons.member_coupons(db.session, member_id, query["status"], today)
    return {"member_id": member_id, "status": query["status"], "coupons": [coupon_body(c, today) for c in rows]}




class HandOverIn(StrictSchema):
    store_code = fields.String(required=True, validate=validate.Length(min=1, max=32))


class HandOverOut(StrictSchema):
    code = fields.String()
    code_display = fields.String()
    template = fields.String()
    title = fields.String()
    item_sku = fields.String()
    worth_fen = fields.Integer()
    store_code = fields.String()
    handed_over_at = fields.String()
    member_id = fields.Integer()
    receipt_line = fields.Dict(metadata={"description": "kind gift_handed_over, text (zh), text_en"})


@blp.route("/coupons/<code>/hand-over", methods=["POST"])
@roles_required(blp, "cashier", "manager", "admin")
@blp.arguments(HandOverIn)
@blp.response(200, HandOverOut)
def hand_over(data, code):
    """A store hands a gift coupon's item over: the coupon is used, once (again: 409
    ``coupon_used``). Refused by name: unknown (404), not a gift, expired, not valid yet,
    withdrawn, needing a purchase, or not valid at this store now (422)."""
    staff = current_staff()
    store = members.store_by_code(db.session, data["store_code"])
    if staff.works_at_a_store and staff.store_id != store.id:
        raise DomainError(f"cashier {staff.username} does not work at {store.code}", code="wrong_store",
                          status=403, fields={"store_code": "not your store"})
    settings = current_settings()
    clock = Clock.now(settings.tz)
    coupon = coupons.hand_over_gift(db.session, code, store=store, staff_id=staff.id, clock=clock)
    wallet_card.queue_consumes(db.session, settings, [coupon.id], now=clock.utc)   # its WeChat wallet copy
    db.session.commit()
    zh, en = coupons.hand_over_lines(coupon)
    tpl = coupon.template
    return {"code": coupon.code, "code_display": pretty(coupon.code), "template": tpl.code, "title": words.title(tpl),
            "item_sku": tpl.item_sku, "worth_fen": tpl.face_value_fen, "store_code": store.code,
            "handed_over_at": rfc3339(coupon.used_at), "member_id": coupon.member_id,
            "receipt_line": {"kind": "gift_handed_over", "text": zh, "text_en": en}}
