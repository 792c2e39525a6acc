"""Coupons end to end over the API: a template, a coupon issued by hand, recognised at the
till (preview and purchase), redeemed once, given back on a refund."""
from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from wxcrm.coupons.codes import pretty
from wxcrm.coupons.models import Coupon
from wxcrm.extensions import db
from wxcrm.messages.models import OutboxMessage


@pytest.fixture(autouse=True)
def base_earning(make):
    return make.base_rule()


def key():
    return str(uuid.uuid4())


def template(api, code="CASH20", **extra):
    body = {"code": code, "type": "cash", "title_zh": "20元代金券", "title_en": "20 yuan voucher",
            "face_value_fen": 2000, "min_spend_fen": 5000, "valid_days": 30} | extra
    r = api.post("/coupon-templates", body)
    assert r.status_code == 201, r.json
    return r.json


def issue(api, member, code="CASH20", reason="apology for a late order"):
    r = api.post("/coupons", {"template": code, "member": {"card_no": member.card_no}, "reason": reason}, key=key())
    assert r.status_code == 201, r.json
    return r.json


def sale(member=None, amount=6000, **extra):
    body = {"store_code": "S001", "items": [{"sku": "TEA-1", "category": "tea", "qty": 1, "unit_price_fen": amount}]}
    if member is not None:
        body["member"] = {"card_no": member.card_no}
    return body | extra


def test_a_marketer_designs_a_template_and_reads_it_back(marketer_api, make):
    make.store("S001")
    t = template(marketer_api, restrictions={"stores": ["S001"], "weekdays": [1, 2, 3, 4, 5, 6, 7]})
    assert t["restrictions"] == {"stores": ["S001"]}        # every day is no restriction
    assert marketer_api.get("/coupon-templates/CASH20").json["title_en"] == "20 yuan voucher"
    r = marketer_api.client.put("/api/v1/coupon-templates/CASH20", json={
        "type": "cash", "title_zh": "满50减20", "face_value_fen": 2000, "min_spend_fen": 5000, "valid_days": 10},
        headers={"Authorization": f"Bearer {marketer_api.token}"})
    assert r.status_code == 200 and r.json["valid_days"] == 10
    again = marketer_api.post("/coupon-templates", {"code": "CASH20", "type": "cash", "title_zh": "x",
                                                    "face_value_fen": 1, "valid_days": 1})
    assert again.status_code == 409 and again.json["code"] == "coupon_template_exists"
    bad = marketer_api.post("/coupon-templates", {"code": "P", "type": "percent", "title_zh": "x", "valid_days": 1})
    assert bad.status_code == 422


def test_a_template_needs_what_its_type_needs(marketer_api):
    r = marketer_api.post("/coupon-templates", {"code": "PCT", "type": "percent", "title_zh": "折", "valid_days": 3})
    assert r.status_code == 422 and r.json["code"] == "coupon_needs_percent"
    r = marketer_api.post("/coupon-templates", {"code": "SG", "type": "spend_get", "title_zh": "满减",
                                                "face_value_fen": 5000, "min_spend_fen": 3000, "valid_days": 3})
    assert r.status_code == 422 and r.json["code"] == "coupon_needs_threshold"
    r = marketer_api.post("/coupon-templates", {"code": "NOEND", "type": "cash", "title_zh": "券",
                                                "face_value_fen": 100})
    assert r.status_code == 422 and r.json["code"] == "coupon_needs_validity"


def test_staff_issue_a_coupon_with_a_reason_and_the_member_is_told(marketer_api, cashier_api, make):
    member = make.member(openid="o-coupon-1")
    template(marketer_api)
    c = issue(marketer_api, member)
    assert len(c["code"]) == 16 and c["code_display"] == pretty(c["code"]) and c["status"] == "available"
    row = db.session.query(Coupon).filter_by(code=c["code"]).one()
    assert row.reason == "apology for a late order" and row.channel == "manual"
    msg = db.session.query(OutboxMessage).filter_by(purpose="coupon_received").one()
    assert msg.member_id == member.id
    db.session.expire_all()
    assert db.session.get(type(member), member.id).coupons_held == 1


