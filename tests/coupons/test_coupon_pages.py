"""Coupon pages: the console designs a coupon and issues one by hand, the member's H5
wallet shows it with a QR, the till previews it, and the report counts it."""
from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image

from wxcrm.coupons.models import Coupon, CouponTemplate
from wxcrm.extensions import db


@pytest.fixture(autouse=True)
def base_earning(make):
    return make.base_rule()


def login(client, person):
    assert client.post("/login", data={"username": person.username, "password": "password123"}).status_code == 302


def as_member(client, member):
    with client.session_transaction() as s:
        s["openid"], s["member_id"], s["oauth_scope"] = member.openid, member.id, "snsapi_base"


FORM = {"code": "TEA10", "type": "spend_get", "title_zh": "满50减10", "title_en": "10 off 50", "face_value": "10",
        "min_spend": "50", "valid_days": "30", "combinable": "y", "with_points": "y", "active": "y",
        "skus_in": "TEA-1, TEA-2", "weekdays": ["1", "2", "3", "4", "5"], "points_price": "100"}


def test_a_marketer_designs_a_coupon_issues_one_and_reads_the_report(client, make):
    login(client, make.staff("marketer"))
    page = client.get("/console/coupons/new").get_data(as_text=True)
    assert "标题（中文）" in page or "Title" in page
    r = client.post("/console/coupons/new", data=FORM)
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    tpl = db.session.query(CouponTemplate).filter_by(code="TEA10").one()
    assert tpl.min_spend_fen == 5000 and tpl.restrictions == {"skus_in": ["TEA-1", "TEA-2"], "weekdays": [1, 2, 3, 4, 5]}
    bad = client.post("/console/coupons/new", data=FORM | {"code": "BAD", "type": "percent", "percent_off": ""})
    assert bad.status_code == 422
    member = make.member()
    r = client.post("/console/coupons/TEA10", data={"card_no": member.card_no, "reason": "birthday gift",
                                                    "key": uuid.uuid4().hex})
    assert r.status_code == 302
    assert db.session.query(Coupon).filter_by(member_id=member.id).one().reason == "birthday gift"
    page = client.get("/console/coupons/TEA10").get_data(as_text=True)
    assert "满50减10" in page
    report = client.get("/console/coupons/report").get_data(as_text=True)
    assert "满50减10" in report
    csv = client.get("/console/coupons/report?format=csv").get_data(as_text=True)
    assert "TEA10" in csv and ",1,0,0," in csv
    edit = client.post("/console/coupons/TEA10/edit", data=FORM | {"title_zh": "满50减10元"})
    assert edit.status_code == 302


def test_the_wallet_shows_a_coupon_with_a_qr_and_its_rules(client, make, marketer_api):
    member = make.member(openid="o-wallet")
    marketer_api.post("/coupon-templates", {"code": "C5", "type": "cash", "title_zh": "5元券", "face_value_fen": 500,
                                            "valid_days": 7, "restrictions": {"skus_out": ["CIG"]}})
    code = marketer_api.post("/coupons", {"template": "C5", "member": {"card_no": member.card_no},
                                          "reason": "welcome"}, key=str(uuid.uuid4())).json["code"]
    as_member(client, member)
    page = client.get("/h5/coupons").get_data(as_text=True)
    assert "5元券" in page and "不可用于" in page or "CIG" in page
    png = client.get(f"/h5/coupons/{code}/qr.png")
    assert png.status_code == 200 and Image.open(io.BytesIO(png.data)).size[0] > 100
    other = make.member(openid="o-other")
    as_member(client, other)
    assert client.get(f"/h5/coupons/{code}/qr.png").status_code == 404
    assert "5元券" not in client.get("/h5/coupons").get_data(as_text=True)


def test_points_buy_a_coupon_once_per_tap(client, make, marketer_api, cashier_api):
    member = make.member(openid="o-ex")
    cashier_api.post("/transactions", {"store_code": "S001", "member": {"card_no": member.card_no},
                                       "items": [{"sku": "X", "qty": 1, "unit_price_fen": 50000}]},
                     key=str(uuid.uuid4()))                                        # 500 points
    marketer_api.post("/coupon-templates", {"code": "P300", "type": "cash", "title_zh": "3元券", "face_value_fen": 300,
                                            "valid_days": 7, "points_price": 300, "per_member_limit": 1})
    as_member(client, member)
    assert "3元券" in client.get("/h5/coupons/exchange").get_data(as_text=True)
    form = {"template": "P300", "key": "tap-1"}
    assert client.post("/h5/coupons/exchange", data=form).status_code == 302
    assert client.post("/h5/coupons/exchange", data=form).status_code == 302      # the same tap again
    assert db.session.query(Coupon).filter_by(member_id=member.id).count() == 1
    from wxcrm.ledger import service as ledger
    assert ledger.balance(db.session, member.id, "points") == 200
    again = client.post("/h5/coupons/exchange", data={"template": "P300", "key": "tap-2"}, follow_redirects=True)
    assert db.session.query(Coupon).filter_by(member_id=member.id).count() == 1
    assert again.status_code == 200


def test_the_till_preview_names_the_coupon_it_applies(client, make, marketer_api):
    store = make.store("S009")
    member = make.member()
    marketer_api.post("/coupon-templates", {"code": "C5", "type": "cash", "title_zh": "5元券", "face_value_fen": 500,
                                            "valid_days": 7})
    marketer_api.post("/coupons", {"template": "C5", "member": {"card_no": member.card_no}, "reason": "welcome"},
                      key=str(uuid.uuid4()))
    login(client, make.staff("cashier", store))
    r = client.post("/cashier/preview", data={"card_no": member.card_no, "store_code": "S009", "sku": "TEA",
                                              "category": "tea", "qty": "1", "price": "20"})
    body = r.get_json()
    assert any("5元券" in ln["text"] for ln in body["lines"] if ln["kind"] == "coupon_used"), body
    assert body["payable"] == "15.00"
    assert db.session.query(Coupon).one().status == "available"


def test_the_members_console_page_lists_their_coupons(client, make, marketer_api):
    member = make.member()
    marketer_api.post("/coupon-templates", {"code": "C5", "type": "cash", "title_zh": "5元券", "face_value_fen": 500,
                                            "valid_days": 7})
    marketer_api.post("/coupons", {"template": "C5", "member": {"card_no": member.card_no}, "reason": "complaint 42"},
                      key=str(uuid.uuid4()))
    login(client, make.staff("marketer"))
    page = client.get(f"/console/members/{member.id}").get_data(as_text=True)
    assert "5元券" in page and "complaint 42" in page and "可使用" in page
