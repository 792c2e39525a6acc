"""Issue 9, items 7, 9 (API side) and 10 (API side): a sale rung up offline with
occurred_at; a refund tells the member about their points; points pay at most a share
of the bill."""
from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest
from sqlalchemy import select

from tests.conftest import Api
from wxcrm.extensions import db
from wxcrm.ledger.models import PointsLot
from wxcrm.messages.models import OutboxMessage

NOW = datetime(2026, 11, 23, 6, 0)          # 14:00 in Shanghai


@pytest.fixture
def till(cashier_api: Api, make, frozen_now):
    frozen_now(NOW)
    make.base_rule()
    return cashier_api


def sale(member, token=None, **extra):
    """``token``: the member's dynamic code, which a sale that spends needs."""
    return {"store_code": "S001", "member": {"qr_token": token} if token else {"member_id": member.id},
            "items": [{"sku": "TEA-001", "category": "tea", "qty": 1, "unit_price_fen": 10_000}], **extra}


def test_an_offline_sale_is_dated_when_it_happened(till, make):
    member = make.member()
    r = till.post("/transactions", sale(member, occurred_at="2026-11-19T23:30:00+08:00"), key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    assert r.json["business_date"] == "2026-11-19"
    assert r.json["created_at"] == "2026-11-19T15:30:00Z" and r.json["recorded_at"] == "2026-11-23T06:00:00Z"
    lot = db.session.scalar(select(PointsLot))
    assert lot.expires_on == date(2028, 11, 30)         # expiry counts from the sale's month


def test_an_offline_sale_uses_the_limits_of_its_own_day(till, make):
    from wxcrm.rules import storage
    storage.create_rule(db.session, {"name": "每日一次", "event": "purchase", "status": "active",
                                     "limits": {"per_day": 1}, "actions": [{"type": "bonus_points", "points": 10}]})
    db.session.commit()
    member = make.member()
    assert till.post("/transactions", sale(member), key=str(uuid.uuid4())).json["points_earned"] == 110
    yesterday = till.post("/transactions", sale(member, occurred_at="2026-11-22T20:00:00+08:00"),
                          key=str(uuid.uuid4())).json
    assert yesterday["points_earned"] == 110            # yesterday's daily bonus was still unused


@pytest.mark.parametrize("occurred_at, code", [
    ("2026-11-23T14:30:00+08:00", "occurred_at_in_future"),
    ("2026-11-16T13:59:00+08:00", "occurred_at_too_old"),
])
def test_an_offline_sale_outside_the_bounds_is_refused(till, make, occurred_at, code):
    r = till.post("/transactions", sale(make.member(), occurred_at=occurred_at), key=str(uuid.uuid4()))
    assert r.status_code == 422 and r.json["code"] == code
    assert r.content_type == "application/problem+json"
    assert r.json["errors"][0]["path"] == "occurred_at"


def test_the_oldest_offline_sale_is_a_setting(till, make, configure):
    configure(OFFLINE_MAX_AGE_DAYS=30)
    r = till.post("/transactions", sale(make.member(), occurred_at="2026-11-01T10:00:00+08:00"), key=str(uuid.uuid4()))
    assert r.status_code == 201


def test_occurred_at_needs_its_offset(till, make):
    r = till.post("/transactions", sale(make.member(), occurred_at="2026-11-23T10:00:00"), key=str(uuid.uuid4()))
    assert r.status_code == 422 and r.json["errors"][0]["path"] == "occurred_at"


def test_a_refund_tells_the_member_about_their_points(till, manager_api, make):
    member = make.member(openid="o-refund")
    bought = till.post("/transactions", sale(member), key=str(uuid.uuid4())).json
    r = manager_api.post(f"/transactions/{bought['id']}/refund", {}, key=str(uuid.uuid4()))
    assert r.status_code == 201
    notices = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [n.purpose for n in notices] == ["points_changed", "points_changed"]
    assert "退货" in notices[1].payload["source_text"] and "-100" in notices[1].payload["source_text"]


def test_a_refund_receipt_shows_money_back_as_a_positive_amount_and_points_as_points(till, manager_api, make):
    member = make.member()
    bought = till.post("/transactions", sale(member, points_to_use=0), key=str(uuid.uuid4())).json
    refund = manager_api.post(f"/transactions/{bought['id']}/refund", {}, key=str(uuid.uuid4())).json
    lines = {line["kind"]: line for line in refund["receipt_lines"]}
    assert lines["refund"]["amount_fen"] == 10_000 and lines["item"]["amount_fen"] == 10_000
    assert lines["points"]["points"] == -100 and "amount_fen" not in lines["points"]
    assert refund["card_no"] == member.card_no and refund["store_code"] == "S001"


def test_points_pay_at_most_the_configured_share_of_the_bill(till, make, configure):
    configure(POINTS_MAX_SHARE_PCT=50)
    member = make.member()
    till.post("/transactions", sale(member), key=str(uuid.uuid4()))
    till.post("/transactions", sale(member), key=str(uuid.uuid4()))          # 200 points now
    r = till.post("/transactions", sale(member, items=[{"sku": "A", "qty": 1, "unit_price_fen": 300}],
                                        points_to_use=151,
                                        token=make.code(member)), key=str(uuid.uuid4()))
    assert r.status_code == 422 and r.json["code"] == "points_exceed_share"
    assert "50%" in r.json["detail"] and "150 points" in r.json["detail"]
    r = till.post("/transactions", sale(member, items=[{"sku": "A", "qty": 1, "unit_price_fen": 300}],
                                        points_to_use=150,
                                        token=make.code(member)), key=str(uuid.uuid4()))
    assert r.status_code == 201 and r.json["payable_fen"] == 150


def test_the_openapi_document_types_every_error_as_problem_json(client):
    doc = client.get("/api/v1/openapi.json").json
    operation = doc["paths"]["/api/v1/transactions"]["post"]
    for status in ("400", "404", "409", "422"):
        assert list(operation["responses"][status]["content"]) == ["application/problem+json"], status
    refund = doc["paths"]["/api/v1/transactions/{transaction_id}/refund"]["post"]
    assert "application/problem+json" in refund["responses"]["404"]["content"]
    assert all("application/json" not in r.get("content", {}) for r in doc["components"]["responses"].values())
    assert "occurred_at" in doc["components"]["schemas"]["TransactionIn"]["properties"]
