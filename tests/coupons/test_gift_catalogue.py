"""Issue 14, item 5: the points catalogue in H5 (gifts, cash vouchers, coupons, with stock and
per-member limits) and the store's gift hand-over (scan or type the gift coupon's code, hand
the item over, the coupon is used once, a slip prints its line)."""
from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from wxcrm.coupons import service
from wxcrm.coupons.codes import pretty
from wxcrm.coupons.models import Coupon, CouponTemplate
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.members.models import Member
from wxcrm.timeutil import Clock


@pytest.fixture
def shop(make):
    make.base_rule()
    return make


def design(code, **fields):
    body = {"code": code, "type": "gift", "title_zh": "马克杯", "title_en": "Mug", "item_sku": "MUG-001",
            "face_value_fen": 6800, "valid_days": 30, "points_price": 1500} | fields
    tpl = service.save_template(db.session, body)
    db.session.commit()
    return tpl


def rich_member(make, cashier_api, points=3000, **fields):
    member = make.member(openid=f"o-{uuid.uuid4().hex[:8]}", **fields)
    r = cashier_api.post("/transactions", {"store_code": "S001", "member": {"card_no": member.card_no}, "items": [
        {"sku": "TEA-1", "category": "tea", "qty": 1, "unit_price_fen": points * 100}]}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    return member


def as_member(client, member):
    with client.session_transaction() as s:
        s["openid"], s["member_id"], s["oauth_scope"] = member.openid, member.id, "snsapi_base"


def points(member) -> int:
    db.session.expire_all()
    return ledger.balance(db.session, member.id, "points")


def exchange(client, code, key=None):
    return client.post("/h5/coupons/exchange", data={"template": code, "key": key or uuid.uuid4().hex})


def test_the_catalogue_offers_gifts_cash_and_coupons_with_stock_limits_and_why_not(shop, cashier_api, client):
    design("MUG", stock_total=2, per_member_limit=1)
    design("CASH10", type="cash", title_zh="10元现金券", item_sku="", face_value_fen=1000, points_price=1000)
    design("PCT90", type="percent", title_zh="9折券", item_sku="", face_value_fen=0, percent_off=10,
           points_price=5000)
    design("NOTFORSALE", type="cash", title_zh="不卖", item_sku="", face_value_fen=500, points_price=None)
    member = rich_member(shop, cashier_api, points=3000)
    as_member(client, member)
    page = client.get("/h5/coupons/exchange").get_data(as_text=True)
    assert [s for s in ("section-gift", "section-cash", "section-other") if s in page] == \
        ["section-gift", "section-cash", "section-other"]
    assert "马克杯" in page and "10元现金券" in page and "9折券" in page and "不卖" not in page
    assert "剩余 2 张" in page and "每人限兑 1 份，您已兑 0 份" in page and "积分不足" in page   # 9折券: 5000 > 3000

    r = exchange(client, "MUG")
    assert r.status_code == 302
    flash = client.get("/h5/coupons").get_data(as_text=True)
    assert "到门店出示券码领取礼品" in flash
    assert points(member) == 1500
    page = client.get("/h5/coupons/exchange").get_data(as_text=True)
    assert "已达兑换上限" in page and "剩余 1 张" in page
    again = exchange(client, "MUG")                 # over the member's limit: nothing moves
    assert again.status_code == 200 and "您兑换的 马克杯 已达每人上限" in again.get_data(as_text=True)
    assert "MUG" not in again.get_data(as_text=True).split('data-testid="flash"')[1][:200]   # no template code
    assert points(member) == 1500 and db.session.scalar(select(CouponTemplate.issued_count)
                                                        .where(CouponTemplate.code == "MUG")) == 1


def test_the_last_gift_goes_to_one_member_and_the_next_sees_it_gone(shop, cashier_api, client, app):
    design("MUG", stock_total=1)
    first, second = rich_member(shop, cashier_api), rich_member(shop, cashier_api)
    as_member(client, first)
    assert exchange(client, "MUG").status_code == 302
    other = app.test_client()
    as_member(other, second)
    assert "已兑完" in other.get("/h5/coupons/exchange").get_data(as_text=True)
    r = exchange(other, "MUG")
    assert "抱歉，马克杯 已兑完" in r.get_data(as_text=True)
    assert points(second) == 3000


def test_a_double_tap_exchanges_once(shop, cashier_api, client):
    design("MUG")
    member = rich_member(shop, cashier_api)
    assert exchange(client_for(client, member), "MUG", key="same-tap").status_code == 302
    assert exchange(client, "MUG", key="same-tap").status_code == 302
    assert db.session.query(Coupon).count() == 1 and points(member) == 1500


def client_for(client, member):
    as_member(client, member)
    return client


def gift_coupon(make, cashier_api, client, code="MUG", **fields):
    design(code, **fields)
    member = rich_member(make, cashier_api)
    as_member(client, member)
    assert exchange(client, code).status_code == 302
    return member, db.session.scalar(select(Coupon).where(Coupon.member_id == member.id))


def login(client, make, role="cashier", store_code="S001"):
    from wxcrm.members.models import Store
    store = db.session.scalar(select(Store).where(Store.code == store_code)) or make.store(store_code)
    user = make.staff(role, store, username=f"{role}-{uuid.uuid4().hex[:6]}")
    client.post("/login", data={"username": user.username, "password": "password123"})
    return user


def test_the_store_hands_the_gift_over_once_and_prints_a_slip(shop, cashier_api, client, app):
    member, coupon = gift_coupon(shop, cashier_api, client)
    till = app.test_client()
    login(till, shop)
    page = till.get("/cashier/gifts").get_data(as_text=True)
    assert "礼品领取" in page and 'data-testid="gift-code"' in page
    typed = pretty(coupon.code).lower().replace("-", " ")          # typed from the phone, any case and spacing
    page = till.get("/cashier/gifts", query_string={"code": typed}).get_data(as_text=True)
    assert 'data-testid="gift-found"' in page and "交付：MUG-001" in page and "马克杯" in page
    assert member.card_no[-4:] in page and member.card_no not in page     # the owner, masked
    r = till.post("/cashier/gifts", data={"code": coupon.code, "action": "hand_over", "store_code": "S001"})
    assert r.status_code == 302 and "/cashier/gifts/" in r.headers["Location"]
    slip = till.get(r.headers["Location"]).get_data(as_text=True)
    assert f"兑换券 马克杯（{pretty(coupon.code)}）：领取 MUG-001" in slip and "积分兑换" in slip
    db.session.expire_all()
    used = db.session.get(Coupon, coupon.id)
    assert used.status == "used" and used.used_store_id is not None and used.used_staff_id is not None
    assert db.session.get(Member, member.id).coupons_held == 0
    assert points(member) == 1500                                   # the points moved once, at the exchange
    again = till.post("/cashier/gifts", data={"code": coupon.code, "action": "hand_over", "store_code": "S001"})
    text = again.get_data(as_text=True)
    assert 'data-testid="gift-error"' in text and "已于" in text and "领取过" in text
    # the wallet shows it used
    used_tab = client.get("/h5/coupons?status=used").get_data(as_text=True)
    assert "已使用" in used_tab and "领取礼品" in used_tab and "节省" not in used_tab


def test_what_the_hand_over_refuses_and_why_in_chinese(shop, cashier_api, client, app, settings):
    shop.store("S002")
    _member, gift = gift_coupon(shop, cashier_api, client, restrictions={"stores": ["S002"]})
    till = app.test_client()
    login(till, shop)

    def refusal(code):
        page = till.get("/cashier/gifts", query_string={"code": code}).get_data(as_text=True)
        found = re.search(r'data-testid="gift-error">([^<]*)<', page)
        assert found, page
        return found.group(1)

    assert "本店不可用" in refusal(gift.code) and pretty(gift.code) in refusal(gift.code)
    assert "券码" in refusal("ABCD-EFGH-0000-0000")
    cash = design("CASH10", type="cash", title_zh="10元券", item_sku="", face_value_fen=1000)
    other = service.issue_coupon(db.session, settings, template_code=cash.code, member=_member, channel="manual",
                                 source_ref="t-cash", clock=Clock.now(settings.tz), reason="t")
    db.session.commit()
    assert "不是礼品券" in refusal(other.code)
    gift.valid_until = date.today() - timedelta(days=1)
    db.session.commit()
    assert "已于" in refusal(gift.code) and "过期" in refusal(gift.code)


def test_the_api_hands_a_gift_over_once(shop, cashier_api, client, make):
    _member, gift = gift_coupon(shop, cashier_api, client)
    r = cashier_api.post(f"/coupons/{pretty(gift.code)}/hand-over", {"store_code": "S001"})
    assert r.status_code == 200, r.json
    assert r.json["receipt_line"]["text"] == f"兑换券 马克杯（{pretty(gift.code)}）：领取 MUG-001"
    again = cashier_api.post(f"/coupons/{gift.code}/hand-over", {"store_code": "S001"})
    assert again.status_code == 409 and again.json["code"] == "coupon_used"
    assert cashier_api.post("/coupons/NOPE/hand-over", {"store_code": "S001"}).status_code == 404
    elsewhere = make.token("cashier", make.store("S009"))
    from tests.conftest import Api
    other = Api(cashier_api.client, elsewhere)
    assert other.post(f"/coupons/{gift.code}/hand-over", {"store_code": "S001"}).status_code == 403


def test_the_console_lists_the_points_catalogue(shop, cashier_api, client, app):
    _member, gift = gift_coupon(shop, cashier_api, client)
    design("PLAIN", type="cash", title_zh="普通券", item_sku="", face_value_fen=500, points_price=None)
    console = app.test_client()
    login(console, shop, role="marketer")
    page = console.get("/console/coupons/?catalogue=1").get_data(as_text=True)
    assert "积分兑换目录" in page and "马克杯" in page and "普通券" not in page
    row = page.split('data-testid="template-row"')[1]
    assert "1500" in row and "兑换券" in row                      # its points price, its type by name
    assert "普通券" in console.get("/console/coupons/").get_data(as_text=True)
