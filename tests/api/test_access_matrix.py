"""Every API endpoint: 401 without or with a wrong token, 403 for a role it does not allow.

The table below is the access policy, written out by hand; a new endpoint that is not
in it fails `test_every_api_route_is_in_the_matrix`, so none ships unchecked: add its row here.
"""
from __future__ import annotations

import pytest

ROLES = ("admin", "marketer", "cashier", "manager")

# (method, path pattern as in the url map, example path, roles allowed)
MATRIX = [
    ("POST", "/api/v1/members", "/api/v1/members", {"cashier", "manager", "admin"}),
    ("GET", "/api/v1/members", "/api/v1/members?phone=13900000000", {"cashier", "manager", "marketer", "admin"}),
    ("GET", "/api/v1/members/<int:member_id>", "/api/v1/members/1", {"cashier", "manager", "marketer", "admin"}),
    ("PATCH", "/api/v1/members/<int:member_id>", "/api/v1/members/1", {"marketer", "admin"}),
    ("GET", "/api/v1/members/<int:member_id>/history", "/api/v1/members/1/history", {"marketer", "admin"}),
    ("GET", "/api/v1/members/<int:member_id>/ledger", "/api/v1/members/1/ledger", {"cashier", "manager", "marketer", "admin"}),
    ("POST", "/api/v1/members/presence-codes", "/api/v1/members/presence-codes", {"cashier", "manager", "admin"}),
    ("POST", "/api/v1/members/<int:member_id>/card/lost", "/api/v1/members/1/card/lost", {"cashier", "manager", "admin"}),
    ("POST", "/api/v1/members/<int:member_id>/card/replace", "/api/v1/members/1/card/replace",
     {"cashier", "manager", "admin"}),
    ("POST", "/api/v1/members/<int:member_id>/merge", "/api/v1/members/1/merge", {"admin"}),
    ("POST", "/api/v1/stores", "/api/v1/stores", {"admin"}),
    ("GET", "/api/v1/stores", "/api/v1/stores", {"admin"}),
    ("POST", "/api/v1/transactions", "/api/v1/transactions", {"cashier", "manager", "admin"}),
    ("POST", "/api/v1/transactions/<int:transaction_id>/refund", "/api/v1/transactions/1/refund", {"manager", "admin"}),
    ("POST", "/api/v1/topups", "/api/v1/topups", {"cashier", "manager", "admin"}),
    ("POST", "/api/v1/topups/<int:topup_id>/refund", "/api/v1/topups/1/refund", {"manager", "admin"}),
    ("POST", "/api/v1/memberships", "/api/v1/memberships", {"cashier", "manager", "admin"}),
    ("GET", "/api/v1/rules", "/api/v1/rules", {"marketer", "admin"}),
    ("POST", "/api/v1/rules", "/api/v1/rules", {"marketer", "admin"}),
    ("GET", "/api/v1/rules/<int:rule_id>", "/api/v1/rules/1", {"marketer", "admin"}),
    ("PUT", "/api/v1/rules/<int:rule_id>", "/api/v1/rules/1", {"marketer", "admin"}),
    ("DELETE", "/api/v1/rules/<int:rule_id>", "/api/v1/rules/1", {"marketer", "admin"}),
    ("POST", "/api/v1/rules/<int:rule_id>/status", "/api/v1/rules/1/status", {"marketer", "admin"}),
    ("GET", "/api/v1/rules/export", "/api/v1/rules/export", {"marketer", "admin"}),
    ("POST", "/api/v1/rules/import", "/api/v1/rules/import", {"admin"}),
    ("POST", "/api/v1/rules/simulate", "/api/v1/rules/simulate", {"marketer", "admin"}),
    ("GET", "/api/v1/greetings/holidays", "/api/v1/greetings/holidays?year=2027", {"marketer", "admin"}),
    ("GET", "/api/v1/greetings", "/api/v1/greetings", {"marketer", "admin"}),
    ("PATCH", "/api/v1/greetings/<int:greeting_id>", "/api/v1/greetings/1", {"marketer", "admin"}),
    ("GET", "/api/v1/segments/fields", "/api/v1/segments/fields", {"marketer", "admin"}),
    ("PUT", "/api/v1/segments/rfm-thresholds", "/api/v1/segments/rfm-thresholds", {"marketer", "admin"}),
    ("POST", "/api/v1/segments/preview", "/api/v1/segments/preview", {"marketer", "admin"}),
    ("POST", "/api/v1/segments", "/api/v1/segments", {"marketer", "admin"}),
    ("GET", "/api/v1/segments", "/api/v1/segments", {"marketer", "admin"}),
    ("GET", "/api/v1/segments/<int:segment_id>", "/api/v1/segments/1", {"marketer", "admin"}),
    ("GET", "/api/v1/segments/<int:segment_id>/export.csv", "/api/v1/segments/1/export.csv", {"marketer", "admin"}),
    ("POST", "/api/v1/campaigns", "/api/v1/campaigns", {"marketer", "admin"}),
    ("GET", "/api/v1/campaigns", "/api/v1/campaigns", {"marketer", "admin"}),
    ("GET", "/api/v1/campaigns/<int:campaign_id>", "/api/v1/campaigns/1", {"marketer", "admin"}),
    ("POST", "/api/v1/campaigns/<int:campaign_id>/send", "/api/v1/campaigns/1/send", {"marketer", "admin"}),
    ("POST", "/api/v1/campaigns/<int:campaign_id>/pause", "/api/v1/campaigns/1/pause", {"marketer", "admin"}),
    ("POST", "/api/v1/campaigns/<int:campaign_id>/resume", "/api/v1/campaigns/1/resume", {"marketer", "admin"}),
    ("GET", "/api/v1/campaigns/<int:campaign_id>/report", "/api/v1/campaigns/1/report", {"marketer", "admin"}),
    ("GET", "/api/v1/campaigns/<int:campaign_id>/report.csv", "/api/v1/campaigns/1/report.csv", {"marketer", "admin"}),
    ("POST", "/api/v1/sms/replies", "/api/v1/sms/replies", {"admin"}),
    ("POST", "/api/v1/transactions/preview", "/api/v1/transactions/preview", {"cashier", "manager", "admin"}),
    ("POST", "/api/v1/coupon-templates", "/api/v1/coupon-templates", {"marketer", "admin"}),
    ("GET", "/api/v1/coupon-templates", "/api/v1/coupon-templates", {"cashier", "manager", "marketer", "admin"}),
    ("GET", "/api/v1/coupon-templates/<code>", "/api/v1/coupon-templates/X1",
     {"cashier", "manager", "marketer", "admin"}),
    ("PUT", "/api/v1/coupon-templates/<code>", "/api/v1/coupon-templates/X1", {"marketer", "admin"}),
    ("POST", "/api/v1/coupon-templates/<code>/wechat-card", "/api/v1/coupon-templates/X1/wechat-card",
     {"marketer", "admin"}),
    ("GET", "/api/v1/coupon-templates/<code>/wechat-card", "/api/v1/coupon-templates/X1/wechat-card",
     {"marketer", "admin"}),
    ("POST", "/api/v1/coupons", "/api/v1/coupons", {"manager", "marketer", "admin"}),
    ("GET", "/api/v1/members/<int:member_id>/coupons", "/api/v1/members/1/coupons",
     {"cashier", "manager", "marketer", "admin"}),
    ("POST", "/api/v1/coupons/<code>/hand-over", "/api/v1/coupons/X1/hand-over", {"cashier", "manager", "admin"}),
]
PUBLIC = {("GET", "/api/v1/openapi.json")}


