"""Issue 14 in a browser at a phone's width: the member's wallet shows a coupon with a QR
that decodes to its code; at the till the cashier scans that code, the live preview
applies the coupon, and the receipt line names it."""
from __future__ import annotations

import io
import uuid

import pytest
import requests
from PIL import Image

from wxcrm.coupons import service as coupons
from wxcrm.extensions import db
from wxcrm.timeutil import Clock

pytestmark = pytest.mark.e2e


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True,
                                  user_agent="Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile")
    p = context.new_page()
    p.set_default_timeout(15000)
    yield p
    context.close()


def test_the_wallet_qr_decodes_and_the_till_applies_the_coupon(live_server, make, browser, phone, standin,
                                                               configure, settings, shot):
    zxingcpp = pytest.importorskip("zxingcpp")
    public = live_server.url.replace("127.0.0.1", "localhost")
    configure(PUBLIC_URL=public)
    store = make.store("S001", name="静安旗舰店")
    make.staff("cashier", store, username="till-c", password="till-pass-123")
    make.base_rule()
    member = make.member(openid="o-wallet-browser", name="韩梅梅")
    coupons.save_template(db.session, {"code": "SPRING20", "type": "spend_get", "title_zh": "春季满100减20",
                                       "title_en": "20 off 100", "face_value_fen": 2000, "min_spend_fen": 10000,
                                       "valid_days": 30, "color": "#e64340", "restrictions": {"skus_out": ["GFT-001"]}})
    coupon = coupons.issue_coupon(db.session, settings, template_code="SPRING20", member=member, channel="manual",
                                  source_ref=f"e2e:{uuid.uuid4()}", clock=Clock.now(settings.tz), reason="e2e")
    db.session.commit()
    code = coupon.code

    # The member opens the wallet in WeChat.
    requests.post(f"{standin.url}/standin/oauth-user", json={"openid": "o-wallet-browser"})
    phone.goto(f"{public}/h5/")
    phone.wait_for_selector("[data-testid=vcard]")
    phone.click("[data-testid=coupons-link]")
    phone.wait_for_selector("[data-testid=coupon]")
    card = phone.inner_text("[data-testid=coupon]")
    assert "春季满100减20" in card and "满 ¥100.00 减 ¥20.00" in card and "不适用于 GFT-001" in card
    phone.wait_for_function("document.querySelector('[data-testid=coupon-qr]').naturalWidth > 0")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(phone, "h5-coupon-wallet-zh", full_page=True)
    qr = Image.open(io.BytesIO(phone.locator("[data-testid=coupon-qr]").screenshot()))
    [decoded] = zxingcpp.read_barcodes(qr)
    assert decoded.text == code

    # The cashier, on a phone-sized till, scans it.
    till = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True).new_page()
    till.set_default_timeout(15000)
    till.goto(f"{live_server.url}/login")
    till.fill("#username", "till-c")
    till.fill("#password", "till-pass-123")
    till.click("button[type=submit]")
    till.wait_for_url("**/cashier/")
    till.fill("#card_no", member.card_no)
    till.click("text=查询")
    till.wait_for_selector("[data-testid=member-box]")
    rows = till.locator("tr.line")
    rows.nth(0).locator("[name=sku]").fill("COF-002")
    rows.nth(0).locator("[name=qty]").fill("4")
    rows.nth(0).locator("[name=price]").fill("32")
    till.wait_for_selector("[data-testid=preview-coupon_used]")
    assert "春季满100减20" in till.inner_text("[data-testid=preview-coupon_used]")
    assert "108.00" in till.inner_text("[data-testid=preview-payable]")
    rows.nth(0).locator("[name=qty]").fill("2")                   # below the minimum spend: the preview says why
    till.wait_for_selector("[data-testid=preview-not-applied]")
    assert "未达到最低消费" in till.inner_text("[data-testid=preview-not-applied]")
    rows.nth(0).locator("[name=qty]").fill("4")
    till.fill("#coupon_codes", decoded.text)
    till.wait_for_selector("[data-testid=preview-coupon_used]")
    shot(till, "till-coupon-preview-zh", full_page=True)
    till.click("#ring-up")
    till.wait_for_selector("[data-testid=receipt]")
    receipt = till.inner_text("[data-testid=receipt]")
    assert "春季满100减20" in receipt and "108.00" in receipt
    assert "-20.00" in till.inner_text("[data-testid=line-coupon_used]")
    shot(till, "till-coupon-receipt-zh", full_page=True)
    till.context.close()


def test_a_marketer_designs_a_coupon_in_the_console(live_server, make, page, shot):
    make.store("S001", name="静安旗舰店")
    make.tier("gold", 3)
    make.staff("marketer", username="mk1", password="mk-pass-1234")
    page.goto(f"{live_server.url}/login")
    page.fill("#username", "mk1")
    page.fill("#password", "mk-pass-1234")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/console/coupons/new")
    page.wait_for_selector("[data-testid=coupon-form]")
    assert "面值（元）" in page.inner_text("[data-testid=coupon-form]")
    page.fill("#f-code", "CAFE15")
    page.select_option("#f-type", "percent")
    page.fill("#f-title_zh", "咖啡85折")
    page.fill("#f-percent_off", "15")
    page.fill("#f-cap", "30")
    page.fill("#f-valid_days", "14")
    page.fill("#f-categories_in", "coffee")
    shot(page, "console-coupon-form-zh", full_page=True)
    page.click("text=保存优惠券")
    page.wait_for_selector("text=8.5折，最多减 ¥30.00")
    assert "仅限 coffee 使用" in page.inner_text("body")
    shot(page, "console-coupon-page-zh", full_page=True)
