"""Issue 13 in a browser: the till tops a member up (and prints the slip), then takes a
payment in stored value and cash; a member tops up by WeChat Pay on their phone through
the stand-in's payment page and lands on their card with the new balance."""
from __future__ import annotations

import pytest
import requests

from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.rules import storage as rules
from wxcrm.rules.catalogue import TEMPLATES

pytestmark = pytest.mark.e2e


def bonus_steps():
    for rule in TEMPLATES["topup_bonus_tiers"].rules():
        rules.create_rule(db.session, {**rule, "status": "active"})
    db.session.commit()


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True,
                                  user_agent="Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile")
    p = context.new_page()
    p.set_default_timeout(15000)
    yield p
    context.close()


def test_the_till_tops_up_then_pays_with_stored_value_and_cash(live_server, make, phone, shot):
    store = make.store("S001", name="静安旗舰店")
    make.staff("cashier", store, username="till13", password="till-pass-123")
    make.typed_card_spends("S001")     # the cashier types the card number (the store lets it spend)
    make.base_rule()
    bonus_steps()
    member = make.member(name="韩梅梅")
    page = phone
    page.goto(f"{live_server.url}/login")
    page.fill("#username", "till13")
    page.fill("#password", "till-pass-123")
    page.click("button[type=submit]")
    page.wait_for_url("**/cashier/")
    page.fill("#card_no", member.card_no)
    page.click("text=查询")
    page.wait_for_selector("[data-testid=topup-form]")

    page.fill("#topup_yuan", "500")
    page.select_option("#topup_method", "cash")
    page.click("[data-testid=topup-submit]")
    page.wait_for_selector("[data-testid=topup-slip]")
    slip = page.inner_text("[data-testid=topup-slip]")
    assert "500.00" in slip and "550.00" in slip and "充500送50" in slip
    shot(page, "till-topup-slip-zh", full_page=True)

    page.click("[data-testid=back-to-till]")
    page.wait_for_selector("[data-testid=member-stored-value]")
    assert "550.00" in page.inner_text("[data-testid=member-stored-value]")
    rows = page.locator("tr.line")
    rows.nth(0).locator("[name=sku]").fill("TEA-001")
    rows.nth(0).locator("[name=price]").fill("600")
    page.select_option("#payment_method", "cash")
    page.fill("[data-testid=stored-value-to-use]", "550")
    shot(page, "till-split-zh", full_page=True)
    page.click("#ring-up")
    page.wait_for_selector("[data-testid=receipt]")
    receipt = page.inner_text("[data-testid=receipt]")
    assert "储值" in receipt and "550.00" in receipt and "现金" in receipt and "50.00" in receipt
    assert "stored_value" not in receipt and "cash" not in receipt
    shot(page, "till-split-receipt-zh", full_page=True)
    db.session.expire_all()
    assert ledger.balance(db.session, member.id, "stored_value") == 0


def test_a_member_tops_up_by_wechat_pay_and_lands_on_the_card(live_server, make, phone, standin, standin_pay,
                                                              configure, shot, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    public = live_server.url.replace("127.0.0.1", "localhost")
    configure(PUBLIC_URL=public, WECHAT_PAY_ENABLED=True)
    bonus_steps()
    standin.follow("o-topup-browser")
    member = make.member(openid="o-topup-browser")
    requests.post(f"{standin.url}/standin/oauth-user", json={"openid": "o-topup-browser"})
    page = phone
    page.goto(f"{public}/h5/")
    page.wait_for_selector("[data-testid=topup-link]")
    page.click("[data-testid=topup-link]")
    page.wait_for_selector("[data-testid=preset-50000]")
    assert "送" not in page.inner_text("[data-testid=preset-10000]")
    assert "50.00" in page.inner_text("[data-testid=preset-50000]")   # 充 500 送 50
    shot(page, "h5-topup-zh", full_page=True)
    page.click("[data-testid=preset-50000]")
    page.click("[data-testid=topup-pay]")
    frame = page.frame_locator("[data-testid=standin-pay]")
    frame.locator("[data-testid=standin-pay-fee]").wait_for()
    assert frame.locator("[data-testid=standin-pay-fee]").inner_text() == "¥500.00"
    shot(page, "h5-topup-standin-pay", full_page=True)
    frame.locator("[data-testid=standin-pay-confirm]").click()
    page.wait_for_url("**/h5/?paid=*")
    page.wait_for_selector("[data-testid=card-balance]")
    assert page.inner_text("[data-testid=card-balance]") == "¥550.00"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "h5-card-after-topup-zh", full_page=True)
    db.session.expire_all()
    assert ledger.value_split(db.session, member.id) == ledger.ValueSplit(50_000, 5_000)


