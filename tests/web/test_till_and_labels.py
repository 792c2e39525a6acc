"""Issue 9, items 1, 9-13 on the pages: the till's prices, points and refunds; messages in
the page's language by code; no raw codes; times in the merchant's zone; the overview
nets refunds; the rules page says what earns points; the member page keeps history."""
from __future__ import annotations

import re
import uuid
from datetime import datetime

import pytest
from sqlalchemy import func, select

from wxcrm.extensions import db
from wxcrm.messages import outbox
from wxcrm.sales.models import Transaction
from wxcrm.web.cashier.views import price_to_fen


class Till:
    def __init__(self, client, make):
        self.client, self.make = client, make
        self.store = make.store("S001", name="静安旗舰店")
        make.typed_card_spends("S001")   # the card number typed at this till may spend points
        manager = make.staff("manager", self.store)     # rings up like a cashier, and refunds
        client.post("/login", data={"username": manager.username, "password": "password123"})

    def ring_up(self, member=None, rows=(("TEA-001", "tea", "1", "18"),), points="0", lang="zh_CN", **more):
        form = {"action": "ring_up", "idempotency_key": str(uuid.uuid4()), "store_code": "S001",
                "card_no": member.card_no if member else "", "payment_method": "wechat_pay", "points_to_use": points,
                "sku": [r[0] for r in rows], "category": [r[1] for r in rows], "qty": [r[2] for r in rows],
                "price": [r[3] for r in rows], **more}
        query = f"?card_no={member.card_no}&lang={lang}" if member else f"?lang={lang}"
        return self.client.post(f"/cashier/{query}", data=form)


@pytest.fixture
def till(client, make, frozen_now):
    frozen_now(datetime(2026, 11, 23, 6, 0))
    make.base_rule()
    return Till(client, make)


@pytest.mark.parametrize("text, fen", [("1.5", 150), ("18", 1800), ("16.50", 1650), (".5", 50), ("0", 0)])
def test_prices_take_yuan_with_up_to_two_decimals(text, fen):
    assert price_to_fen(text) == fen


@pytest.mark.parametrize("text, why", [("1.999", "decimals"), ("abc", "amount"), ("-1", "amount"), ("", "amount")])
def test_a_price_that_is_not_yuan_and_fen_is_refused_with_why(text, why):
    with pytest.raises(ValueError, match=why):
        price_to_fen(text)


def test_the_till_refuses_three_decimals_saying_why_in_the_pages_language(till):
    page = till.ring_up(rows=(("A", "", "1", "1.999"),)).get_data(as_text=True)
    assert "第 1 行" in page and "超过两位小数" in page
    page = till.ring_up(rows=(("A", "", "1", "1.999"),), lang="en").get_data(as_text=True)
    assert "Row 1" in page and "more than two decimals" in page
    assert db.session.scalar(select(func.count(Transaction.id))) == 0
    assert till.ring_up(rows=(("A", "", "1", "1.5"),)).status_code == 302


def test_too_many_points_are_refused_in_chinese_on_a_chinese_page(till, make):
    member = make.member()
    till.ring_up(member, rows=(("A", "", "1", "100"),))
    page = till.ring_up(member, rows=(("A", "", "1", "10"),), points="99999").get_data(as_text=True)
    assert "99999 积分超过了待付金额 ¥10.00" in page and "worth more" not in page


def test_the_points_field_says_what_a_point_is_worth_and_the_share(till, make, configure):
    configure(POINTS_MAX_SHARE_PCT=50, POINT_VALUE_FEN=2)
    member = make.member()
    till.ring_up(member, rows=(("A", "", "1", "100"),))
    page = till.client.get(f"/cashier/?card_no={member.card_no}").get_data(as_text=True)
    help_text = re.search(r'data-testid="points-help">(.*?)</div>', page, re.S).group(1)
    assert "1 积分 = ¥0.02" in help_text and "50%" in help_text and 'id="points-max">100<' in help_text
    assert "本单最多可用积分" in help_text
    assert 'data-max-share="50"' in page and 'data-point-value="2"' in page