def test_the_till_applies_the_members_coupon_without_scanning_and_redeems_it_once(marketer_api, cashier_api,
                                                                                 manager_api, make):
    member = make.member()
    template(marketer_api)
    c = issue(marketer_api, member)
    preview = cashier_api.post("/transactions/preview", sale(member))
    assert preview.status_code == 200, preview.json
    assert preview.json["preview"] is True and preview.json["payable_fen"] == 4000
    assert [a["code"] for a in preview.json["coupons_applied"]] == [c["code"]]
    assert db.session.query(Coupon).filter_by(code=c["code"]).one().status == "available"   # wrote nothing

    k = key()
    bought = cashier_api.post("/transactions", sale(member), key=k)
    assert bought.status_code == 201, bought.json
    assert bought.json["discount_fen"] == 2000 and bought.json["payable_fen"] == 4000
    line = next(ln for ln in bought.json["receipt_lines"] if ln["kind"] == "coupon_used")
    assert "20元代金券" in line["text"] and line["amount_fen"] == -2000
    assert cashier_api.post("/transactions", sale(member), key=k).json == bought.json     # idempotent
    assert bought.json["points_earned"] == 60     # points follow the rules' view of the basket (README)

    second = cashier_api.post("/transactions", sale(member), key=key())
    assert second.json["coupons_applied"] == [] and second.json["payable_fen"] == 6000
    used = cashier_api.post("/transactions", sale(member, coupon_codes=[c["code"]]), key=key())
    assert used.status_code == 409 and used.json["code"] == "coupon_used"
    assert c["code_display"] in used.json["detail"]

    refund = manager_api.post(f"/transactions/{bought.json['id']}/refund", {}, key=key())
    assert refund.status_code == 201, refund.json
    assert any(ln["kind"] == "coupon_restored" for ln in refund.json["receipt_lines"])
    assert db.session.query(Coupon).filter_by(code=c["code"]).one().status == "available"
    assert cashier_api.post("/transactions/preview", sale(member)).json["coupons_applied"][0]["code"] == c["code"]


def test_a_coupon_expired_by_the_refund_stays_used_and_the_receipt_says_so(marketer_api, cashier_api, manager_api,
                                                                          make, frozen_now):
    from datetime import datetime
    member = make.member()
    template(marketer_api, valid_days=1)
    frozen_now(datetime(2026, 11, 23, 4, 0))
    c = issue(marketer_api, member)
    bought = cashier_api.post("/transactions", sale(member), key=key())
    assert bought.json["coupons_applied"]
    frozen_now(datetime(2026, 11, 25, 4, 0))
    refund = manager_api.post(f"/transactions/{bought.json['id']}/refund", {}, key=key())
    kept = next(ln for ln in refund.json["receipt_lines"] if ln["kind"] == "coupon_kept")
    assert "已过期" in kept["text"]
    assert db.session.query(Coupon).filter_by(code=c["code"]).one().status == "used"


def test_scanned_codes_that_cannot_be_used_are_refused_by_name(marketer_api, cashier_api, make):
    member, other = make.member(), make.member()
    template(marketer_api)
    theirs = issue(marketer_api, other)
    r = cashier_api.post("/transactions/preview", sale(member, coupon_codes=[theirs["code"]]))
    assert r.status_code == 422 and r.json["code"] == "coupon_other_member"
    assert theirs["code_display"] in r.json["detail"]
    r = cashier_api.post("/transactions/preview", sale(member, coupon_codes=["ABCD-EFGH-JKMN-PQRS"]))
    assert r.status_code == 404 and r.json["code"] == "coupon_unknown"
    r = cashier_api.post("/transactions", sale(None, coupon_codes=[theirs["code"]]), key=key())
    assert r.status_code == 422 and r.json["code"] == "coupon_needs_member"


