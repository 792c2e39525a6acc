"""Issue 9, item 8: PATCH /api/v1/members/{id} for the back office, with every change in
the member's history (who, when, what, why)."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from tests.conftest import Api
from wxcrm.extensions import db
from wxcrm.members.models import Member


@pytest.fixture
def shop(make, frozen_now):
    frozen_now(datetime(2026, 11, 23, 6, 0))
    make.tier("normal", 1)
    make.tier("gold", 3, threshold_fen=800_000)
    return make


def test_an_admin_sets_a_tier_with_a_reason_and_a_hold_and_it_is_in_the_history(shop, admin_api: Api, client):
    member = shop.member(tier_code="normal")
    r = client.patch(f"/api/v1/members/{member.id}", json={"tier": "gold", "reason": "VIP complaint",
                                                           "tier_until": "2027-06-30"},
                     headers={"Authorization": f"Bearer {admin_api.token}"})
    assert r.status_code == 200, r.json
    assert r.json["tier"] == "gold" and r.json["tier_until"] == "2027-06-30"
    history = admin_api.get(f"/members/{member.id}/history").json["changes"]
    by_field = {c["field"]: c for c in history}
    assert by_field["tier"]["old_value"] == "normal" and by_field["tier"]["new_value"] == "gold"
    assert by_field["tier"]["reason"] == "VIP complaint" and by_field["tier"]["source"] == "staff"
    assert by_field["tier"]["staff"].startswith("admin") and by_field["tier"]["at"] == "2026-11-23T06:00:00Z"
    assert by_field["tier_until"]["new_value"] == "2027-06-30"


def test_a_tier_needs_a_reason_and_a_known_code(shop, admin_api, client):
    member = shop.member()
    headers = {"Authorization": f"Bearer {admin_api.token}"}
    r = client.patch(f"/api/v1/members/{member.id}", json={"tier": "gold"}, headers=headers)
    assert r.status_code == 422 and r.json["code"] == "reason_required"
    r = client.patch(f"/api/v1/members/{member.id}", json={"tier": "platinum", "reason": "x"}, headers=headers)
    assert r.status_code == 404 and r.json["code"] == "tier_not_found"
    r = client.patch(f"/api/v1/members/{member.id}", json={"tier_until": "2027-01-01"}, headers=headers)
    assert r.status_code == 422 and r.json["code"] == "tier_until_needs_tier"
    r = client.patch("/api/v1/members/999999", json={"name": "x"}, headers=headers)
    assert r.status_code == 404 and r.content_type == "application/problem+json"


def test_the_expiry_and_the_profile_are_audited(shop, admin_api, client):
    member = shop.member(expires_on=date(2026, 12, 31), district="徐汇区")
    r = client.patch(f"/api/v1/members/{member.id}",
                     json={"expires_on": "2027-12-31", "district": "静安区", "birthday": "1990-05-01",
                           "reason": "moved house"},
                     headers={"Authorization": f"Bearer {admin_api.token}"})
    assert r.status_code == 200
    changes = admin_api.get(f"/members/{member.id}/history").json["changes"]
    assert {(c["field"], c["old_value"], c["new_value"]) for c in changes} == {
        ("expires_on", "2026-12-31", "2027-12-31"), ("district", "徐汇区", "静安区"), ("birthday", "", "1990-05-01")}
    assert all(c["reason"] == "moved house" for c in changes)


def test_a_marketer_changes_the_profile_but_not_the_tier_or_expiry(shop, marketer_api, client):
    member = shop.member()
    headers = {"Authorization": f"Bearer {marketer_api.token}"}
    assert client.patch(f"/api/v1/members/{member.id}", json={"occupation": "教师"}, headers=headers).status_code == 200
    r = client.patch(f"/api/v1/members/{member.id}", json={"tier": "gold", "reason": "x"}, headers=headers)
    assert r.status_code == 403
    r = client.patch(f"/api/v1/members/{member.id}", json={"expires_on": "2030-01-01"}, headers=headers)
    assert r.status_code == 403
    db.session.expire_all()
    assert db.session.get(Member, member.id).occupation == "教师"