def test_a_refund_from_the_receipt_by_line_then_the_rest(till, make):
    member = make.member(openid="o-till-refund")
    receipt_url = till.ring_up(member, rows=(("TEA-001", "tea", "2", "18"), ("BAK-002", "bakery", "1", "16.5"))
                               ).headers["Location"]
    receipt = till.client.get(receipt_url).get_data(as_text=True)
    purchase_id = int(receipt_url.rsplit("/", 1)[1])
    assert f"/cashier/refund/{purchase_id}" in receipt
    form = till.client.get(f"/cashier/refund/{purchase_id}").get_data(as_text=True)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', form).group(1)
    r = till.client.post(f"/cashier/refund/{purchase_id}", data={"idempotency_key": key, "whole": "0", "qty_1": "1"})
    assert r.status_code == 302
    refund_page = till.client.get(r.headers["Location"]).get_data(as_text=True)
    assert "退货单" in refund_page and "¥18.00" in refund_page and "¥-" not in refund_page
    assert "-17 分" in refund_page and "支付方式: 微信支付" in refund_page
    again = till.client.post(f"/cashier/refund/{purchase_id}", data={"idempotency_key": key, "whole": "0",
                                                                     "qty_1": "1"})
    assert again.headers["Location"] == r.headers["Location"]           # the same key: the same refund
    too_many = till.client.post(f"/cashier/refund/{purchase_id}", data={"idempotency_key": str(uuid.uuid4()),
                                                                        "whole": "0", "qty_1": "5"})
    assert too_many.status_code == 422 and "退货数量超过" in too_many.get_data(as_text=True)
    history = till.client.get("/cashier/history").get_data(as_text=True)
    assert f'data-testid="refund-{purchase_id}"' in history
    rest = till.client.post(f"/cashier/refund/{purchase_id}", data={"idempotency_key": str(uuid.uuid4()),
                                                                    "whole": "1"})
    assert rest.status_code == 302
    assert f'data-testid="refund-{purchase_id}"' not in till.client.get("/cashier/history").get_data(as_text=True)
    purposes = [m.purpose for m in db.session.scalars(select(outbox.OutboxMessage))]
    assert purposes.count("points_changed") == 3                          # the purchase and both refunds


def test_a_manager_refunds_only_at_their_own_store(till, make, client):
    other = make.store("S002")
    admin_token = make.token("admin")
    member = make.member()
    sale = client.post("/api/v1/transactions", json={"store_code": other.code, "member": {"member_id": member.id},
                                                     "items": [{"sku": "A", "qty": 1, "unit_price_fen": 100}]},
                       headers={"Authorization": f"Bearer {admin_token}", "Idempotency-Key": str(uuid.uuid4())})
    assert till.client.get(f"/cashier/refund/{sale.json['id']}").status_code == 403


def test_receipts_and_the_outbox_name_codes_and_show_local_times(till, make, client):
    member = make.member(openid="o-labels")
    member.followed = True
    db.session.commit()
    receipt_url = till.ring_up(member).headers["Location"]
    zh = till.client.get(receipt_url).get_data(as_text=True)
    assert "微信支付" in zh and "wechat_pay" not in zh and "时间: 2026-11-23 14:00" in zh
    admin = make.staff("admin")
    client.post("/logout")
    client.post("/login", data={"username": admin.username, "password": "password123"})
    page = client.get("/console/outbox/?status=pending&lang=zh_CN").get_data(as_text=True)
    assert "积分变动" in page and "模板消息" in page and "points_changed" not in page and ">template<" not in page
    row = db.session.scalar(select(outbox.OutboxMessage))
    from wxcrm.timeutil import to_local
    assert to_local(row.created_at, till.make.app.extensions["wxcrm_settings"].tz).strftime("%Y-%m-%d %H:%M") in page
    assert "UTC" not in page
    english = client.get("/console/outbox/?status=pending&lang=en").get_data(as_text=True)
    assert "Points changed" in english and "points_changed" not in english


