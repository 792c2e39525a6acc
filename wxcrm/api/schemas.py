"""Request and response schemas: they validate requests and generate the OpenAPI document."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from wxcrm.checkout.service import MAX_LINES, MAX_QTY, MAX_UNIT_PRICE_FEN, PAYMENT_METHODS
from wxcrm.members.models import GENDERS, MEMBER_STATUSES, STORE_KINDS
from wxcrm.timeutil import rfc3339
from wxcrm.topups.models import TOPUP_METHODS

MAX_ID = 2**63 - 1  # a database id (BIGINT); anything larger cannot name a row


class StrictSchema(Schema):
    class Meta:
        ordered = True


class UtcDateTime(fields.DateTime):
    """A stored (naive UTC) moment, written as RFC 3339 with its offset (...Z)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else rfc3339(value)


class StoreIn(StrictSchema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{2,32}$"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    kind = fields.String(load_default="direct", validate=validate.OneOf(STORE_KINDS))
    address = fields.String(load_default="", validate=validate.Length(max=255))
    city = fields.String(load_default="", validate=validate.Length(max=64))


class StoreOut(StrictSchema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    address = fields.String()
    city = fields.String()
    active = fields.Boolean()


class MemberIn(StrictSchema):
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^1[3-9]\d{9}$"))
    openid = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    unionid = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    name = fields.String(load_default="", validate=validate.Length(max=64))
    gender = fields.String(load_default="unknown", validate=validate.OneOf(GENDERS))
    birthday = fields.Date(load_default=None, allow_none=True)
    district = fields.String(load_default="", validate=validate.Length(max=64))
    occupation = fields.String(load_default="", validate=validate.Length(max=64))
    education = fields.String(load_default="", validate=validate.Length(max=32))
    income_band = fields.String(load_default="", validate=validate.Length(max=32))
    home_store_code = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))
    referrer_id = fields.Integer(load_default=None, allow_none=True, strict=True,
                                 validate=validate.Range(min=1, max=MAX_ID))
    privacy_consent = fields.Boolean(required=True, validate=validate.Equal(True),
                                     metadata={"description": "the member agreed to the privacy notice "
                                                              "(/h5/privacy/notice) now in force: required"})
    marketing_consent = fields.Boolean(load_default=False,
                                       metadata={"description": "the member agreed to marketing messages"})
    group_code = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=32))

    @validates_schema
    def needs_identity(self, data, **kwargs):
        if not data.get("phone") and not data.get("openid"):
            raise ValidationError("a member needs a phone or a WeChat openid", field_name="phone")


class MemberOut(StrictSchema):
    id = fields.Integer()
    card_no = fields.String()
    phone = fields.String(allow_none=True)
    openid = fields.String(allow_none=True)
    name = fields.String()
    gender = fields.String()
    birthday = fields.Date(allow_none=True)
    district = fields.String()
    occupation = fields.String()
    education = fields.String()
    income_band = fields.String()
    home_store_code = fields.Function(lambda m: m.home_store.code if m.home_store else None)
    referrer_id = fields.Integer(allow_none=True)
    group_code = fields.Function(lambda m: m.group.code if m.group else None)
    tier = fields.Function(lambda m: m.tier.code if m.tier else None)
    tier_until = fields.Date(allow_none=True)
    status = fields.String(validate=validate.OneOf(MEMBER_STATUSES))
    followed = fields.Boolean()
    marketing_consent = fields.Boolean()
    joined_on = fields.Date()
    expires_on = fields.Date(allow_none=True)
    points_balance = fields.Integer()
    stored_value_fen = fields.Integer()
    stored_value_principal_fen = fields.Integer()
    stored_value_bonus_fen = fields.Integer()


# What the till does not need to see (ARCHITECTURE invariant 11): left out for cashiers and
# managers, who also get the phone masked. Admins and marketers see everything.
TILL_HIDDEN = ("openid", "gender", "birthday", "district", "occupation", "education", "income_band",
               "referrer_id")
