"""Issue 14, item 2: every channel issues a real coupon end to end, tells the member through
the outbox, and records its channel: a rule action at a purchase, a top-up, a signup, a
referral and a birthday; points exchange in H5; scan-to-earn (a claimed receipt); manual
issue by staff (API and console). Campaigns and greetings are tested in tests/campaigns."""
from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import select

from wxcrm.coupons.models import Coupon
from wxcrm.extensions import db
from wxcrm.members import service as members
from wxcrm.messages.models import OutboxMessage
from wxcrm.rules import storage as rules


@pytest.fixture
def shop(make, marketer_api):
    make.base_rule()
    r = marketer_api.post("/coupon-templates", {"code": "GIFT5", "type": "cash", "title_zh": "5元券",
                                                "title_en": "5 yuan off", "face_value_fen": 500, "valid_days": 30})
    assert r.status_code == 201, r.json
    return make


def rule(event: str, **extra):
    rules.create_rule(db.session, {"name": f"{event} 送券", "event": event, "status": "active", "priority": 0,
                                   "actions": [{"type": "issue_coupon", "template": "GIFT5"}]} | extra)
    db.session.commit()


def coupons_of(member_id: int) -> list[Coupon]:
    db.session.expire_all()
    return list(db.session.scalars(select(Coupon).where(Coupon.member_id == member_id)))


def told(member_id: int) -> int:
    return db.session.query(OutboxMessage).filter_by(member_id=member_id, purpose="coupon_received").count()


def one_coupon(member_id: int, channel: str) -> Coupon:
    [coupon] = coupons_of(member_id)
    assert coupon.channel == channel and coupon.template.code == "GIFT5" and coupon.status == "available"
    assert told(member_id) == 1
    return coupon


def as_member(client, member):
    with client.session_transaction() as s:
        s["openid"], s["member_id"], s["oauth_scope"] = member.openid, member.id, "snsapi_base"


def test_a_purchase_rule(shop, cashier_api):
    rule("purchase")
    member = shop.member(openid="o-ch-buy")
    r = cashier_api.post("/transactions", {"store_code": "S001", "member": {"card_no": member.card_no}, "items": [
        {"sku": "TEA-1", "category": "tea", "qty": 1, "unit_price_fen": 3000}]}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    one_coupon(member.id, "rule")


def test_a_top_up_rule(shop, cashier_api):
    rule("topup")
    member = shop.member(openid="o-ch-topup")
    r = cashier_api.post("/topups", {"store_code": "S001", "member": {"member_id": member.id}, "amount_fen": 10_000,
                                     "method": "cash"}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    assert r.json["coupons"], r.json
    one_coupon(member.id, "rule")


def test_a_signup_rule_at_a_wechat_follow(shop, wechat):
    rule("signup")
    wechat.send(wechat.event("o-ch-signup", "subscribe"))
    member = members.find_member(db.session, openid="o-ch-signup")
    one_coupon(member.id, "rule")
    wechat.send(wechat.event("o-ch-signup", "subscribe"))          # following again gives nothing more
    assert len(coupons_of(member.id)) == 1


def test_a_referral_rule_for_the_referrer(shop, wechat):
    rule("referral")
    referrer = shop.member(openid="o-ch-referrer")
    wechat.send(wechat.event("o-ch-friend", "subscribe", key=f"qrscene_ref_{referrer.id}"))
    one_coupon(referrer.id, "rule")
    friend = members.find_member(db.session, openid="o-ch-friend")
    assert coupons_of(friend.id) == []


def test_a_birthday_rule_run_by_the_daily_job(shop, app):
    rule("birthday")
    member = shop.member(openid="o-ch-bday", birthday=date(1990, 11, 23))
    r = app.test_cli_runner().invoke(args=["wxcrm", "rules-run", "--event", "birthday", "--date", "2026-11-23"])
    assert r.exit_code == 0, r.output
    coupon = one_coupon(member.id, "rule")
    assert coupon.valid_from == date(2026, 11, 23)


def test_points_exchange_in_h5(shop, cashier_api, marketer_api, client):
    from wxcrm.coupons import service
    service.save_template(db.session, {"points_price": 100}, template=service.template_by_code(db.session, "GIFT5"))
    db.session.commit()
    member = shop.member(openid="o-ch-swap")
    cashier_api.post("/transactions", {"store_code": "S001", "member": {"card_no": member.card_no}, "items": [
        {"sku": "TEA-1", "category": "tea", "qty": 1, "unit_price_fen": 30_000}]}, key=str(uuid.uuid4()))
    as_member(client, member)
    r = client.post("/h5/coupons/exchange", data={"template": "GIFT5", "key": "tap-1"})
    assert r.status_code == 302, r.get_data(as_text=True)
    one_coupon(member.id, "exchange")


def test_scan_to_earn_a_claimed_receipt_gives_the_purchase_rules_coupon(shop, cashier_api, client):
    rule("purchase")
    walk_in = cashier_api.post("/transactions", {"store_code": "S001", "items": [
        {"sku": "TEA-1", "category": "tea", "qty": 1, "unit_price_fen": 3000}]}, key=str(uuid.uuid4()))
    assert walk_in.status_code == 201 and walk_in.json["claim_token"], walk_in.json
    assert db.session.scalar(select(Coupon.id)) is None            # nobody to give it to yet
    member = shop.member(openid="o-ch-scan")
    as_member(client, member)
    r = client.post(f"/h5/claim/{walk_in.json['claim_token']}", follow_redirects=True)
    page = r.get_data(as_text=True)
    assert 'data-testid="claim-coupons"' in page and "优惠券" in page, page
    coupon = one_coupon(member.id, "scan")
    assert coupon.source_ref.startswith(f"purchase:{walk_in.json['id']}:")
    assert client.post(f"/h5/claim/{walk_in.json['claim_token']}").status_code in (200, 302)   # a second claim
    assert len(coupons_of(member.id)) == 1


def test_manual_issue_by_staff_in_the_api_and_the_console(shop, marketer_api, client):
    member = shop.member(openid="o-ch-manual")
    r = marketer_api.post("/coupons", {"template": "GIFT5", "member": {"card_no": member.card_no},
                                       "reason": "门店致歉"}, key=str(uuid.uuid4()))
    assert r.status_code == 201 and r.json["channel"] == "manual", r.json
    marketer = shop.staff("marketer", username="mk-ch", password="password123")
    client.post("/login", data={"username": marketer.username, "password": "password123"})
    page = client.get("/console/coupons/GIFT5").get_data(as_text=True)
    form_key = page.split('name="key" value="')[1].split('"')[0]
    r = client.post("/console/coupons/GIFT5", data={"card_no": member.card_no, "reason": "老顾客回馈", "key": form_key})
    assert r.status_code == 302
    rows = coupons_of(member.id)
    assert [c.channel for c in rows] == ["manual", "manual"] and {c.reason for c in rows} == {"门店致歉", "老顾客回馈"}
    assert told(member.id) == 2