def test_finance_sees_the_liability_and_the_settlement(app, live_server, make, page, shot):

    from wxcrm.config import settings_for
    from wxcrm.timeutil import Clock
    from wxcrm.topups import service as topups
    from wxcrm.topups import settlement
    make.store("S001", name="静安旗舰店")
    make.store("F001", kind="franchise", name="杭州加盟店")
    make.typed_card_spends("S001")     # the sale below spends stored value by member id, no code shown
    settlement.create_franchisee(db.session, code="FR1", name="杭州加盟商", store_codes=("F001",))
    make.staff("admin", username="fin13", password="fin-pass-1234")
    make.tier("normal", 1)
    member = make.member()
    settings = settings_for(app)
    topups.top_up_at_counter(db.session, store_code="F001", member_ref={"member_id": member.id}, amount_fen=30_000,
                             method="cash", clock=Clock.now(settings.tz), settings=settings)
    db.session.commit()
    from wxcrm.checkout import service as checkout
    checkout.ring_up_purchase(db.session, store_code="S001", items=[{"sku": "T", "qty": 1, "unit_price_fen": 12_000}],
                              clock=Clock.now(settings.tz), settings=settings, member_ref={"member_id": member.id},
                              payment_method="stored_value", notify=False)
    db.session.commit()
    page.goto(f"{live_server.url}/login")
    page.fill("#username", "fin13")
    page.fill("#password", "fin-pass-1234")
    page.click("button[type=submit]")
    page.wait_for_url("**/console/")
    page.goto(f"{live_server.url}/console/stored-value/")
    text = page.inner_text("[data-testid=settlement]")
    assert "杭州加盟商" in text and "120.00" in text
    assert "180.00" in page.inner_text("[data-testid=liability]")
    # paid membership: the tiers' prices are set on the same page
    page.fill("[data-testid=tier-price-normal]", "99")
    page.click("[data-testid=tier-save-normal]")
    page.wait_for_selector(".flash.success")
    assert page.input_value("[data-testid=tier-price-normal]") == "99.00"
    assert "付费会员" in page.inner_text("[data-testid=paid-membership]")
    shot(page, "console-stored-value-zh", full_page=True)


def test_a_member_buys_a_gold_year_by_wechat_pay_on_their_phone(live_server, make, phone, standin, standin_pay,
                                                                configure, shot, monkeypatch):
    from datetime import date

    from wxcrm.members.models import Member
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    public = live_server.url.replace("127.0.0.1", "localhost")
    configure(PUBLIC_URL=public, WECHAT_PAY_ENABLED=True)
    make.tier("normal", 1)
    gold = make.tier("gold", 2, threshold_fen=800_000)
    gold.name, gold.price_fen, gold.term_months = "金卡", 19_900, 12
    db.session.commit()
    standin.follow("o-membership-browser")
    member = make.member(openid="o-membership-browser", expires_on=date(2027, 3, 1))
    requests.post(f"{standin.url}/standin/oauth-user", json={"openid": "o-membership-browser"})
    page = phone
    page.goto(f"{public}/h5/")
    page.wait_for_selector("[data-testid=membership-link]")
    assert "2027-03-01" in page.inner_text("[data-testid=membership-link]")
    page.click("[data-testid=membership-link]")
    page.wait_for_selector("[data-testid=tier-gold]")
    assert "¥199.00 / 12 个月" in page.inner_text("[data-testid=tier-gold]")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "h5-membership-zh", full_page=True)
    page.click("[data-testid=membership-pay]")                 # nothing chosen yet
    assert page.inner_text("[data-topup-error]") == "请选择要购买的会员。"
    page.click("[data-testid=tier-gold]")
    page.click("[data-testid=membership-pay]")
    frame = page.frame_locator("[data-testid=standin-pay]")
    frame.locator("[data-testid=standin-pay-fee]").wait_for()
    assert frame.locator("[data-testid=standin-pay-fee]").inner_text() == "¥199.00"
    shot(page, "h5-membership-standin-pay", full_page=True)
    frame.locator("[data-testid=standin-pay-confirm]").click()
    page.wait_for_url("**/h5/membership?paid=*")
    page.wait_for_selector("[data-testid=membership-until]")
    assert page.inner_text("[data-testid=membership-until]") == "2028-03-01"
    assert "金卡" in page.inner_text("[data-testid=membership-now]")
    shot(page, "h5-membership-after-pay-zh", full_page=True)
    db.session.expire_all()
    assert db.session.get(Member, member.id).expires_on == date(2028, 3, 1)
