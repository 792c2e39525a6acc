"""The till API: a purchase, its receipt, idempotency, refunds."""
from __future__ import annotations

import uuid

import pytest

from tests.conftest import Api


@pytest.fixture(autouse=True)
def base_earning(make):
    """The shop earns 1 point per yuan: the base earning rule every install starts with."""
    return make.base_rule()


def sale(card_no=None, items=None, token=None, **extra):
    """A sale; ``token``: the member's dynamic code instead of the card number (needed to spend)."""
    body = {"store_code": "S001", "items": items or [{"sku": "TEA-001", "category": "tea", "qty": 2,
                                                    "unit_price_fen": 1295}]}
    if card_no:
        body["member"] = {"card_no": card_no}
    if token:
        body["member"] = {"qr_token": token}
    body.update(extra)
    return body



def looked_up(api, member):
    """The till opens a member's ledger after looking the member up (walking ids finds nothing)."""
    assert api.get(f"/members?card_no={member.card_no}").status_code == 200
    return api

def test_a_member_buying_25_90_yuan_earns_25_points(cashier_api: Api, make):
    member = make.member()
    r = cashier_api.post("/transactions", sale(member.card_no), key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    body = r.json
    assert body["total_fen"] == 2590
    assert body["payable_fen"] == 2590
    assert body["points_earned"] == 25  # rounded down
    assert body["points_balance"] == 25
    assert body["member_id"] == member.id
    kinds = [line["kind"] for line in body["receipt_lines"]]
    assert kinds[0] == "item" and "points" in kinds and "payable" in kinds
    points_line = next(line for line in body["receipt_lines"] if line["kind"] == "points")
    assert points_line["points"] == 25 and "积分" in points_line["text"]


def test_a_walk_in_sale_earns_nothing_and_has_no_member(cashier_api):
    r = cashier_api.post("/transactions", sale(), key=str(uuid.uuid4()))
    assert r.status_code == 201
    assert r.json["member_id"] is None and r.json["points_earned"] == 0 and r.json["points_balance"] is None


def test_the_same_key_returns_the_same_body_and_writes_nothing(cashier_api, make):
    member = make.member()
    key = str(uuid.uuid4())
    first = cashier_api.post("/transactions", sale(member.card_no), key=key)
    again = cashier_api.post("/transactions", sale(member.card_no), key=key)
    assert again.status_code == 201
    assert again.json == first.json
    ledger = looked_up(cashier_api, member).get(f"/members/{member.id}/ledger?kind=points").json
    assert ledger["balance"] == 25 and len(ledger["entries"]) == 1


def test_the_same_key_with_another_body_is_a_409(cashier_api, make):
    member = make.member()
    key = str(uuid.uuid4())
    assert cashier_api.post("/transactions", sale(member.card_no), key=key).status_code == 201
    r = cashier_api.post("/transactions", sale(member.card_no, points_to_use=0,
                                               items=[{"sku": "X", "qty": 1, "unit_price_fen": 100}]), key=key)
    assert r.status_code == 409
    assert r.json["code"] == "idempotency_key_reused"
    assert r.content_type == "application/problem+json"


def test_a_sale_without_an_idempotency_key_is_refused(cashier_api):
    r = cashier_api.post("/transactions", sale())
    assert r.status_code == 400 and r.json["code"] == "idempotency_key_required"


def test_validation_errors_name_the_failing_fields_and_change_nothing(cashier_api, make):
    member = make.member()
    r = cashier_api.post("/transactions", sale(member.card_no, items=[{"sku": "A", "qty": 0, "unit_price_fen": -5}]),
                         key=str(uuid.uuid4()))
    assert r.status_code == 422
    assert r.content_type == "application/problem+json"
    assert r.json["code"] == "validation_failed"
    paths = {e["path"] for e in r.json["errors"]}
    assert {"items.0.qty", "items.0.unit_price_fen"} <= paths
    assert looked_up(cashier_api, member).get(f"/members/{member.id}/ledger").json["entries"] == []


def test_money_must_be_integer_fen_not_a_float(cashier_api):
    r = cashier_api.post("/transactions", sale(items=[{"sku": "A", "qty": 1, "unit_price_fen": 12.5}]),
                         key=str(uuid.uuid4()))
    assert r.status_code == 422 and r.json["errors"][0]["path"] == "items.0.unit_price_fen"


def test_unknown_store_and_member_are_clear_errors(cashier_api, make):
    r = cashier_api.post("/transactions", sale(card_no="880000000000"), key=str(uuid.uuid4()))
    assert r.status_code == 404 and r.json["code"] == "member_not_found"
    make.store("S999")
    r = cashier_api.post("/transactions", {**sale(), "store_code": "S999"}, key=str(uuid.uuid4()))
    assert r.status_code == 403 and r.json["code"] == "wrong_store"


def test_points_pay_part_of_the_basket_and_that_part_earns_nothing(cashier_api, make):
    member = make.member()
    cashier_api.post("/transactions", sale(member.card_no, items=[{"sku": "G", "qty": 1, "unit_price_fen": 50000}]),
                     key=str(uuid.uuid4()))  # earns 500
    r = cashier_api.post("/transactions", sale(member.card_no, items=[{"sku": "G", "qty": 1, "unit_price_fen": 10000}],
                                               points_to_use=300, token=make.code(member)), key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    assert r.json["points_redeemed"] == 300
    assert r.json["payable_fen"] == 10000 - 300
    assert r.json["points_earned"] == 97  # on 97.00 yuan actually paid
    assert r.json["points_balance"] == 500 - 300 + 97


def test_using_more_points_than_available_is_refused_and_changes_nothing(cashier_api, make):
    member = make.member()
    r = cashier_api.post("/transactions", sale(member.card_no, points_to_use=10, token=make.code(member)), key=str(uuid.uuid4()))
    assert r.status_code == 422 and r.json["code"] == "insufficient_points"
    assert looked_up(cashier_api, member).get(f"/members/{member.id}/ledger").json["balance"] == 0
    assert looked_up(cashier_api, member).get(f"/members/{member.id}/ledger").json["entries"] == []


def test_a_whole_refund_takes_back_the_points_and_returns_the_money(cashier_api, manager_api, make):
    member = make.member()
    bought = cashier_api.post("/transactions", sale(member.card_no), key=str(uuid.uuid4())).json
    r = manager_api.post(f"/transactions/{bought['id']}/refund", {}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    assert r.json["refund_fen"] == 2590 and r.json["points_earned"] == -25 and r.json["points_balance"] == 0
    again = manager_api.post(f"/transactions/{bought['id']}/refund", {}, key=str(uuid.uuid4()))
    assert again.status_code == 422 and again.json["code"] == "already_refunded"


def test_refunds_by_item_add_up_to_exactly_what_was_earned(cashier_api, manager_api, make):
    member = make.member()
    items = [{"sku": "A", "qty": 3, "unit_price_fen": 3333}, {"sku": "B", "qty": 1, "unit_price_fen": 1001}]
    bought = cashier_api.post("/transactions", sale(member.card_no, items=items), key=str(uuid.uuid4())).json
    assert bought["points_earned"] == 110  # 110.00 yuan
    parts = []
    for spec in ({"line_no": 1, "qty": 1}, {"sku": "A", "qty": 1}, {"line_no": 2}, {"line_no": 1, "qty": 1}):
        r = manager_api.post(f"/transactions/{bought['id']}/refund", {"items": [spec]}, key=str(uuid.uuid4()))
        assert r.status_code == 201, r.json
        parts.append(r.json)
    assert sum(p["points_earned"] for p in parts) == -110
    assert sum(p["refund_fen"] for p in parts) == 11000
    assert parts[-1]["points_balance"] == 0


def test_a_member_who_spent_the_earned_points_pays_for_them_out_of_the_refund(cashier_api, manager_api, make):
    """Policy: no balance goes negative; spent points are charged at the point value (1 fen)."""
    member = make.member()
    bought = cashier_api.post("/transactions", sale(member.card_no, items=[{"sku": "G", "qty": 1, "unit_price_fen": 10000}]),
                              key=str(uuid.uuid4())).json  # earns 100
    spent = cashier_api.post("/transactions", sale(member.card_no, items=[{"sku": "C", "qty": 1, "unit_price_fen": 100}],
                                                   points_to_use=100, token=make.code(member)), key=str(uuid.uuid4())).json
    assert spent["points_balance"] == 0
    r = manager_api.post(f"/transactions/{bought['id']}/refund", {}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    assert r.json["points_shortfall"] == 100
    assert r.json["points_earned"] == 0
    assert r.json["refund_fen"] == 10000 - 100
    assert r.json["points_balance"] == 0


def test_refunding_a_purchase_paid_with_points_gives_the_points_back(cashier_api, manager_api, make):
    member = make.member()
    cashier_api.post("/transactions", sale(member.card_no, items=[{"sku": "G", "qty": 1, "unit_price_fen": 20000}]),
                     key=str(uuid.uuid4()))  # 200 points
    paid = cashier_api.post("/transactions", sale(member.card_no, items=[{"sku": "G", "qty": 2, "unit_price_fen": 5000}],
                                                  points_to_use=150, token=make.code(member)), key=str(uuid.uuid4())).json
    assert paid["points_balance"] == 200 - 150 + 98
    half = manager_api.post(f"/transactions/{paid['id']}/refund", {"items": [{"line_no": 1, "qty": 1}]},
                            key=str(uuid.uuid4())).json
    assert half["points_redeemed"] == -75 and half["points_earned"] == -49
    rest = manager_api.post(f"/transactions/{paid['id']}/refund", {}, key=str(uuid.uuid4())).json
    assert rest["points_redeemed"] == -75 and rest["points_earned"] == -49
    assert rest["points_balance"] == 200
    assert half["refund_fen"] + rest["refund_fen"] == paid["payable_fen"]


def test_a_following_member_is_told_about_the_points_through_the_outbox(cashier_api, make):
    from sqlalchemy import select

    from wxcrm.extensions import db
    from wxcrm.messages.models import OutboxMessage
    member = make.member(openid="o-notify")
    member.followed = True
    db.session.commit()
    cashier_api.post("/transactions", sale(member.card_no), key=str(uuid.uuid4()))
    refused = cashier_api.post("/transactions", sale(member.card_no, points_to_use=999, token=make.code(member)), key=str(uuid.uuid4()))
    assert refused.status_code == 422  # rolled back: no message for it
    [message] = db.session.scalars(select(OutboxMessage)).all()
    assert message.member_id == member.id and message.purpose == "points_changed"
    assert "+25" in message.payload["source_text"]
