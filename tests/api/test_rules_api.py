"""Rules through the API: versions on edit, validation that names the path, pause and
archive, export/import, simulation with reasons, and the till recording versions."""
from __future__ import annotations

import uuid

import pytest

from tests.conftest import Api
from wxcrm.extensions import db
from wxcrm.sales.models import TransactionBenefit

DOUBLE_TEA = {"name": "茶饮双倍积分", "name_en": "Double points on tea", "event": "purchase", "priority": 20,
              "conditions": {"fact": "item.category", "op": "in", "value": ["tea"]},
              "actions": [{"type": "earn_points", "rate": 2}], "exclusive_group": "earn"}
BASE = {"name": "基础积分", "event": "purchase", "priority": 0, "exclusive_group": "earn",
        "actions": [{"type": "earn_points", "rate": 1}]}


@pytest.fixture
def marketer_api(client, make):
    return Api(client, make.token("marketer"))


def test_a_marketer_creates_edits_and_pauses_a_rule_and_every_edit_is_a_version(marketer_api):
    r = marketer_api.post("/rules", BASE)
    assert r.status_code == 201, r.json
    rule = r.json
    assert rule["version"] == 1 and rule["status"] == "draft"
    edited = marketer_api.client.put(f"/api/v1/rules/{rule['id']}", json={**BASE, "priority": 5},
                                     headers={"Authorization": f"Bearer {marketer_api.token}"}).json
    assert edited["version"] == 2 and edited["definition"]["priority"] == 5
    same = marketer_api.client.put(f"/api/v1/rules/{rule['id']}", json={**BASE, "priority": 5},
                                   headers={"Authorization": f"Bearer {marketer_api.token}"}).json
    assert same["version"] == 2  # nothing changed, no new version
    assert marketer_api.post(f"/rules/{rule['id']}/status", {"status": "active"}).json["status"] == "active"
    assert marketer_api.post(f"/rules/{rule['id']}/status", {"status": "paused"}).json["status"] == "paused"
    gone = marketer_api.client.delete(f"/api/v1/rules/{rule['id']}",
                                      headers={"Authorization": f"Bearer {marketer_api.token}"})
    assert gone.json["status"] == "archived"
    assert marketer_api.get("/rules").json == []
    assert marketer_api.get("/rules?status=archived").json[0]["id"] == rule["id"]


def test_an_invalid_rule_is_refused_with_the_failing_path(marketer_api):
    bad = {**BASE, "actions": [{"type": "earn_points", "rate": -1}], "conditions": {"fact": "no.such", "op": "==",
                                                                                  "value": 1}}
    r = marketer_api.post("/rules", bad)
    assert r.status_code == 422 and r.json["code"] == "invalid_rule"
    paths = {e["path"] for e in r.json["errors"]}
    assert any(p.startswith("actions[0]") for p in paths) or any(p.startswith("conditions") for p in paths)
    assert marketer_api.get("/rules").json == []


def test_the_till_records_the_rule_version_that_applied(client, make, marketer_api):
    store = make.store("S001")
    cashier = Api(client, make.token("cashier", store))
    r = marketer_api.post("/rules", {**DOUBLE_TEA, "status": "active"})
    assert r.status_code == 201, r.json
    rule = r.json
    m = make.member()
    sale = {"store_code": "S001", "member": {"member_id": m.id},
            "items": [{"sku": "T1", "category": "tea", "qty": 1, "unit_price_fen": 1000}]}
    first = cashier.post("/transactions", sale, key=str(uuid.uuid4())).json
    assert first["points_earned"] == 20
    marketer_api.client.put(f"/api/v1/rules/{rule['id']}", json={**DOUBLE_TEA, "status": "active",
                                                                  "actions": [{"type": "earn_points", "rate": 3}]},
                            headers={"Authorization": f"Bearer {marketer_api.token}"})
    second = cashier.post("/transactions", sale, key=str(uuid.uuid4())).json
    assert second["points_earned"] == 30
    versions = [(b.transaction_id, b.rule_version) for b in db.session.query(TransactionBenefit)
                .filter(TransactionBenefit.rule_id == rule["id"]).order_by(TransactionBenefit.id)]
    assert versions == [(first["id"], 1), (second["id"], 2)]


def test_cashiers_cannot_edit_rules(client, make):
    cashier = Api(client, make.token("cashier"))
    assert cashier.post("/rules", BASE).status_code == 403
    assert cashier.get("/rules").status_code == 403


def test_export_then_import_reproduces_the_rule_set(client, make, marketer_api):
    marketer_api.post("/rules", BASE)
    marketer_api.post("/rules", {**DOUBLE_TEA, "status": "active"})
    exported = marketer_api.get("/rules/export").json["rules"]
    assert {r["name"] for r in exported} == {"基础积分", "茶饮双倍积分"}
    admin = Api(client, make.token("admin"))
    again = admin.post("/rules/import", {"rules": exported}).json
    assert again == {"created": 0, "updated": 0}  # the same rules: nothing changes
    fresh = [{k: v for k, v in r.items() if k not in ("id", "version")} for r in exported]
    assert admin.post("/rules/import", {"rules": fresh}).json == {"created": 2, "updated": 0}
    bad = admin.post("/rules/import", {"rules": fresh + [{"name": "x", "event": "nope", "actions": []}]})
    assert bad.status_code == 422 and any(e["path"].startswith("[2]") for e in bad.json["errors"])
    assert len(marketer_api.get("/rules").json) == 4  # the bad import added nothing


def test_simulation_answers_effects_and_why_each_rule_did_or_did_not_apply(make, marketer_api):
    make.store("S001")
    marketer_api.post("/rules", {**BASE, "status": "active"})
    marketer_api.post("/rules", {**DOUBLE_TEA, "status": "active"})
    basket = {"store_code": "S001", "member": {"tier": "gold", "birthday": "1990-01-01"},
              "items": [{"sku": "T1", "category": "tea", "qty": 2, "unit_price_fen": 1550}]}
    live = marketer_api.post("/rules/simulate", basket).json
    assert live["totals"]["points"] == 62
    outcomes = {r["rule"]: r["outcome"] for r in live["rules"]}
    assert outcomes == {"茶饮双倍积分": "applied", "基础积分": "lost_exclusive"}
    coffee = marketer_api.post("/rules/simulate", {**basket, "items": [{"sku": "C", "category": "coffee", "qty": 1,
                                                                        "unit_price_fen": 1000}]}).json
    why = {r["rule"]: r for r in coffee["rules"]}
    assert why["茶饮双倍积分"]["outcome"] == "not_matched" and why["茶饮双倍积分"]["reason"]
    draft = marketer_api.post("/rules/simulate", {**basket, "rules": [{**BASE, "actions": [
        {"type": "earn_points", "rate": 5}]}]}).json
    assert draft["totals"]["points"] == 155  # a draft set, not the live one


def test_simulation_shows_conflicts(make, marketer_api):
    make.store("S001")
    stopper = {**BASE, "name": "全场停止", "priority": 100, "stop": True, "exclusive_group": None}
    stopper.pop("exclusive_group")
    r = marketer_api.post("/rules/simulate", {"store_code": "S001", "items": [{"sku": "A", "qty": 1,
                                                                               "unit_price_fen": 100}],
                                              "rules": [stopper, BASE]}).json
    assert any(c["kind"] == "unreachable" for c in r["conflicts"])
