"""Signup fires once per member for every way in (the till's API, a WeChat follow), and
never for a member brought over from another system."""
from __future__ import annotations

from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.members import service as members
from wxcrm.rules import storage as rules

WELCOME = {"name": "注册礼", "name_en": "Welcome points", "event": "signup", "status": "active",
           "actions": [{"type": "bonus_points", "points": 100}]}
REFERRAL = {"name": "推荐有礼", "name_en": "Referral bonus", "event": "referral", "status": "active",
            "actions": [{"type": "bonus_points", "points": 300}]}


def points(member_id: int) -> int:
    db.session.expire_all()
    return ledger.balance(db.session, member_id, "points")


def test_a_member_enrolled_by_the_api_gets_the_signup_points_exactly_once(cashier_api, wechat):
    rules.create_rule(db.session, WELCOME)
    db.session.commit()
    r = cashier_api.post("/members", json={"phone": "13800000001", "openid": "o-till", "privacy_consent": True})
    assert r.status_code == 201, r.get_json()
    member_id = r.get_json()["id"]
    assert points(member_id) == 100 == r.get_json()["points_balance"]
    # The same person follows the account later: welcomed back, no second welcome gift.
    assert "欢迎回来" in wechat.send(wechat.event("o-till", "subscribe"))
    assert points(member_id) == 100
    [entry] = ledger.entries_page(db.session, member_id, "points")
    assert (entry.cause, entry.rule_id) == ("signup", db.session.scalar(db.select(rules.Rule.id)))


def test_a_follower_who_is_new_gets_the_signup_points_and_the_referrer_the_referral(cashier_api, wechat):
    rules.create_rule(db.session, WELCOME)
    rules.create_rule(db.session, REFERRAL)
    db.session.commit()
    referrer = cashier_api.post("/members", json={"phone": "13800000002", "privacy_consent": True}).get_json()
    wechat.send(wechat.event("o-new", "subscribe", key=f"qrscene_ref_{referrer['id']}"))
    new = members.find_member(db.session, openid="o-new")
    assert points(new.id) == 100 and new.referrer_id == referrer["id"]
    assert points(referrer["id"]) == 100 + 300


def test_members_brought_over_from_another_system_fire_nothing(make):
    rules.create_rule(db.session, WELCOME)
    db.session.commit()
    imported = make.member()        # members.service.create_member: a migration, not a signup
    assert points(imported.id) == 0