def test_every_api_route_is_in_the_matrix(app):
    known = {(m, p) for m, p, _, _ in MATRIX} | PUBLIC
    routes = {(method, rule.rule) for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes - known == set(), "add these endpoints to the access matrix"


def _matrix_cases():
    for method, _, path, allowed in MATRIX:
        yield method, path, allowed


@pytest.mark.parametrize("method,path,allowed", list(_matrix_cases()))
def test_missing_and_wrong_tokens_are_401(client, method, path, allowed):
    for headers in ({}, {"Authorization": "Bearer wxc_not-a-real-token"}, {"Authorization": "Basic abc"}):
        r = client.open(path, method=method, json={} if method != "GET" else None, headers=headers)
        assert r.status_code == 401, (method, path, headers, r.status_code)
        assert r.content_type == "application/problem+json" and r.json["code"] == "unauthorized"


@pytest.mark.parametrize("method,path,allowed", list(_matrix_cases()))
@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_in_only_where_allowed(client, make, method, path, allowed, role):
    token = make.token(role)
    r = client.open(path, method=method, json={} if method != "GET" else None,
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "matrix-key-0001"})
    if role in allowed:
        assert r.status_code not in (401, 403), (method, path, role, r.status_code, r.json)
    else:
        assert r.status_code == 403, (method, path, role, r.status_code)
        assert r.json["code"] == "forbidden"


def test_a_disabled_staff_members_token_stops_working(client, make):
    from wxcrm.extensions import db
    from wxcrm.members import service
    person = make.staff("admin")
    token = service.create_token(db.session, person)
    person.active = False
    db.session.commit()
    assert client.get("/api/v1/stores", headers={"Authorization": f"Bearer {token}"}).status_code == 401