def test_the_overview_nets_refunds_and_says_so(till, make, client):
    member = make.member()
    receipt_url = till.ring_up(member, rows=(("A", "", "1", "100"),)).headers["Location"]
    purchase_id = int(receipt_url.rsplit("/", 1)[1])
    till.client.post(f"/cashier/refund/{purchase_id}", data={"idempotency_key": str(uuid.uuid4()), "whole": "1"})
    admin = make.staff("admin")
    client.post("/logout")
    client.post("/login", data={"username": admin.username, "password": "password123"})
    page = client.get("/console/?lang=zh_CN").get_data(as_text=True)
    tile = re.search(r'data-testid="sales-today">(.*?)</div></div>', page, re.S).group(1)
    assert "已扣退货" in tile and "¥0.00" in tile and "退货 ¥100.00" in tile


def test_the_rules_page_says_what_earns_points_or_that_nothing_does(client, make):
    admin = make.staff("marketer")
    client.post("/login", data={"username": admin.username, "password": "password123"})
    page = client.get("/console/rules/?lang=zh_CN").get_data(as_text=True)
    assert "没有生效的消费积分规则" in page and 'data-testid="add-base-earning"' in page
    assert client.post("/console/rules/base-earning").status_code == 302
    page = client.get("/console/rules/").get_data(as_text=True)
    what = re.search(r'data-testid="what-earns">(.*?)</div>', page, re.S).group(1)
    assert "消费积分" in what and "每元 1 积分" in what


def test_the_member_page_shows_the_history_with_tier_names(client, make):
    from wxcrm.members import service
    make.tier("normal", 1)
    gold = make.tier("gold", 2, threshold_fen=10**9)
    gold.name, gold.name_en = "金卡", "Gold"
    admin = make.staff("admin")
    member = make.member(tier_code="normal")
    service.change_member(db.session, member, {"tier": "gold", "district": "静安区"}, staff_id=admin.id,
                          reason="会员日活动", today=member.joined_on)
    db.session.commit()
    client.post("/login", data={"username": admin.username, "password": "password123"})
    page = client.get(f"/console/members/{member.id}?lang=zh_CN").get_data(as_text=True)
    history = re.search(r'data-testid="member-history">(.*?)</table>', page, re.S).group(1)
    assert "金卡" in history and "会员日活动" in history and admin.username in history and "静安区" in history
    assert ">gold<" not in history


def test_a_rule_editor_problem_is_in_chinese_on_a_chinese_page(client, make):
    marketer = make.staff("marketer")
    client.post("/login", data={"username": marketer.username, "password": "password123"})
    r = client.post("/console/rules/new?lang=zh_CN", data={
        "name": "x", "event": "purchase", "status": "draft", "act_type": ["multiply_points"],
        "act_multiply_points_pct": ["0"], "act_multiply_points_pending_days": [""]})
    page = r.get_data(as_text=True)
    shown = re.findall(r'<div class="error">(.*?)</div>', page)
    assert r.status_code == 422 and any("必须是 1 到 1000 的整数百分比" in e for e in shown)
    assert not any("must be" in e for e in shown)
    r = client.post("/console/rules/simulate?lang=zh_CN", data={"event": "purchase", "sim_store": "",
                                                                "sim_sku": ["A"], "sim_qty": ["x"],
                                                                "sim_price": ["1"]})
    assert "必须是大于 0 的整数" in r.get_data(as_text=True)


