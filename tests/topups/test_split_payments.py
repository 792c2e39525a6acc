"""Item 4: paying at the till with several tenders, stored value among them, and refunds
that go back to each tender."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from tests.conftest import mysql_only, post_sale
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.rules import storage as rules
from wxcrm.rules.catalogue import TEMPLATES


@pytest.fixture
def shop(make, cashier_api, manager_api, frozen_now):
    frozen_now(datetime(2026, 11, 23, 6, 0))
    make.base_rule()
    make.typed_card_spends("S001")   # these tests spend stored value with a typed card number (issue 12's store setting)
    return make


def top_up(api, member, fen):
    r = api.post("/topups", {"store_code": "S001", "member": {"member_id": member.id}, "amount_fen": fen,
                             "method": "cash"}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    return r.json


def sale(api, member, items, **extra):
    body = {"store_code": "S001", "member": {"card_no": member.card_no} if member else None,
            "items": [{"sku": sku, "qty": qty, "unit_price_fen": fen} for sku, qty, fen in items], **extra}
    return api.post("/transactions", body, key=str(uuid.uuid4()))


def split(value_fen, cash_fen):
    return [{"method": "stored_value", "amount_fen": value_fen}, {"method": "cash", "amount_fen": cash_fen}]


def value(member):
    db.session.expire_all()
    return ledger.value_split(db.session, member.id)


def test_stored_value_and_cash_pay_one_sale(shop, cashier_api):
    member = shop.member()
    top_up(cashier_api, member, 30_000)
    r = sale(cashier_api, member, [("TEA", 1, 50_000)], payments=split(30_000, 20_000))
    assert r.status_code == 201, r.json
    assert r.json["payment_method"] == "split"
    assert r.json["payments"] == split(30_000, 20_000)
    assert r.json["stored_value_fen"] == 0
    paid = [line for line in r.json["receipt_lines"] if line["kind"] == "payment"]
    assert paid[0]["principal_fen"] == 30_000 and paid[0]["bonus_fen"] == 0
    # stored value earns no points by default (WXCRM_STORED_VALUE_EARNS_POINTS): 200 yuan of cash earns 200
    assert r.json["points_earned"] == 200
    assert ledger.audit(db.session) == []


def test_stored_value_earns_points_when_the_setting_says_so(shop, cashier_api, configure):
    member = shop.member()
    top_up(cashier_api, member, 30_000)
    configure(STORED_VALUE_EARNS_POINTS=True)
    r = sale(cashier_api, member, [("TEA", 1, 50_000)], payments=split(30_000, 20_000))
    assert r.json["points_earned"] == 500


def test_the_payments_must_add_up_to_what_is_left_to_pay(shop, cashier_api):
    member = shop.member()
    top_up(cashier_api, member, 30_000)
    r = sale(cashier_api, member, [("TEA", 1, 50_000)], payments=split(30_000, 19_999))
    assert r.status_code == 422 and r.json["code"] == "payments_do_not_add_up"
    assert value(member).total == 30_000


def test_never_more_stored_value_than_the_balance(shop, cashier_api):
    member = shop.member()
    top_up(cashier_api, member, 10_000)
    r = sale(cashier_api, member, [("TEA", 1, 50_000)], payments=split(30_000, 20_000))
    assert r.status_code == 422 and r.json["code"] == "insufficient_stored_value"
    assert value(member).total == 10_000


def test_stored_value_needs_a_member(shop, cashier_api):
    r = sale(cashier_api, None, [("TEA", 1, 500)], payment_method="stored_value")
    assert r.status_code == 422 and r.json["code"] == "stored_value_needs_member"


def test_the_shorthand_pays_the_whole_bill_from_stored_value(shop, cashier_api):
    member = shop.member()
    top_up(cashier_api, member, 10_000)
    r = sale(cashier_api, member, [("TEA", 2, 1_500)], payment_method="stored_value")
    assert r.status_code == 201, r.json
    assert value(member).total == 7_000
    assert r.json["points_earned"] == 0


def test_rules_see_every_tender(shop, cashier_api):
    rules.create_rule(db.session, {"name": "储值付款加赠", "event": "purchase", "status": "active",
                                   "conditions": {"fact": "payment.methods", "op": "in", "value": ["stored_value"]},
                                   "actions": [{"type": "bonus_points", "points": 7}]})
    db.session.commit()
    member = shop.member()
    top_up(cashier_api, member, 10_000)
    with_value = sale(cashier_api, member, [("TEA", 1, 2_000)], payments=split(1_000, 1_000)).json
    cash_only = sale(cashier_api, member, [("TEA", 1, 2_000)], payment_method="cash").json
    assert with_value["points_earned"] == 10 + 7 and cash_only["points_earned"] == 20


def test_spend_order_bonus_first(shop, cashier_api, configure):
    for rule in TEMPLATES["topup_bonus_tiers"].rules():
        rules.create_rule(db.session, {**rule, "status": "active"})
    db.session.commit()
    member = shop.member()
    top_up(cashier_api, member, 50_000)                 # 500 + 50 bonus
    configure(STORED_VALUE_SPEND_ORDER="bonus_first")
    sale(cashier_api, member, [("TEA", 1, 6_000)], payment_method="stored_value")
    assert value(member) == ledger.ValueSplit(49_000, 0)
    sale(cashier_api, member, [("TEA", 1, 1_000)], payment_method="stored_value")
    assert value(member) == ledger.ValueSplit(48_000, 0)


def test_refunds_go_back_to_each_tender_and_add_up_exactly(shop, cashier_api, manager_api):
    for rule in TEMPLATES["topup_bonus_tiers"].rules():
        rules.create_rule(db.session, {**rule, "status": "active"})
    db.session.commit()
    member = shop.member()
    top_up(cashier_api, member, 50_000)                 # 500 principal + 50 bonus
    sold = sale(cashier_api, member, [("A", 1, 33_333), ("B", 1, 33_333), ("C", 1, 33_334)],
                payments=[{"method": "stored_value", "amount_fen": 55_000}, {"method": "cash", "amount_fen": 30_000},
                          {"method": "wechat_pay", "amount_fen": 15_000}])
    assert sold.status_code == 201, sold.json
    assert value(member).total == 0
    backs = []
    for line in (1, 2, 3):
        r = manager_api.post(f"/transactions/{sold.json['id']}/refund", {"items": [{"line_no": line}]},
                             key=str(uuid.uuid4()))
        assert r.status_code == 201, r.json
        backs.append({p["method"]: p["amount_fen"] for p in r.json["payments"]})
    total = {m: sum(b.get(m, 0) for b in backs) for m in ("stored_value", "cash", "wechat_pay")}
    refunded = sum(sum(b.values()) for b in backs)
    # the earned points were never spent, so the whole bill comes back, each tender exactly
    assert refunded == 100_000
    assert total == {"stored_value": 55_000, "cash": 30_000, "wechat_pay": 15_000}
    assert value(member) == ledger.ValueSplit(50_000, 5_000)   # principal and bonus where they came from
    assert ledger.audit(db.session) == []


@mysql_only
def test_two_tills_spending_one_balance_at_once_never_overdraw(app, make):
    store = make.store("S001")
    token = make.token("cashier", store)
    make.typed_card_spends("S001")     # ten tills type the card number (the store lets it spend)
    member = make.member()
    from wxcrm.config import settings_for
    from wxcrm.timeutil import Clock
    from wxcrm.topups import service as topups
    settings = settings_for(app)
    topups.top_up_at_counter(db.session, store_code="S001", member_ref={"member_id": member.id}, amount_fen=10_000,
                             method="cash", clock=Clock.now(settings.tz), settings=settings)
    db.session.commit()
    spend = {"store_code": "S001", "member": {"card_no": member.card_no}, "payment_method": "stored_value",
             "items": [{"sku": "C", "qty": 1, "unit_price_fen": 3_000}]}
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(lambda _: post_sale(app, token, spend, str(uuid.uuid4())), range(10)))
    ok = [r for r in results if r[0] == 201]
    assert len(ok) == 3, results
    assert all(body["code"] == "insufficient_stored_value" for status, body in results if status != 201)
    db.session.expire_all()
    assert ledger.balance(db.session, member.id, "stored_value") == 1_000
    assert ledger.audit(db.session) == []


def test_one_payment_without_an_amount_pays_what_the_others_leave(shop, cashier_api):
    member = shop.member()
    top_up(cashier_api, member, 10_000)
    r = sale(cashier_api, member, [("TEA", 1, 25_000)],
             payments=[{"method": "stored_value", "amount_fen": 10_000}, {"method": "wechat_pay"}])
    assert r.status_code == 201, r.json
    assert r.json["payments"] == [{"method": "stored_value", "amount_fen": 10_000},
                                  {"method": "wechat_pay", "amount_fen": 15_000}]


def test_a_payment_leaving_little_stored_value_sends_a_low_balance_notice(shop, cashier_api):
    from wxcrm.messages.models import OutboxMessage
    member = shop.member(openid="o-low-balance")
    top_up(cashier_api, member, 5_000)
    sale(cashier_api, member, [("TEA", 1, 2_000)], payment_method="stored_value")        # 30 left: fine
    assert db.session.query(OutboxMessage).filter_by(purpose="stored_value_low").count() == 0
    sale(cashier_api, member, [("TEA", 1, 1_500)], payment_method="stored_value")        # 15 left
    [notice] = db.session.query(OutboxMessage).filter_by(purpose="stored_value_low").all()
    assert "15.00" in notice.payload.get("text", "") or "15.00" in str(notice.payload)


def test_the_card_page_shows_the_balance_and_its_history(shop, cashier_api, client):
    member = shop.member(openid="o-h5-history")
    top_up(cashier_api, member, 5_000)
    sale(cashier_api, member, [("TEA", 1, 2_000)], payment_method="stored_value")
    with client.session_transaction() as s:
        s["openid"], s["member_id"], s["oauth_scope"] = member.openid, member.id, "snsapi_base"
    page = client.get("/h5/stored-value?lang=zh_CN").get_data(as_text=True)
    assert "¥30.00" in page and "充值 50.00 元" in page and "储值支付 20.00 元" in page