def test_a_coupon_left_out_says_why_in_the_pages_language(marketer_api, cashier_api, make):
    member = make.member()
    template(marketer_api)
    issue(marketer_api, member)
    r = cashier_api.post("/transactions/preview", sale(member, amount=3000))
    assert r.json["coupons_applied"] == []
    left = r.json["coupons_not_applied"][0]
    assert left["reason_code"] == "below_min_spend" and left["reason"]
    en = cashier_api.client.post("/api/v1/transactions/preview?lang=en", json=sale(member, amount=3000),
                                 headers={"Authorization": f"Bearer {cashier_api.token}"})
    assert en.json["coupons_not_applied"][0]["reason"] == "the basket is below its minimum spend"
    assert en.json["coupons_not_applied"][0]["title"] == "20 yuan voucher"          # named in English too
    assert r.json["coupons_not_applied"][0]["title"] == "20元代金券"
    for header, reason in (("en-US,en;q=0.9", "the basket is below its minimum spend"),
                           ("zh-CN,zh;q=0.9", "未达到最低消费")):      # or the HTTP way
        asked = cashier_api.client.post("/api/v1/transactions/preview", json=sale(member, amount=3000),
                                        headers={"Authorization": f"Bearer {cashier_api.token}",
                                                 "Accept-Language": header})
        assert asked.json["coupons_not_applied"][0]["reason"] == reason


def test_the_wallet_lists_coupons_by_status(marketer_api, cashier_api, make):
    member = make.member()
    template(marketer_api)
    c = issue(marketer_api, member)
    cashier_api.get(f"/members?card_no={member.card_no}")
    r = cashier_api.get(f"/members/{member.id}/coupons?status=available")
    assert r.status_code == 200 and [x["code"] for x in r.json["coupons"]] == [c["code"]]
    assert r.json["coupons"][0]["rules"]
    assert cashier_api.get(f"/members/{member.id}/coupons?status=used").json["coupons"] == []
    assert cashier_api.get(f"/members/{member.id}/coupons?status=nope").status_code == 422


def test_stock_and_per_member_limit_hold(marketer_api, make):
    template(marketer_api, stock_total=2, per_member_limit=1)
    a, b, c = make.member(), make.member(), make.member()
    issue(marketer_api, a)
    r = marketer_api.post("/coupons", {"template": "CASH20", "member": {"card_no": a.card_no}, "reason": "again"},
                          key=key())
    assert r.status_code == 409 and r.json["code"] == "coupon_limit_reached"
    issue(marketer_api, b)
    r = marketer_api.post("/coupons", {"template": "CASH20", "member": {"card_no": c.card_no}, "reason": "late"},
                          key=key())
    assert r.status_code == 409 and r.json["code"] == "coupon_out_of_stock"


def test_the_expiry_reminder_goes_three_days_ahead_once(marketer_api, make, settings):
    from wxcrm.coupons.service import remind_expiring_coupons
    member = make.member(openid="o-exp")
    template(marketer_api, valid_days=3)
    issue(marketer_api, member)
    today = date.today()
    assert remind_expiring_coupons(db.session, settings, today - timedelta(days=5)) == 0
    assert remind_expiring_coupons(db.session, settings, today) == 1
    assert remind_expiring_coupons(db.session, settings, today) == 0
    db.session.commit()
    assert db.session.query(OutboxMessage).filter_by(purpose="coupon_expiring").count() == 1


def test_a_rule_issues_a_real_coupon_at_a_purchase_and_once(marketer_api, cashier_api, make):
    from wxcrm.rules import storage
    template(marketer_api, code="THANKS5", face_value_fen=500, min_spend_fen=0)
    storage.create_rule(db.session, {"name": "买满送券", "event": "purchase", "status": "active", "priority": 0,
                                     "actions": [{"type": "issue_coupon", "template": "THANKS5", "count": 2}]})
    db.session.commit()
    member = make.member()
    k = key()
    r = cashier_api.post("/transactions", sale(member), key=k)
    assert r.status_code == 201, r.json
    cashier_api.post("/transactions", sale(member), key=k)                 # a replay issues nothing more
    rows = db.session.query(Coupon).filter_by(member_id=member.id, channel="rule").all()
    assert len(rows) == 2 and all(c.template.code == "THANKS5" for c in rows)