class MemberPatchIn(StrictSchema):
    """Back-office changes to a member. Admins: everything; marketers: the profile only."""
    tier = fields.String(validate=validate.Length(min=1, max=32),
                         metadata={"description": "a tier's code; needs reason"})
    reason = fields.String(validate=validate.Length(min=1, max=255),
                           metadata={"description": "why (kept in the member's history); required with tier"})
    tier_until = fields.Date(allow_none=True, metadata={"description": "the tier holds through this date"})
    expires_on = fields.Date(allow_none=True)
    name = fields.String(validate=validate.Length(max=64))
    gender = fields.String(validate=validate.OneOf(GENDERS))
    birthday = fields.Date(allow_none=True)
    district = fields.String(validate=validate.Length(max=64))
    occupation = fields.String(validate=validate.Length(max=64))
    education = fields.String(validate=validate.Length(max=32))
    income_band = fields.String(validate=validate.Length(max=32))


class MemberChangeOut(StrictSchema):
    id = fields.Integer()
    field = fields.String()
    old_value = fields.String()
    new_value = fields.String()
    source = fields.String(metadata={"description": "staff, spend, month_end, group, rule or member"})
    reason = fields.String()
    staff = fields.Function(lambda c: c.staff.username if c.staff else None)
    rule_id = fields.Integer(allow_none=True)
    transaction_id = fields.Integer(allow_none=True)
    at = UtcDateTime()


class MemberHistoryOut(StrictSchema):
    member_id = fields.Integer()
    changes = fields.List(fields.Nested(MemberChangeOut))


class MemberQuery(StrictSchema):
    phone = fields.String(validate=validate.Length(min=1, max=20))
    openid = fields.String(validate=validate.Length(min=1, max=64),
                           metadata={"description": "admins and marketers only"})
    card_no = fields.String(validate=validate.Length(min=1, max=32))
    qr_token = fields.String(validate=validate.Regexp(r"^[0-9]{1,20}$"),
                             metadata={"description": "the member's dynamic code from their card page (a "
                                                      "forged, expired or replaced one: 422 saying which)"})


class MemberRef(StrictSchema):
    card_no = fields.String(validate=validate.Length(min=1, max=32))
    member_id = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID))
    qr_token = fields.String(validate=validate.Regexp(r"^[0-9]{1,20}$"),
                             metadata={"description": "the dynamic member code from the member's card page "
                                                      "(20 digits): proves the member is here, so the sale may "
                                                      "spend; it pays for one spending sale"})
    presence_code = fields.String(validate=validate.Regexp(r"^[0-9]{6}$"),
                                  metadata={"description": "the one-time code sent to the member "
                                                           "(POST /members/presence-codes), with card_no"})

    @validates_schema
    def one_of(self, data, **kwargs):
        if not data.get("card_no") and data.get("member_id") is None and not data.get("qr_token"):
            raise ValidationError("give card_no, qr_token or member_id")


class PresenceCodeIn(StrictSchema):
    card_no = fields.String(validate=validate.Length(min=1, max=32))
    phone = fields.String(validate=validate.Length(min=1, max=20))
    store_code = fields.String(validate=validate.Length(min=1, max=32),
                               metadata={"description": "the store the code names (default: the cashier's)"})


class PresenceCodeOut(StrictSchema):
    member_id = fields.Integer()
    channel = fields.String(allow_none=True, metadata={"description": "template (WeChat) or sms; null: the "
                                                                      "member cannot be reached"})
    sent = fields.Boolean()
    expires_at = UtcDateTime()


class MergeIn(StrictSchema):
    card_no = fields.String(required=True, validate=validate.Length(min=1, max=32),
                            metadata={"description": "the other member's card number (it is closed)"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=255))


class CardActionIn(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=255))


class ItemIn(StrictSchema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    category = fields.String(load_default="", validate=validate.Length(max=64))
    qty = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_QTY))
    unit_price_fen = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=MAX_UNIT_PRICE_FEN))


class PaymentIn(StrictSchema):
    method = fields.String(required=True, validate=validate.OneOf(PAYMENT_METHODS))
    amount_fen = fields.Integer(strict=True, validate=validate.Range(min=1, max=10**10),
                                metadata={"description": "left out on one payment: it pays what the others leave"})