def test_the_simulators_reasons_name_tiers_not_codes(client, make):
    """Issue 9, item 12: "会员等级 silver" no more."""
    from wxcrm.rules import storage
    make.store("S001")
    silver = make.tier("silver", 2)
    silver.name, silver.name_en = "银卡", "Silver"
    gold = make.tier("gold", 3, threshold_fen=10**9)
    gold.name, gold.name_en = "金卡", "Gold"
    storage.create_rule(db.session, {"name": "金卡双倍", "event": "purchase", "status": "active",
                                     "scope": {"tiers": ["gold"]}, "actions": [{"type": "earn_points", "rate": 2}]})
    db.session.commit()
    marketer = make.staff("marketer")
    client.post("/login", data={"username": marketer.username, "password": "password123"})
    page = client.post("/console/rules/simulate?lang=zh_CN", data={
        "event": "purchase", "sim_store": "S001", "sim_sku": ["A"], "sim_category": [""], "sim_qty": ["1"],
        "sim_price": ["100"], "sim_tier": "silver"}).get_data(as_text=True)
    trace = re.search(r'data-testid="trace">(.*?)</table>', page, re.S).group(1)
    assert "银卡" in trace and "金卡" in trace and "silver" not in trace and "gold" not in trace


def test_a_cashier_sees_that_refunds_are_the_managers(client, make, frozen_now):
    frozen_now(datetime(2026, 11, 23, 6, 0))
    make.base_rule()
    store = make.store("S001")
    cashier = make.staff("cashier", store)
    client.post("/login", data={"username": cashier.username, "password": "password123"})
    r = client.post("/cashier/", data={"action": "ring_up", "store_code": "S001", "idempotency_key": str(uuid.uuid4()),
                                       "sku": "TEA", "category": "tea", "qty": "1", "price": "18"})
    receipt = client.get(r.headers["Location"]).get_data(as_text=True)
    purchase_id = int(r.headers["Location"].rstrip("/").split("/")[-1])
    assert "退货请店长办理" in receipt and f"/cashier/refund/{purchase_id}" not in receipt
    assert client.get(f"/cashier/refund/{purchase_id}").status_code == 403


def test_the_till_sells_a_paid_membership_to_a_cancelled_member_with_their_stored_value(client, make, frozen_now):
    """A membership the rules cancelled keeps its stored value; the till sells it a year of
    gold paid with that balance (the store lets a typed card number spend), and the member
    is active again; a store that needs the member's presence refuses it without a code."""
    from datetime import date

    from wxcrm.config import settings_for
    from wxcrm.ledger import service as ledger
    from wxcrm.members.models import Member
    from wxcrm.timeutil import Clock
    from wxcrm.topups import service as topups
    frozen_now(datetime(2026, 11, 23, 6, 0))
    till = Till(client, make)
    make.tier("normal", 1)
    gold = make.tier("gold", 2)
    gold.name, gold.price_fen = "金卡", 19_900
    member = make.member(expires_on=date(2026, 10, 1))
    settings = settings_for(client.application)
    topups.top_up_at_counter(db.session, store_code="S001", member_ref={"member_id": member.id}, amount_fen=30_000,
                             method="cash", clock=Clock.now(settings.tz), settings=settings)
    member.status = "cancelled"
    db.session.commit()
    page = client.get(f"/cashier/?card_no={member.card_no}&lang=zh_CN").get_data(as_text=True)
    assert 'data-testid="membership-form"' in page and "金卡：¥199.00 / 12 个月" in page
    assert 'data-testid="topup-form"' not in page                   # a cancelled member cannot top up
    form = {"action": "buy_membership", "idempotency_key": str(uuid.uuid4()), "store_code": "S001",
            "card_no": member.card_no, "tier": "gold", "membership_method": "stored_value"}
    done = client.post(f"/cashier/?card_no={member.card_no}&lang=zh_CN", data=form, follow_redirects=True)
    assert "已购买付费会员：金卡，有效期至 2027-11-23" in done.get_data(as_text=True)
    db.session.expire_all()
    bought = db.session.get(Member, member.id)
    assert (bought.status, bought.expires_on) == ("active", date(2027, 11, 23))
    assert ledger.balance(db.session, member.id, "stored_value") == 10_100
    make.typed_card_spends("S001", allowed=False)
    form["idempotency_key"] = str(uuid.uuid4())
    refused = client.post(f"/cashier/?card_no={member.card_no}&lang=zh_CN", data=form, follow_redirects=True)
    assert "会员码" in refused.get_data(as_text=True)
    assert ledger.balance(db.session, member.id, "stored_value") == 10_100
    assert till is not None
