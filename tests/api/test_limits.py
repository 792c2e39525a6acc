"""API limits: a body cap, JSON that cannot be read is a 400 problem, integers are bounded,
large sales need a manager, idempotency keys belong to their token, page numbers are clamped."""
from __future__ import annotations

import uuid

import pytest

from tests.conftest import Api


def sale(total_fen: int, store: str = "S001") -> dict:
    return {"store_code": store, "items": [{"sku": "GOLD", "qty": 1, "unit_price_fen": total_fen}]}


@pytest.mark.parametrize("body, code", [
    (b'{"store_code": "S001", "points_to_use": ' + b"9" * 5000 + b"}", "invalid_json"),
    (b"[" * 5000 + b"]" * 5000, "json_too_deep"),
    (b'{"a":' * 40 + b"1" + b"}" * 40, "json_too_deep"),
    (b'{"store_code": ', "invalid_json"),
    (b"\xff\xfe{}", "invalid_json"),
    (b'{"store_code": "S001", "items": [{"sku": "T\\ud800", "qty": 1, "unit_price_fen": 100}]}', "invalid_json"),
    (b'{"store_code": "S001", "items": [{"sku": "T\\uDC00x", "qty": 1, "unit_price_fen": 100}]}', "invalid_json"),
])
def test_unreadable_json_is_a_400_problem(cashier_api, body, code):
    r = cashier_api.client.post("/api/v1/transactions", data=body, content_type="application/json",
                                headers={"Authorization": f"Bearer {cashier_api.token}",
                                         "Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 400 and r.content_type == "application/problem+json" and r.json["code"] == code


def test_a_surrogate_pair_is_one_character(cashier_api):
    """An emoji escaped as its UTF-16 pair (as JavaScript's JSON.stringify may send it) is read."""
    body = b'{"store_code": "S001", "items": [{"sku": "TEA-\\ud83c\\udf75", "qty": 1, "unit_price_fen": 100}]}'
    r = cashier_api.client.post("/api/v1/transactions", data=body, content_type="application/json",
                                headers={"Authorization": f"Bearer {cashier_api.token}",
                                         "Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 201, r.json
    assert r.json["receipt_lines"][0]["sku"] == "TEA-\U0001f375"


def test_a_body_over_one_mebibyte_is_refused_before_it_is_read(cashier_api):
    r = cashier_api.client.post("/api/v1/transactions", data=b"{" + b" " * (1024 * 1024 + 10) + b"}",
                                content_type="application/json",
                                headers={"Authorization": f"Bearer {cashier_api.token}"})
    assert r.status_code == 413 and r.json["code"] == "too_large"


def test_integers_are_bounded_everywhere(cashier_api, admin_api):
    r = cashier_api.post("/transactions", {**sale(100), "points_to_use": 10**30}, key=str(uuid.uuid4()))
    assert r.status_code == 422
    r = cashier_api.post("/transactions", {**sale(100), "member": {"member_id": 10**30}}, key=str(uuid.uuid4()))
    assert r.status_code == 422
    assert admin_api.get("/members/" + "9" * 30).status_code == 404
    assert admin_api.get("/members/1/ledger?before_id=" + "9" * 30).status_code == 422


def test_a_sale_above_the_approval_amount_needs_a_manager(cashier_api, manager_api, admin_api, configure):
    configure(SALE_APPROVAL_FEN=100_000)
    r = cashier_api.post("/transactions", sale(100_001), key=str(uuid.uuid4()))
    assert r.status_code == 403 and r.json["code"] == "approval_required"
    assert cashier_api.post("/transactions", sale(100_000), key=str(uuid.uuid4())).status_code == 201
    assert manager_api.post("/transactions", sale(100_001), key=str(uuid.uuid4())).status_code == 201
    fifty_trillion = {"store_code": "S001", "items": [{"sku": "X", "qty": 100_000, "unit_price_fen": 100_000_000}] * 500}
    r = admin_api.post("/transactions", fifty_trillion, key=str(uuid.uuid4()))
    assert r.status_code == 422 and r.json["code"] == "sale_too_large"


def test_refunds_are_a_managers_and_only_at_their_store(cashier_api, manager_api, make):
    bought = cashier_api.post("/transactions", sale(1000), key=str(uuid.uuid4())).json
    assert cashier_api.post(f"/transactions/{bought['id']}/refund", {}, key=str(uuid.uuid4())).status_code == 403
    other = Api(manager_api.client, make.token("manager", make.store("S009")))
    r = other.post(f"/transactions/{bought['id']}/refund", {}, key=str(uuid.uuid4()))
    assert r.status_code == 403 and r.json["code"] == "wrong_store"
    assert manager_api.post(f"/transactions/{bought['id']}/refund", {}, key=str(uuid.uuid4())).status_code == 201


def test_an_idempotency_key_replayed_by_another_till_does_not_return_the_first_receipt(cashier_api, make, client):
    key = str(uuid.uuid4())
    first = cashier_api.post("/transactions", sale(1234), key=key)
    other_store = make.store("S002")
    other = Api(client, make.token("cashier", other_store))
    second = other.post("/transactions", sale(1234, "S002"), key=key)
    assert second.status_code == 201 and second.json["id"] != first.json["id"]
    assert second.json["store_code"] == "S002"
    same_store_other_till = Api(client, make.token("cashier", make.store("S003")))
    r = same_store_other_till.post("/transactions", sale(1234), key=key)
    assert r.status_code == 403  # S001 is not its store: no receipt leaks either way


@pytest.mark.parametrize("path", ["/console/members?page=abc", "/console/members?page=-5",
                                  "/console/members?page=" + "9" * 40, "/console/outbox/?page=1e99",
                                  "/console/rules/new?copy=" + "9" * 30, "/console/rules/new?part=abc",
                                  "/cashier/history?page=" + "9" * 25])
def test_page_parameters_are_parsed_and_clamped(client, make, path):
    make.staff("admin", username="boss", password="boss-password-1")
    client.post("/login", data={"username": "boss", "password": "boss-password-1"})
    assert client.get(path).status_code in (200, 404)
