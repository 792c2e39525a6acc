from __future__ import annotations

from flask import request
from flask_smorest import Blueprint

from wxcrm.api.auth import current_staff, roles_required, token_scope
from wxcrm.api.schemas import MembershipIn, MembershipOut, TopupIn, TopupOut
from wxcrm.api.transactions import IDEMPOTENCY_DOC, idempotency_key
from wxcrm.config import current_settings
from wxcrm.extensions import db
from wxcrm.idempotency import run_once
from wxcrm.timeutil import Clock
from wxcrm.topups import membership
from wxcrm.topups import service as topups

blp = Blueprint("api_topups", __name__, description="Stored value: top-ups at the counter and their refunds")


@blp.route("/topups", methods=["POST"])
@roles_required(blp, "cashier", "manager", "admin")
@blp.arguments(TopupIn)
@blp.response(201, TopupOut)
@blp.doc(**IDEMPOTENCY_DOC)
def create_topup(data):
    """Top up a member's stored value at the counter: the money taken in `method`, the
    principal and the bonus the `topup` rules give (stored value, points, coupons), the new
    balance. A card holds at most WXCRM_STORED_VALUE_CAP_FEN (stored_value_cap)."""
    key = idempotency_key()
    staff = current_staff()
    settings = current_settings()

    def write():
        topup = topups.top_up_at_counter(db.session, store_code=data["store_code"], member_ref=data["member"],
                                         amount_fen=data["amount_fen"], method=data["method"],
                                         clock=Clock.now(settings.tz), settings=settings, staff=staff)
        return 201, topup.receipt

    status, body, _ = run_once(db.session, f"topups:{token_scope()}", key, request.get_json(), write)
    db.session.commit()
    return body, status


@blp.route("/topups/<int:topup_id>/refund", methods=["POST"])
@roles_required(blp, "manager", "admin")
@blp.response(201, TopupOut)
@blp.doc(**IDEMPOTENCY_DOC)
def refund_topup(topup_id):
    """Refund a top-up: what is left of its principal goes back, less the bonus already spent;
    what is left of its bonus and its bonus points are taken back (README, "Stored value").
    A WeChat Pay top-up's money goes back through WeChat Pay's refund (`status` `refunding`
    until WeChat accepts it; the `topup-order-query` job retries)."""
    key = idempotency_key()
    staff = current_staff()
    settings = current_settings()

    def write():
        topup = topups.refund_topup(db.session, topup_id=topup_id, clock=Clock.now(settings.tz),
                                    settings=settings, staff=staff)
        return 201, topup.receipt

    status, body, _ = run_once(db.session, f"topup-refund:{topup_id}:{token_scope()}", key,
                               request.get_json(silent=True) or {}, write)
    db.session.commit()
    if body.get("status") == "refunding":     # paid by WeChat Pay: its refund API, after the commit
        from wxcrm.topups.wechat import send_refund
        body = {**body, "status": send_refund(db.session, topup_id, settings=settings, commit=db.session.commit)}
    return body, status


@blp.route("/memberships", methods=["POST"])
@roles_required(blp, "cashier", "manager", "admin")
@blp.arguments(MembershipIn)
@blp.response(201, MembershipOut)
@blp.doc(**IDEMPOTENCY_DOC)
def buy_membership(data):
    """Paid membership: buy or renew a tier that has a price, for its term, with stored value or
    money taken at the counter. The membership runs from today or its current end. Stored value
    needs the member at the till, as a sale's does: `member.qr_token`, or `card_no` with a
    `presence_code`, or a typed card number where the store allows it (403 `presence_required`)."""
    key = idempotency_key()
    staff = current_staff()
    settings = current_settings()

    def write():
        bought = membership.buy_membership(db.session, store_code=data["store_code"], member_ref=data["member"],
                                           tier_code=data["tier"], method=data["method"],
                                           clock=Clock.now(settings.tz), settings=settings, staff=staff)
        return 201, bought.receipt

    status, body, _ = run_once(db.session, f"memberships:{token_scope()}", key, request.get_json(), write)
    db.session.commit()
    return body, status
