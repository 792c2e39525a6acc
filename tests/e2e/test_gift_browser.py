"""Issue 14, item 5 in a browser: the member exchanges points for a gift in the H5 catalogue
(phone width, Chinese), the gift coupon is in the wallet with its QR; in the store the
cashier types its code on the hand-over screen, hands the gift over and prints the slip."""
from __future__ import annotations

import pytest
import requests

from wxcrm.coupons import service as coupons
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.timeutil import Clock

pytestmark = pytest.mark.e2e


def test_a_member_exchanges_points_for_a_gift_and_the_store_hands_it_over(live_server, make, browser, standin,
                                                                          configure, settings, shot):
    public = live_server.url.replace("127.0.0.1", "localhost")
    configure(PUBLIC_URL=public)
    store = make.store("S001", name="静安旗舰店")
    make.staff("cashier", store, username="gift-c", password="gift-pass-123")
    make.staff("marketer", username="gift-m", password="gift-pass-123")
    make.base_rule()
    member = make.member(openid="o-gift-browser", name="李雷")
    for code, fields in (("MUG", {"type": "gift", "title_zh": "品牌马克杯", "item_sku": "MUG-001", "face_value_fen": 6800,
                                  "points_price": 1500, "stock_total": 50, "per_member_limit": 1, "color": "#e64340",
                                  "description_zh": "限量款陶瓷马克杯"}),
                         ("CASH10", {"type": "cash", "title_zh": "10元现金券", "face_value_fen": 1000,
                                     "points_price": 1000}),
                         ("LATTE", {"type": "free_item", "title_zh": "拿铁免费券", "item_sku": "LATTE",
                                    "points_price": 3000, "color": "#10aeff"})):
        coupons.save_template(db.session, {"code": code, "valid_days": 30} | fields)
    db.session.commit()
    clock = Clock.now(settings.tz)
    ledger.earn_points(db.session, member.id, 2000, ledger.Cause("job", ref="e2e", at=clock.utc, text_zh="测试",
                                                                   text_en="test"), today=clock.today,
                       expires_on=clock.today.replace(year=clock.today.year + 1))
    db.session.commit()

    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True,
                                user_agent="Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile").new_page()
    phone.set_default_timeout(15000)
    phone.on("dialog", lambda d: d.accept())
    requests.post(f"{standin.url}/standin/oauth-user", json={"openid": "o-gift-browser"})
    phone.goto(f"{public}/h5/")
    phone.wait_for_selector("[data-testid=vcard]")
    phone.click("[data-testid=rewards-link]")
    phone.wait_for_selector("[data-testid=reward]")
    assert "2000" in phone.inner_text("[data-testid=points-available]")
    body = phone.inner_text("body")
    assert "礼品" in body and "现金券" in body and "品牌马克杯" in body and "积分不足" in body   # the latte: 3000
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(phone, "h5-points-catalogue-zh", full_page=True)
    phone.locator("[data-testid=reward]", has_text="品牌马克杯").locator("[data-testid=reward-exchange]").click()
    phone.wait_for_selector("[data-testid=coupon]")
    assert "到门店出示券码领取礼品" in phone.inner_text("body")
    code = phone.inner_text("[data-testid=coupon-code]").strip()
    shot(phone, "h5-gift-in-wallet-zh", full_page=True)
    phone.context.close()

    till = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    till.set_default_timeout(15000)
    till.on("dialog", lambda d: d.accept())
    till.goto(f"{live_server.url}/login")
    till.fill("#username", "gift-c")
    till.fill("#password", "gift-pass-123")
    till.click("button[type=submit]")
    till.wait_for_url("**/cashier/")
    till.click("[data-testid=nav-gifts]")
    till.fill("[data-testid=gift-code]", code.lower())
    till.click("[data-testid=gift-check]")
    till.wait_for_selector("[data-testid=gift-found]")
    assert "交付：MUG-001" in till.inner_text("[data-testid=gift-found]")
    shot(till, "cashier-gift-check-zh", full_page=True)
    till.click("[data-testid=gift-hand-over]")
    till.wait_for_selector("[data-testid=gift-slip]")
    assert f"兑换券 品牌马克杯（{code}）：领取 MUG-001" in till.inner_text("[data-testid=gift-slip]")
    shot(till, "cashier-gift-slip-zh", full_page=True)
    till.click("[data-testid=back-to-gifts]")
    till.fill("[data-testid=gift-code]", code)
    till.click("[data-testid=gift-check]")
    till.wait_for_selector("[data-testid=gift-error]")
    assert "领取过" in till.inner_text("[data-testid=gift-error]")
    shot(till, "cashier-gift-refused-zh", full_page=True)
    till.context.close()

    console = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    console.set_default_timeout(15000)
    console.goto(f"{live_server.url}/login")
    console.fill("#username", "gift-m")
    console.fill("#password", "gift-pass-123")
    console.click("button[type=submit]")
    console.goto(f"{live_server.url}/console/coupons/")
    console.click("[data-testid=catalogue-link]")
    console.wait_for_selector("[data-testid=template-row]")
    mug = console.locator("[data-testid=template-row]", has_text="MUG").inner_text()
    assert "1500" in mug and "兑换券" in mug
    shot(console, "console-points-catalogue-zh", full_page=True)
    console.context.close()
