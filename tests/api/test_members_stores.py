"""Members and stores through the API; the OpenAPI document."""
from __future__ import annotations

from wxcrm.members.service import valid_card_no


def test_enrolling_a_member_issues_a_card_number(cashier_api, make):
    make.store("S002")
    r = cashier_api.post("/members", {"phone": "13812345678", "name": "王芳", "gender": "female",
                                      "birthday": "1990-05-17", "home_store_code": "S002",
                                      "privacy_consent": True})
    assert r.status_code == 201, r.json
    m = r.json
    assert valid_card_no(m["card_no"]) and m["card_no"].startswith("8800")
    assert m["status"] == "active" and m["home_store_code"] == "S002" and m["points_balance"] == 0
    assert cashier_api.get(f"/members/{m['id']}").json["card_no"] == m["card_no"]
    for query in ("phone=13812345678", f"card_no={m['card_no']}"):
        found = cashier_api.get(f"/members?{query}").json
        assert [x["id"] for x in found] == [m["id"]]


def test_card_numbers_are_unique_and_checked_by_luhn(cashier_api):
    cards = {cashier_api.post("/members", {"phone": f"1381234{i:04d}", "privacy_consent": True}).json["card_no"] for i in range(5)}
    assert len(cards) == 5 and all(valid_card_no(c) for c in cards)
    assert not valid_card_no(next(iter(cards))[:-1] + "0") or next(iter(cards)).endswith("0")


def test_a_phone_can_belong_to_one_member_only(cashier_api):
    assert cashier_api.post("/members", {"phone": "13812345678", "privacy_consent": True}).status_code == 201
    r = cashier_api.post("/members", {"phone": "13812345678", "privacy_consent": True})
    assert r.status_code == 409 and r.json["code"] == "phone_taken"


def test_a_member_needs_a_phone_or_openid_and_valid_fields(cashier_api):
    r = cashier_api.post("/members", {"name": "x", "privacy_consent": True})
    assert r.status_code == 422 and r.json["errors"][0]["path"] == "phone"
    r = cashier_api.post("/members", {"phone": "12345", "gender": "x", "birthday": "not-a-date"})
    assert r.status_code == 422
    assert {"phone", "gender", "birthday"} <= {e["path"] for e in r.json["errors"]}


def test_looking_up_a_missing_member(cashier_api):
    assert cashier_api.get("/members?phone=13800000000").json == []
    r = cashier_api.get("/members/999999")
    assert r.status_code == 404 and r.json["code"] == "member_not_found"
    assert cashier_api.get("/members").status_code == 400


def test_the_ledger_pages_through_entries(cashier_api, make):
    import uuid
    make.base_rule()
    member = make.member()
    for i in range(5):
        cashier_api.post("/transactions", {"store_code": "S001", "member": {"member_id": member.id},
                                           "items": [{"sku": "A", "qty": 1, "unit_price_fen": 100 * (i + 1)}]},
                         key=str(uuid.uuid4()))
    assert cashier_api.get(f"/members/{member.id}/ledger").status_code == 404  # not looked up here yet
    cashier_api.get(f"/members?card_no={member.card_no}")
    first = cashier_api.get(f"/members/{member.id}/ledger?limit=2").json
    assert [e["amount"] for e in first["entries"]] == [5, 4] and first["balance"] == 15
    second = cashier_api.get(f"/members/{member.id}/ledger?limit=2&before_id={first['next_before_id']}").json
    assert [e["amount"] for e in second["entries"]] == [3, 2]
    assert second["entries"][0]["cause"] == "purchase" and second["entries"][0]["transaction_id"]
    assert cashier_api.get(f"/members/{member.id}/ledger?kind=stored_value").json["entries"] == []


def test_admins_create_and_list_stores(admin_api):
    r = admin_api.post("/stores", {"code": "hz01", "name": "杭州店", "kind": "franchise", "city": "杭州"})
    assert r.status_code == 201 and r.json["code"] == "HZ01" and r.json["kind"] == "franchise"
    assert admin_api.post("/stores", {"code": "HZ01", "name": "again"}).status_code == 409
    assert admin_api.post("/stores", {"code": "X", "name": "bad", "kind": "shop"}).status_code == 422
    assert [s["code"] for s in admin_api.get("/stores").json] == ["HZ01"]


def test_the_openapi_document_is_generated_from_the_schemas(client):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    post = doc["paths"]["/api/v1/transactions"]["post"]
    assert post["security"] == [{"bearerAuth": []}]
    schema_ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    item = doc["components"]["schemas"]["ItemIn"]
    assert schema_ref.endswith("/TransactionIn") and item["properties"]["unit_price_fen"]["type"] == "integer"
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])


def test_enrolment_needs_the_members_consent_to_the_privacy_notice(cashier_api, admin_api):
    for body in ({"phone": "13812340001"}, {"phone": "13812340001", "privacy_consent": False}):
        r = cashier_api.post("/members", body)
        assert r.status_code == 422 and "privacy_consent" in {e["path"] for e in r.json["errors"]}
    r = cashier_api.post("/members", {"phone": "13812340001", "privacy_consent": True, "marketing_consent": True})
    assert r.status_code == 201
    from wxcrm.extensions import db
    from wxcrm.members.models import ConsentRecord, Member
    member = db.session.get(Member, r.json["id"])
    assert member.privacy_version == "2026-01" and member.marketing_consent
    kinds = {(c.kind, c.granted, c.channel) for c in db.session.query(ConsentRecord).filter_by(member_id=member.id)}
    assert kinds == {("privacy", True, "staff"), ("marketing", True, "staff")}