class TransactionIn(StrictSchema):
    store_code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    member = fields.Nested(MemberRef, load_default=None, allow_none=True)
    items = fields.List(fields.Nested(ItemIn), required=True, validate=validate.Length(min=1, max=MAX_LINES))
    points_to_use = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=10**9))
    payment_method = fields.String(load_default="cash", validate=validate.OneOf(PAYMENT_METHODS),
                                   metadata={"description": "one tender for the whole sale (shorthand for payments)"})
    payments = fields.List(fields.Nested(PaymentIn), load_default=None, allow_none=True,
                           validate=validate.Length(min=1, max=8),
                           metadata={"description": "split tenders; they must add up to what is left to pay after "
                                                    "discounts and points (payments_do_not_add_up); stored_value "
                                                    "never more than the balance (insufficient_stored_value)"})
    occurred_at = fields.AwareDateTime(
        load_default=None, allow_none=True, format="iso",
        metadata={"description": "An offline till's sale: when it happened, RFC 3339 with its offset "
                                 "(2026-11-23T14:05:00+08:00). Not in the future, not older than "
                                 "WXCRM_OFFLINE_MAX_AGE_DAYS (occurred_at_in_future, occurred_at_too_old)."})
    coupon_codes = fields.List(fields.String(validate=validate.Length(min=1, max=40)), load_default=list,
                               validate=validate.Length(max=20),
                               metadata={"description": "coupons scanned at the till; the member's other coupons "
                                                        "are considered too"})


class RefundItemIn(StrictSchema):
    line_no = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_LINES))
    sku = fields.String(validate=validate.Length(min=1, max=64))
    qty = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_QTY))

    @validates_schema
    def names_a_line(self, data, **kwargs):
        if data.get("line_no") is None and not data.get("sku"):
            raise ValidationError("give line_no or sku")


class RefundIn(StrictSchema):
    items = fields.List(fields.Nested(RefundItemIn), load_default=None, allow_none=True,
                        validate=validate.Length(min=1, max=MAX_LINES))


class ReceiptLineOut(StrictSchema):
    kind = fields.String()
    text = fields.String()
    text_en = fields.String()
    points = fields.Integer()
    amount_fen = fields.Integer()
    sku = fields.String()
    qty = fields.Integer()
    unit_price_fen = fields.Integer()
    rule = fields.String()
    rule_id = fields.Integer(allow_none=True)
    rule_version = fields.Integer(allow_none=True)
    method = fields.String(metadata={"description": "a payment line's tender"})
    principal_fen = fields.Integer(metadata={"description": "stored value: the part that was money paid in"})
    bonus_fen = fields.Integer(metadata={"description": "stored value: the part that was bonus"})
    code = fields.String()


class PaymentOut(StrictSchema):
    method = fields.String()
    amount_fen = fields.Integer()


class CouponAppliedOut(StrictSchema):
    code = fields.String()
    title = fields.String()
    type = fields.String()
    discount_fen = fields.Integer()


class CouponNotAppliedOut(StrictSchema):
    code = fields.String()
    title = fields.String()
    reason_code = fields.String()
    reason = fields.String(metadata={"description": "why, in the request's language"})


class TransactionOut(StrictSchema):
    id = fields.Integer()
    kind = fields.String()
    store_code = fields.String()
    store_name = fields.String()
    member_id = fields.Integer(allow_none=True)
    card_no = fields.String(allow_none=True)
    original_id = fields.Integer()
    payment_method = fields.String()
    total_fen = fields.Integer()
    discount_fen = fields.Integer()
    points_redeemed_fen = fields.Integer()
    payable_fen = fields.Integer()
    refund_fen = fields.Integer()
    points_earned = fields.Integer()
    points_redeemed = fields.Integer()
    points_shortfall = fields.Integer()
    points_balance = fields.Integer(allow_none=True)
    business_date = fields.String()
    created_at = fields.String(metadata={"description": "when the sale happened, RFC 3339"})
    recorded_at = fields.String(metadata={"description": "when wxcrm got it (an offline sale: later), RFC 3339"})
    receipt_lines = fields.List(fields.Nested(ReceiptLineOut))
    payments = fields.List(fields.Nested(PaymentOut), metadata={"description": "a split or stored-value sale's tenders"})
    stored_value_fen = fields.Integer(metadata={"description": "after a stored-value payment or refund"})
    claim_token = fields.String(metadata={"description": "a purchase without a member: the token its receipt "
                                                         "prints as a QR (claim_qr_url) for scan-to-earn"})
    claim_qr_url = fields.String()
    coupons_applied = fields.List(fields.Nested(CouponAppliedOut))
    coupons_not_applied = fields.List(fields.Nested(CouponNotAppliedOut))
    preview = fields.Boolean()


class TransactionPreviewOut(TransactionOut):
    id = fields.Integer(allow_none=True, metadata={"description": "always null: a preview writes nothing"})


