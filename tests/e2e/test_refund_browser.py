"""Issue 9, items 9 and 10 in a browser at a phone's width (390 px): a cashier rings up a
purchase (a price with three decimals is refused with the reason, the points field says
what a point is worth), refunds one line from the receipt and the rest from the sales
history, and reads refund receipts with the money back as a positive amount and the
points in points, in Chinese and in English."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    p = context.new_page()
    p.set_default_timeout(15000)
    yield p
    context.close()


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_a_store_manager_refunds_a_purchase_by_line_and_then_the_rest_on_a_phone(live_server, make, phone, shot):
    store = make.store("S001", name="静安旗舰店")
    make.staff("manager", store, username="till9", password="till-pass-999")  # refunds are a manager's
    make.base_rule()
    member = make.member(name="韩梅梅", openid="o-refund-browser")
    page = phone

    page.goto(f"{live_server.url}/login")
    page.fill("#username", "till9")
    page.fill("#password", "till-pass-999")
    page.click("button[type=submit]")
    page.wait_for_url("**/cashier/")
    page.fill("#card_no", member.card_no)
    page.click("text=查询")
    page.wait_for_selector("[data-testid=member-box]")
    assert "1 积分 = ¥0.01" in page.inner_text("[data-testid=points-help]")

    rows = page.locator("tr.line")
    rows.nth(0).locator("[name=sku]").fill("TEA-001")
    rows.nth(0).locator("[name=qty]").fill("2")
    rows.nth(0).locator("[name=price]").fill("18")
    page.click("#add-line")
    rows.nth(1).locator("[name=sku]").fill("BAK-002")
    rows.nth(1).locator("[name=price]").fill("1.999")
    assert rows.nth(1).locator(".price-hint").is_visible()       # said at once, before ringing up
    assert no_sideways_scroll(page)
    shot(page, "till-phone-zh", full_page=True)
    page.click("#ring-up")
    page.wait_for_selector(".flash.danger")
    assert "超过两位小数" in page.inner_text(".flash.danger")     # and refused, saying why
    page.locator("tr.line").nth(1).locator("[name=price]").fill("1.5")
    assert page.inner_text("#basket-total") == "¥37.50"
    page.click("#ring-up")
    page.wait_for_selector("[data-testid=receipt]")
    assert "+37" in page.inner_text("[data-testid=receipt]")

    page.click("[data-testid=refund-link]")
    page.wait_for_selector("[data-testid=refund-form]")
    assert no_sideways_scroll(page)
    page.fill("[name=qty_1]", "1")
    shot(page, "refund-form-phone-zh", full_page=True)
    page.click("[data-testid=refund-lines]")
    page.wait_for_selector("[data-testid=receipt]")
    receipt = page.inner_text("[data-testid=receipt]")
    assert "退货单" in receipt and "退 TEA-001 × 1" in receipt
    assert "¥18.00" in page.inner_text("[data-testid=line-refund]")          # money back, positive
    assert "-17 分" in page.inner_text("[data-testid=line-points]")          # points in points (37 x 18 / 37.50)
    assert "8800****" in receipt and "韩**" in receipt                       # the member
    assert "-" not in page.inner_text("[data-testid=line-refund]")
    shot(page, "refund-receipt-phone-zh", full_page=True)

    page.goto(f"{live_server.url}/cashier/history")
    assert no_sideways_scroll(page)
    purchase_id = page.locator("[data-testid^=refund-]").first.get_attribute("data-testid").split("-")[1]
    page.click(f"[data-testid=refund-{purchase_id}]")
    page.click("[data-testid=refund-all]")
    page.wait_for_selector("[data-testid=receipt]")
    assert "¥19.50" in page.inner_text("[data-testid=line-refund]")
    page.goto(page.url + "?lang=en")
    page.wait_for_selector("[data-testid=receipt]")
    english = page.inner_text("[data-testid=receipt]")
    assert "REFUND" in english and "To refund" in english and "-20 pts" in english   # the rest of the 37
    assert "wechat_pay" not in english and "Payment: WeChat Pay" in english
    shot(page, "refund-receipt-phone-en", full_page=True)
    page.goto(f"{live_server.url}/cashier/history")
    assert page.locator(f"[data-testid=refund-{purchase_id}]").count() == 0   # nothing left to refund
