"""Browser test (issue 14, item 6): a marketer sends a coupon to the WeChat card wallet and sees
WeChat's review in the console; the member taps "add to WeChat card wallet" in the H5 wallet,
the JS-SDK's addCard (played by the stand-in's WeixinJSBridge, which checks the cardExt's
signature) adds it, and the wallet then says the coupon is in the WeChat card wallet too."""
from __future__ import annotations

import uuid

import pytest
import requests
from sqlalchemy import select

from wxcrm.coupons.card_models import CouponCard, CouponCardCode
from wxcrm.extensions import db


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True,
                                  device_scale_factor=2,
                                  user_agent="Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile MicroMessenger/8.0.50")
    p = context.new_page()
    p.set_default_timeout(15000)
    yield p
    context.close()


def test_a_coupon_is_sent_reviewed_and_added_to_the_wechat_card_wallet(live_server, make, page, phone, standin,
                                                                       configure, shot):
    public = live_server.url.replace("127.0.0.1", "localhost")
    configure(PUBLIC_URL=public, WECHAT_CARD_ENABLED=True)
    requests.post(f"{standin.url}/standin/cards/review-mode", json={"manual": True})
    make.staff("marketer", username="mk", password="mk-pass-123")
    member = make.member(openid="o-coupon-card", name="李雷")
    api = {"Authorization": f"Bearer {make.token('marketer')}"}
    requests.post(f"{live_server.url}/api/v1/coupon-templates", headers=api, json={
        "code": "CASH20", "type": "cash", "title_zh": "20元代金券", "face_value_fen": 2000, "valid_days": 30,
        "color": "#e4b138"}).raise_for_status()
    requests.post(f"{live_server.url}/api/v1/coupons", headers={**api, "Idempotency-Key": str(uuid.uuid4())},
                  json={"template": "CASH20", "member": {"card_no": member.card_no}, "reason": "welcome"}
                  ).raise_for_status()

    page.goto(f"{live_server.url}/login")
    page.fill("#username", "mk")
    page.fill("#password", "mk-pass-123")
    page.click("button[type=submit]")
    page.wait_for_url("**/console/")
    page.goto(f"{live_server.url}/console/coupons/CASH20")
    page.click("[data-testid=wechat-card-send]")
    assert page.inner_text("[data-testid=wechat-card-status]") == "微信审核中"
    card_id = db.session.scalar(select(CouponCard.card_id))
    requests.post(f"{standin.url}/standin/cards/review", json={"card_id": card_id, "pass": True}).raise_for_status()
    page.reload()
    assert page.inner_text("[data-testid=wechat-card-status]") == "微信审核已通过"
    shot(page, "console-coupon-wechat-card-zh", full_page=True)

    requests.post(f"{standin.url}/standin/oauth-user", json={"openid": "o-coupon-card"})
    phone.goto(f"{public}/h5/coupons")
    phone.wait_for_selector("[data-testid=coupon-wallet-add]", state="visible")
    shot(phone, "h5-coupon-wallet-add-zh", full_page=True)
    phone.click("[data-testid=coupon-wallet-add]")
    sheet = phone.frame_locator("[data-testid=standin-add-card]")
    sheet.locator("[data-testid=standin-add-card-ok]").click()
    phone.wait_for_selector("[data-testid=coupon-wallet-add]", state="hidden")
    db.session.expire_all()
    assert db.session.scalar(select(CouponCardCode.card_id)) == card_id
    phone.reload()
    phone.wait_for_selector("[data-testid=coupon-in-wallet]")
    shot(phone, "h5-coupon-in-wechat-wallet-zh", full_page=True)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