def test_a_closed_membership_voids_its_coupons(marketer_api, make, settings):
    from wxcrm.benefits.privacy import close_membership, member_data
    from wxcrm.timeutil import Clock
    member = make.member()
    template(marketer_api)
    issue(marketer_api, member)
    assert member_data(db.session, member)["coupons"][0]["status"] == "available"
    close_membership(db.session, member, clock=Clock.now(settings.tz), settings=settings)
    db.session.commit()
    assert db.session.query(Coupon).one().status == "void"


def test_a_gift_bought_with_points_is_handed_over_once_at_the_till(marketer_api, cashier_api, make, settings):
    """The gift catalogue: a gift template with a points price and stock; the member exchanges
    points in H5 (stock and points move once), the store hands the gift over by scanning it."""
    from wxcrm.coupons import service
    from wxcrm.ledger import service as ledger
    from wxcrm.timeutil import Clock
    member = make.member()
    cashier_api.post("/transactions", sale(member, amount=200000), key=key())          # 2000 points
    template(marketer_api, code="MUG", type="gift", title_zh="马克杯", item_sku="MUG-001", face_value_fen=6800,
             min_spend_fen=0, points_price=1500, stock_total=1)
    clock = Clock.now(settings.tz)
    gift = service.exchange_points(db.session, settings, member, template_code="MUG", key="tap", clock=clock)
    assert service.exchange_points(db.session, settings, member, template_code="MUG", key="tap", clock=clock) is gift
    db.session.commit()
    assert ledger.balance(db.session, member.id, "points") == 500
    hand_over = sale(member, amount=0, coupon_codes=[gift.code])
    hand_over["items"][0]["sku"] = "MUG-001"
    assert cashier_api.post("/transactions", sale(member), key=key()).json["coupons_applied"] == []  # not unscanned
    r = cashier_api.post("/transactions", hand_over, key=key())
    assert r.status_code == 201 and r.json["coupons_applied"][0]["type"] == "gift", r.json
    line = next(ln for ln in r.json["receipt_lines"] if ln["kind"] == "coupon_used")
    assert "领取 MUG-001" in line["text"]
    again = cashier_api.post("/transactions", hand_over, key=key())
    assert again.status_code == 409 and again.json["code"] == "coupon_used"


def test_a_member_without_coupons_costs_the_till_no_coupon_query(cashier_api, make):
    from sqlalchemy import event
    member = make.member()
    seen = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        r = cashier_api.post("/transactions", sale(member), key=key())
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert r.status_code == 201
    assert seen and not [s for s in seen if "coupons " in s.lower() or "coupon_templates" in s.lower()]


def test_store_and_tier_restrictions_hold_at_the_till(marketer_api, cashier_api, make):
    make.tier("normal", 1)
    gold = make.tier("gold", 3)
    bad = marketer_api.post("/coupon-templates", {"code": "TT", "type": "cash", "title_zh": "券", "face_value_fen": 100,
                                                  "valid_days": 3, "restrictions": {"tiers": ["platinum"]}})
    assert bad.status_code == 422 and bad.json["code"] == "coupon_unknown_tiers"
    template(marketer_api, code="GOLD", min_spend_fen=0, restrictions={"tiers": ["gold"], "stores": ["S001"]})
    member = make.member()
    issue(marketer_api, member, code="GOLD")
    r = cashier_api.post("/transactions/preview", sale(member))
    assert [c["reason_code"] for c in r.json.get("coupons_not_applied", [])] == ["wrong_tier"], r.json
    from wxcrm.members.models import Member
    db.session.get(Member, member.id).tier_id = gold.id
    db.session.commit()
    r = cashier_api.post("/transactions/preview", sale(member))
    assert r.json["coupons_applied"][0]["discount_fen"] == 2000
