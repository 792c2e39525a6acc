"""Item 5 by WeChat Pay, item 8's closure refund and the cap with a bonus, on the WeChat side:
a paid membership bought from the H5 page through the top-ups' payment plumbing (unified
order, verified notify applied once per out_trade_no, order-query job, refund), a bonus cut
at the cap when the money is already in, and a closed membership's unspent principal going
back to the WeChat Pay it came from."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select

from tests.conftest import mysql_only
from tests.topups.test_wechat_pay import as_member, notify_body, order, send_notify, stored
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.members.models import Member, MembershipClosure, Tier
from wxcrm.rules import storage as rules
from wxcrm.rules.catalogue import TEMPLATES
from wxcrm.topups.models import MembershipPurchase, Topup


@pytest.fixture
def paying(app, standin, standin_pay, configure, live_server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    configure(WECHAT_PAY_ENABLED=True, PUBLIC_URL=live_server.url)
    return standin


@pytest.fixture
def admin_client(app, make):
    console = app.test_client()
    person = make.staff("admin")
    console.post("/login", data={"username": person.username, "password": "password123"})
    return console


@pytest.fixture
def gold(make):
    make.tier("normal", 1)
    tier = make.tier("gold", 2, threshold_fen=800_000)
    tier.price_fen, tier.term_months = 19_900, 12
    db.session.commit()
    return tier


def member_in_wechat(client, make, standin, openid="o-h5-member", **fields):
    standin.follow(openid)
    member = make.member(openid=openid, **fields)
    as_member(client, member)
    return member


def buy_order(client, tier="gold"):
    r = client.post("/h5/memberships", json={"tier": tier})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def fresh(member_id) -> Member:
    db.session.expire_all()
    return db.session.get(Member, member_id)


def test_the_h5_page_sells_the_priced_tiers_and_a_verified_notify_gives_the_year_once(
        client, make, paying, gold, live_server):
    member = member_in_wechat(client, make, paying, expires_on=date(2027, 3, 1))
    page = client.get("/h5/membership").get_data(as_text=True)
    assert 'data-tier="gold"' in page and "¥199.00 / 12 个月" in page and 'data-tier="normal"' not in page
    assert 'data-testid="membership-link"' in client.get("/h5/").get_data(as_text=True)
    body = buy_order(client)
    jsapi = body["jsapi"]
    assert jsapi["package"].startswith("prepay_id=wx") and body["out_trade_no"].startswith("MP")
    purchase = db.session.scalar(select(MembershipPurchase).where(MembershipPurchase.out_trade_no == body["out_trade_no"]))
    assert (purchase.status, purchase.channel, purchase.price_fen) == ("pending", "wechat", 19_900)
    assert fresh(member.id).expires_on == date(2027, 3, 1)              # nothing before the money is in
    page = requests.get(f"{paying.url}/standin/pay/jsapi", params={"params": __import__("json").dumps(jsapi)}).text
    assert "¥199.00" in page                                            # the stand-in's payment page takes it
    assert "FAIL" in send_notify(live_server.url, notify_body(body["out_trade_no"], 100))     # not the price
    assert fresh(member.id).expires_on == date(2027, 3, 1)
    for _ in range(3):
        assert "SUCCESS" in send_notify(live_server.url, notify_body(body["out_trade_no"], 19_900))
    m = fresh(member.id)
    assert (m.expires_on, m.tier_until, db.session.get(Tier, m.tier_id).code) == \
        (date(2028, 3, 1), date(2028, 3, 1), "gold")                   # one year, once
    assert db.session.scalar(select(MembershipPurchase.status).where(MembershipPurchase.id == purchase.id)) == "paid"
    landed = client.get(body["card_url"]).get_data(as_text=True)
    assert 'data-testid="membership-paid"' in landed and "2028-03-01" in landed
    assert stored(member) == 0 and ledger.audit(db.session) == []


def test_paying_on_the_standin_page_and_a_late_notify_confirmed_by_the_job(app, client, make, paying, gold,
                                                                            frozen_now):
    from wxcrm.jobs.tasks import confirm_wechat_topups
    from wxcrm.timeutil import Clock, add_months
    year_on = add_months(Clock.now(ZoneInfo("Asia/Shanghai")).today, 12)
    paid = member_in_wechat(client, make, paying, openid="o-standin-payer")
    body = buy_order(client)
    prepay = body["jsapi"]["package"].removeprefix("prepay_id=")
    assert requests.post(f"{paying.url}/standin/pay/confirm", json={"prepay_id": prepay}).json()["ok"]
    assert fresh(paid.id).expires_on == year_on
    late = member_in_wechat(client, make, paying, openid="o-late-payer").id
    body = buy_order(client)
    requests.post(f"{paying.url}/standin/pay-notify",
                  json={"out_trade_no": body["out_trade_no"], "notify_url": "http://127.0.0.1:9/nowhere"})
    assert fresh(late).tier_id != gold.id
    created = db.session.scalar(select(MembershipPurchase.created_at).where(
        MembershipPurchase.out_trade_no == body["out_trade_no"]))
    frozen_now(created + timedelta(minutes=5))
    # The year runs from the day the job confirms the payment: five minutes on may be the next
    # day in Shanghai (a run at 23:57 there), so the date is taken from the frozen clock.
    late_year_on = add_months(Clock.now(ZoneInfo("Asia/Shanghai")).today, 12)
    confirm_wechat_topups(app)
    assert fresh(late).expires_on == late_year_on
    confirm_wechat_topups(app)                                          # again: nothing more
    assert fresh(late).expires_on == late_year_on
    assert db.session.scalar(select(MembershipPurchase.status).where(
        MembershipPurchase.out_trade_no == body["out_trade_no"])) == "paid"


def test_what_the_h5_order_refuses(client, make, paying, gold):
    member_in_wechat(client, make, paying, openid="o-refused")
    r = client.post("/h5/memberships", json={"tier": "normal"})
    assert r.status_code == 422 and r.get_json()["code"] == "tier_not_for_sale"
    assert r.mimetype == "application/problem+json" and "不对外售卖" in r.get_json()["detail"]
    assert client.post("/h5/memberships", json={"tier": "platinum"}).status_code == 404
    assert client.post("/h5/memberships", json={"tier": ["gold"]}).status_code == 404
    assert client.post("/h5/memberships", data="nonsense").status_code == 404


def test_a_payment_after_the_membership_closed_buys_nothing_and_goes_back(client, make, paying, gold, live_server):
    from wxcrm.benefits.privacy import close_membership
    from wxcrm.config import settings_for
    from wxcrm.jobs.tasks import confirm_wechat_topups
    from wxcrm.timeutil import Clock
    member = member_in_wechat(client, make, paying, openid="o-closing").id
    gold_id = gold.id
    body = buy_order(client)
    requests.post(f"{paying.url}/standin/pay-notify",           # WeChat knows the order as paid
                  json={"out_trade_no": body["out_trade_no"], "notify_url": "http://127.0.0.1:9/none"})
    close_membership(db.session, fresh(member), clock=Clock.now(ZoneInfo("Asia/Shanghai")), settings=settings_for(client.application))
    db.session.commit()
    assert "SUCCESS" in send_notify(live_server.url, notify_body(body["out_trade_no"], 19_900))
    assert fresh(member).status == "closed" and fresh(member).tier_id != gold_id
    assert db.session.scalar(select(MembershipPurchase.status).where(
        MembershipPurchase.out_trade_no == body["out_trade_no"])) == "refunding"
    confirm_wechat_topups(client.application)                    # the job sends WeChat Pay's refund
    assert db.session.scalar(select(MembershipPurchase.status).where(
        MembershipPurchase.out_trade_no == body["out_trade_no"])) == "refunded"
    refunds = [c for c in paying.calls("/mch/secapi") if c["path"].endswith("/refund")]
    assert len(refunds) == 1


def test_a_bonus_past_the_cap_refuses_the_order_or_is_cut_when_the_money_is_already_in(
        client, make, paying, live_server, cashier_api, configure):
    for rule in TEMPLATES["topup_bonus_tiers"].rules():
        rules.create_rule(db.session, {**rule, "status": "active"})
    db.session.commit()
    member, first = order(client, make, paying, fen=380_000)       # 3,800 paid: +150 bonus
    send_notify(live_server.url, notify_body(first["out_trade_no"], 380_000))
    assert stored(member) == 395_000
    r = client.post("/h5/topups", json={"amount_fen": 100_000})
    assert r.status_code == 422 and r.get_json()["code"] == "stored_value_cap_bonus"
    assert "赠送" in r.get_json()["detail"] and "¥1050.00" in r.get_json()["detail"]
    r = client.post("/h5/topups", json={"amount_fen": 90_000})     # 900 + 50: 4,900
    assert r.status_code == 201
    late = r.get_json()["out_trade_no"]
    # while that order waits, a counter top-up fills the card: the payment still comes in
    r = cashier_api.post("/topups", {"store_code": "S001", "member": {"member_id": member.id}, "amount_fen": 12_000,
                                     "method": "cash"}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    assert stored(member) == 407_000
    assert "SUCCESS" in send_notify(live_server.url, notify_body(late, 90_000))
    assert stored(member) == 500_000                                 # 4,070 + 900 + 30 of the 50 bonus
    topup = db.session.scalar(select(Topup).where(Topup.out_trade_no == late))
    assert (topup.status, topup.amount_fen, topup.bonus_fen) == ("paid", 90_000, 3_000)
    assert [line["kind"] for line in topup.receipt["receipt_lines"]] == \
        ["topup", "stored_value_bonus", "bonus_cut", "balance"]
    assert ledger.value_split(db.session, member.id).bonus == 15_000 + 3_000
    assert ledger.audit(db.session) == []


def test_closing_a_membership_sends_the_wechat_principal_back_and_leaves_the_counter_part_to_finance(
        client, make, paying, live_server, cashier_api, admin_client):
    from wxcrm.jobs.tasks import confirm_wechat_topups
    member, body = order(client, make, paying, fen=20_000)
    member_id = member.id
    send_notify(live_server.url, notify_body(body["out_trade_no"], 20_000))
    requests.post(f"{paying.url}/standin/pay-notify",            # the stand-in knows the order as paid
                  json={"out_trade_no": body["out_trade_no"], "notify_url": "http://127.0.0.1:9/none"})
    make.typed_card_spends("S001")
    cashier_api.post("/topups", {"store_code": "S001", "member": {"member_id": member_id}, "amount_fen": 30_000,
                                 "method": "cash"}, key=str(uuid.uuid4()))
    sale = cashier_api.post("/transactions", {"store_code": "S001", "member": {"member_id": member_id},
                                              "items": [{"sku": "A", "qty": 1, "unit_price_fen": 5_000}],
                                              "payment_method": "stored_value"}, key=str(uuid.uuid4()))
    assert sale.status_code == 201, sale.json                     # principal first, oldest lot: the WeChat one
    assert stored(member) == 45_000
    card_no, member = member.card_no, member.id
    page = client.get("/h5/privacy/close").get_data(as_text=True)
    assert "¥450.00" in page
    done = client.post("/h5/privacy/close", data={"confirm": "yes"})
    text = done.get_data(as_text=True)
    assert "¥150.00 将在几天内原路退回" in text and "¥300.00 为门店充值" in text and card_no in text
    closure = db.session.scalar(select(MembershipClosure).where(MembershipClosure.member_id == member))
    assert (closure.stored_value_fen, closure.refund_wechat_fen, closure.refund_status) == (45_000, 15_000, "requested")
    closure_id = closure.id
    topup = db.session.scalar(select(Topup).where(Topup.out_trade_no == body["out_trade_no"]))
    topup_id = topup.id
    assert (topup.status, topup.refunded_principal_fen) == ("refunding", 15_000)
    assert stored(member) == 0 and ledger.audit(db.session) == []
    confirm_wechat_topups(client.application)
    refunds = [c for c in paying.calls("/mch/secapi") if c["path"].endswith("/refund")]
    assert len(refunds) == 1 and refunds[0]["body"]["refund_fee"] == "15000" and refunds[0]["body"]["total_fee"] == "20000"
    db.session.expire_all()
    assert db.session.get(Topup, topup_id).status == "refunded"
    # a repeated notify for that top-up credits nothing to the closed card
    assert "SUCCESS" in send_notify(live_server.url, notify_body(body["out_trade_no"], 20_000))
    assert stored(member) == 0
    # finance pays the counter part out and marks it
    console = admin_client.get("/console/stored-value/").get_data(as_text=True)
    assert f'data-testid="closure-{closure_id}"' in console and "待付款" in console
    r = admin_client.post(f"/console/stored-value/closures/{closure_id}/paid")
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(MembershipClosure, closure_id).refund_status == "paid"
    again = admin_client.post(f"/console/stored-value/closures/{closure_id}/paid", follow_redirects=True)
    assert "not waiting" in again.get_data(as_text=True) or "不在待付款" in again.get_data(as_text=True)


def test_an_expired_or_cancelled_membership_keeps_its_stored_value_until_it_is_bought_again(
        make, cashier_api, frozen_now, gold):
    """Stored value on a named card does not expire (the prepaid-card rules): a cancelled
    membership keeps its balance and still spends it at the till (earning no points), and may
    buy the membership again with it; a closed one cannot spend."""
    frozen_now(datetime(2026, 11, 23, 6, 0))
    make.typed_card_spends("S001")
    member = make.member()
    cashier_api.post("/topups", {"store_code": "S001", "member": {"member_id": member.id}, "amount_fen": 30_000,
                                 "method": "cash"}, key=str(uuid.uuid4()))
    m = fresh(member.id)
    m.status = "cancelled"                                      # the membership-expiry rules cancelled it
    db.session.commit()
    sale = cashier_api.post("/transactions", {"store_code": "S001", "member": {"member_id": member.id},
                                              "items": [{"sku": "A", "qty": 1, "unit_price_fen": 5_000}],
                                              "payment_method": "stored_value"}, key=str(uuid.uuid4()))
    assert sale.status_code == 201, sale.json                   # the member's money: spendable while cancelled
    assert sale.json["points_earned"] == 0 and stored(member) == 25_000
    assert any(line["kind"] == "notice" for line in sale.json["receipt_lines"])     # 会员卡未激活，本单不积分
    r = cashier_api.post("/memberships", {"store_code": "S001", "member": {"member_id": member.id}, "tier": "gold",
                                          "method": "stored_value"}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    assert fresh(member.id).status == "active" and stored(member) == 25_000 - 19_900
    sale = cashier_api.post("/transactions", {"store_code": "S001", "member": {"member_id": member.id},
                                              "items": [{"sku": "A", "qty": 1, "unit_price_fen": 5_000}],
                                              "payment_method": "stored_value"}, key=str(uuid.uuid4()))
    assert sale.status_code == 201 and stored(member) == 25_000 - 19_900 - 5_000
    assert ledger.audit(db.session) == []
    m = fresh(member.id)
    m.status = "closed"                                         # the gate alone (closing refunds the principal)
    db.session.commit()
    sale = cashier_api.post("/transactions", {"store_code": "S001", "member": {"member_id": member.id},
                                              "items": [{"sku": "A", "qty": 1, "unit_price_fen": 100}],
                                              "payment_method": "stored_value"}, key=str(uuid.uuid4()))
    assert sale.status_code == 422 and sale.json["code"] == "stored_value_needs_member"


def test_the_console_sets_a_tiers_price_and_term(admin_client, make):
    tier = make.tier("silver", 1)
    r = admin_client.post(f"/console/stored-value/tiers/{tier.id}", data={"price": "99.5", "term_months": "6"})
    assert r.status_code == 302
    db.session.expire_all()
    assert (db.session.get(Tier, tier.id).price_fen, db.session.get(Tier, tier.id).term_months) == (9_950, 6)
    bad = admin_client.post(f"/console/stored-value/tiers/{tier.id}", data={"price": "abc", "term_months": "6"},
                            follow_redirects=True)
    assert "请以元填写价格" in bad.get_data(as_text=True)
    bad = admin_client.post(f"/console/stored-value/tiers/{tier.id}", data={"price": "10", "term_months": "99"},
                            follow_redirects=True)
    assert "期限为 1 至 60 个月" in bad.get_data(as_text=True)
    admin_client.post(f"/console/stored-value/tiers/{tier.id}", data={"price": "", "term_months": "12"})
    db.session.expire_all()
    assert db.session.get(Tier, tier.id).price_fen is None
    page = admin_client.get("/console/stored-value/").get_data(as_text=True)
    assert 'data-testid="tier-price-silver"' in page and "付费会员" in page


@mysql_only
def test_five_membership_notifies_at_once_give_one_year(client, make, paying, gold, live_server):
    import threading
    member = member_in_wechat(client, make, paying, openid="o-five", expires_on=date(2027, 3, 1)).id
    body = buy_order(client)
    genuine = notify_body(body["out_trade_no"], 19_900)
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(send_notify(live_server.url, genuine)))
               for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 5 and all("SUCCESS" in a for a in answers), answers
    assert fresh(member).expires_on == date(2028, 3, 1)
    assert db.session.query(MembershipPurchase).filter_by(member_id=member, status="paid").count() == 1


def test_the_order_body_fits_wechat_pays_127_bytes_on_a_character_boundary(client, make, paying, gold, configure):
    from wxcrm.topups.wechat import order_body
    assert order_body("储" * 50) == "储" * 42 and len(order_body("储" * 50).encode()) == 126
    configure(BRAND_NAME="非常非常长的品牌名称" * 4)             # 120 bytes of brand alone
    member_in_wechat(client, make, paying, openid="o-long-brand")
    body = buy_order(client)                                   # the stand-in counts bytes, as WeChat does
    assert body["out_trade_no"].startswith("MP")
