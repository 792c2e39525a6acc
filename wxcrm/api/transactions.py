from __future__ import annotations

from flask import jsonify, request
from flask_smorest import Blueprint

from wxcrm.api.auth import current_staff, roles_required, token_scope
from wxcrm.api.schemas import RefundIn, TransactionIn, TransactionOut, TransactionPreviewOut, plain_dump
from wxcrm.checkout import service as checkout
from wxcrm.config import current_settings
from wxcrm.coupons.words import is_zh, reason_text
from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.idempotency import run_once
from wxcrm.timeutil import Clock

blp = Blueprint("api_transactions", __name__, description="The till: purchases and refunds")

# Schema instances, made once: given a class, webargs builds a schema (and its nested ones)
# for every request, which cost the till more than its rules (issue 11).
TRANSACTION_IN = TransactionIn()
REFUND_IN = RefundIn()
TRANSACTION_OUT = TransactionOut()   # the receipt is dumped by plain_dump (the same as its dump, cheaper)

IDEMPOTENCY_DOC = {"parameters": [{"in": "header", "name": "Idempotency-Key", "required": True,
                                   "schema": {"type": "string", "minLength": 8, "maxLength": 128},
                                   "description": "One key per sale: a repeat with the same token returns the first "
                                                  "answer. Keys are scoped per token: another till's "
                                                  "key never replays this one's receipt."}],
                   "responses": {"409": {"description": "Key already used with another body"}}}


def idempotency_key() -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not 8 <= len(key) <= 128:
        raise DomainError("send an Idempotency-Key header (8-128 characters), one per sale",
                          code="idempotency_key_required", status=400, fields={"Idempotency-Key": "required"})
    return key


@blp.route("/transactions", methods=["POST"])
@roles_required(blp, "cashier", "manager", "admin")
@blp.arguments(TRANSACTION_IN)
@blp.response(201, TransactionOut)
@blp.doc(**IDEMPOTENCY_DOC)
def create_transaction(data):
    """Ring up a purchase: price the basket, apply the rules, write the ledger, answer the receipt.

    A sale rung up while the till was offline sends `occurred_at`; the rules, the business
    date, points expiry and limits then use that moment."""
    key = idempotency_key()
    staff = current_staff()

    settings = current_settings()
    session = db.session()      # the request's own session: no scoped-proxy look-up per use (issue 11)

    def write():
        now = Clock.now(settings.tz)
        clock = checkout.sale_clock(settings, occurred_at=data["occurred_at"], now=now)
        txn = checkout.ring_up_purchase(session, staff=staff, clock=clock, settings=settings,
                                        store_code=data["store_code"], items=data["items"],
                                        member_ref=data["member"], points_to_use=data["points_to_use"],
                                        payment_method=data["payment_method"], received_at=now.utc,
                                        payments=data["payments"], coupon_codes=data["coupon_codes"])
        return 201, txn.receipt

    # the key row goes in with the answer, after the sale (one statement): a sale has no effect
    # outside the database, so a repeat may run to its end before it is rolled back and replayed
    status, body, _ = run_once(session, f"transactions:{token_scope()}", key, request.get_json(), write,
                               claim_first=False)
    session.commit()
    return jsonify(plain_dump(TRANSACTION_OUT, with_coupon_reasons(body))), status


def with_coupon_reasons(body: dict) -> dict:
    """Each coupon left out says why in the request's language (the stored receipt keeps the code),
    and is named in it (its English title, when it has one, for an English request)."""
    if not body.get("coupons_not_applied"):
        return body
    english = not is_zh()
    return body | {"coupons_not_applied": [
        {k: v for k, v in c.items() if k != "title_en"} | {"reason": reason_text(c["reason_code"])}
        | ({"title": c["title_en"]} if english and c.get("title_en") else {})
        for c in body["coupons_not_applied"]]}


@blp.route("/transactions/preview", methods=["POST"])
@roles_required(blp, "cashier", "manager", "admin")
@blp.arguments(TRANSACTION_IN)
@blp.response(200, TransactionPreviewOut)
def preview_transaction(data):
    """What a purchase would give, writing nothing: the same body as a purchase (no
    Idempotency-Key), the same rules and coupon choice, rolled back. The till calls it as
    the basket changes."""
    settings = current_settings()
    body = checkout.preview_purchase(db.session, staff=current_staff(), settings=settings,
                                     store_code=data["store_code"], items=data["items"], member_ref=data["member"],
                                     points_to_use=data["points_to_use"], payment_method=data["payment_method"],
                                     coupon_codes=data["coupon_codes"])
    db.session.rollback()
    return with_coupon_reasons(body)


@blp.route("/transactions/<int:transaction_id>/refund", methods=["POST"])
@roles_required(blp, "manager", "admin")
@blp.arguments(REFUND_IN)
@blp.response(201, TransactionOut)
@blp.doc(**IDEMPOTENCY_DOC)
def refund_transaction(data, transaction_id):
    """Refund a whole purchase, or some of its items by line_no or sku."""
    key = idempotency_key()
    staff = current_staff()

    settings = current_settings()
    session = db.session()

    def write():
        refund = checkout.refund_purchase(session, transaction_id=transaction_id, staff=staff,
                                          clock=Clock.now(settings.tz), settings=settings, items=data["items"])
        return 201, refund.receipt

    status, body, _ = run_once(session, f"refund:{transaction_id}:{token_scope()}", key,
                               request.get_json(silent=True) or {}, write, claim_first=False)
    session.commit()
    return jsonify(plain_dump(TRANSACTION_OUT, body)), status