class LedgerQuery(StrictSchema):
    kind = fields.String(load_default="points", validate=validate.OneOf(("points", "stored_value")))
    before_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ID))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class LedgerEntryOut(StrictSchema):
    id = fields.Integer()
    amount = fields.Integer()
    balance_after = fields.Integer()
    cause = fields.String()
    cause_id = fields.String()
    transaction_id = fields.Integer(allow_none=True)
    rule_id = fields.Integer(allow_none=True)
    rule_version = fields.Integer(allow_none=True)
    text_zh = fields.String()
    text_en = fields.String()
    created_at = UtcDateTime()


class LedgerPageOut(StrictSchema):
    kind = fields.String()
    balance = fields.Integer()
    entries = fields.List(fields.Nested(LedgerEntryOut))
    next_before_id = fields.Integer(allow_none=True)


class ProblemError(StrictSchema):
    path = fields.String()
    message = fields.String()


class Problem(StrictSchema):
    """application/problem+json (RFC 9457), with our stable `code`."""
    type = fields.String()
    status = fields.Integer()
    code = fields.String()
    title = fields.String()
    detail = fields.String()
    errors = fields.List(fields.Nested(ProblemError))


class TopupIn(StrictSchema):
    store_code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    member = fields.Nested(MemberRef, required=True)
    amount_fen = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10**9))
    method = fields.String(required=True, validate=validate.OneOf(TOPUP_METHODS),
                           metadata={"description": "how the money came in (never stored value or points)"})


class TopupOut(StrictSchema):
    id = fields.Integer()
    status = fields.String()
    channel = fields.String()
    method = fields.String()
    store_code = fields.String(allow_none=True)
    store_name = fields.String(allow_none=True)
    member_id = fields.Integer()
    card_no = fields.String()
    amount_fen = fields.Integer()
    principal_fen = fields.Integer()
    bonus_fen = fields.Integer()
    bonus_points = fields.Integer()
    coupons = fields.List(fields.String())
    stored_value_fen = fields.Integer()
    stored_value_principal_fen = fields.Integer()
    stored_value_bonus_fen = fields.Integer()
    points_balance = fields.Integer()
    business_date = fields.String()
    created_at = fields.String()
    receipt_lines = fields.List(fields.Nested(ReceiptLineOut))
    refund = fields.Dict()


class MembershipIn(StrictSchema):
    store_code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    member = fields.Nested(MemberRef, required=True)
    tier = fields.String(required=True, validate=validate.Length(min=1, max=32),
                         metadata={"description": "a tier with a price (paid membership)"})
    method = fields.String(required=True, validate=validate.OneOf(TOPUP_METHODS + ("stored_value",)))


class MembershipOut(StrictSchema):
    id = fields.Integer()
    member_id = fields.Integer()
    card_no = fields.String()
    tier = fields.String()
    tier_name = fields.String()
    price_fen = fields.Integer()
    method = fields.String()
    months = fields.Integer()
    expires_on = fields.String()
    stored_value_fen = fields.Integer()
    text = fields.String()
    created_at = fields.String()


def plain_dump(schema: Schema, data) -> dict:
    """``schema.dump(data)`` for data that is already JSON-shaped (dicts, lists, str, int,
    bool, None: a receipt the till built): the declared fields only, nested schemas
    followed, any value not already of its field's type serialised by the field itself.
    A receipt has about a hundred fields; marshmallow's dump of them cost the till more
    than its rules (issue 11). tests/api/test_receipt_dump.py holds it equal to dump."""
    out = {}
    for name, field in schema.dump_fields.items():
        attr = field.attribute or name
        if attr not in data:
            continue
        value = data[attr]
        key = field.data_key or name
        kind = type(value)
        if value is None:
            out[key] = None
        elif isinstance(field, fields.List) and isinstance(field.inner, fields.Nested) and kind is list:
            out[key] = [plain_dump(field.inner.schema, v) for v in value]
        elif isinstance(field, fields.Nested) and not field.many and kind is dict:
            out[key] = plain_dump(field.schema, value)
        elif (kind is int and type(field) is fields.Integer) or (kind is str and type(field) is fields.String) \
                or (kind is bool and type(field) is fields.Boolean):
            out[key] = value
        else:
            out[key] = field.serialize(attr, data)
    return out
