"""Issue 12 in a browser at a phone's size: the member's card page shows a QR code and a
Code 128 barcode; both decode (zxing-cpp, a real decoder) to the member code; the cashier's
scanner types it into the till, and the sale spends points with it."""
from __future__ import annotations

import io
import uuid

import pytest
import requests
import zxingcpp
from PIL import Image

from tests.e2e.conftest import ARTIFACTS
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger

pytestmark = pytest.mark.e2e


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True,
                                  device_scale_factor=2,
                                  user_agent="Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile")
    p = context.new_page()
    p.set_default_timeout(15000)
    yield p
    context.close()


def decode(png: bytes) -> list[tuple[str, str]]:
    return [(r.text, r.format.name) for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_the_card_pages_codes_decode_to_a_token_the_till_takes(live_server, make, phone, page, standin,
                                                                 configure, shot):
    public = live_server.url.replace("127.0.0.1", "localhost")
    configure(PUBLIC_URL=public)
    store = make.store("S001", name="静安旗舰店")
    make.staff("cashier", store, username="till1", password="till-pass-123")
    make.base_rule()
    make.tier("normal")
    member = make.member(openid="o-card-browser", name="韩梅梅")
    token_api = make.token("cashier", store)
    requests.post(f"{live_server.url}/api/v1/transactions", headers={
        "Authorization": f"Bearer {token_api}", "Idempotency-Key": str(uuid.uuid4())},
        json={"store_code": "S001", "member": {"card_no": member.card_no},
              "items": [{"sku": "G", "qty": 1, "unit_price_fen": 30000}]}).raise_for_status()   # 300 points
    requests.post(f"{standin.url}/standin/oauth-user", json={"openid": "o-card-browser"})

    phone.goto(f"{public}/h5/")
    phone.wait_for_selector("[data-testid=member-qr] svg")
    shot(phone, "h5-card-code-zh", full_page=True)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert member.card_no not in phone.inner_text("[data-testid=vcard]")
    qr = decode(phone.locator("[data-testid=member-qr]").screenshot())
    bar = decode(phone.locator("[data-testid=member-barcode]").screenshot())
    assert len(qr) == 1 and qr[0][1] == "QRCode", qr
    assert len(bar) == 1 and bar[0][1] == "Code128", bar
    token = qr[0][0]
    assert token == bar[0][0] and len(token) == 20 and token.isdigit()
    assert phone.inner_text("[data-testid=member-code-digits]").replace(" ", "") == token

    # the page fetches a fresh code by itself (what its timer does every minute)
    fresh = phone.evaluate("fetch('/h5/card/code').then(r => r.json())")
    assert len(fresh["token"]) == 20 and fresh["expires_at"].endswith("Z")

    # the till: a USB scanner types the code into the scan field and presses Enter
    page.goto(f"{live_server.url}/login")
    page.fill("#username", "till1")
    page.fill("#password", "till-pass-123")
    page.click("button[type=submit]")
    page.wait_for_url("**/cashier/")
    page.fill("[data-testid=scan-field]", token)
    page.press("[data-testid=scan-field]", "Enter")
    page.wait_for_selector("[data-testid=presence-ok]")
    assert "韩梅梅" in page.inner_text("[data-testid=member-box]")
    rows = page.locator("tr.line")
    rows.nth(0).locator("[name=sku]").fill("TEA-001")
    rows.nth(0).locator("[name=price]").fill("18.00")
    page.fill("#points_to_use", "100")
    shot(page, "till-member-code")
    page.click("#ring-up")
    page.wait_for_selector("[data-testid=receipt]")
    assert "100" in page.inner_text("[data-testid=receipt]")
    db.session.expire_all()
    assert ledger.balance(db.session, member.id, "points") == 300 - 100 + 17    # 17 yuan paid after 1 yuan of points


def test_a_cashier_sends_a_one_time_code_and_the_sale_spends_with_it(live_server, make, page, shot):
    from sqlalchemy import select

    from wxcrm.messages.models import OutboxMessage
    store = make.store("S001", name="静安旗舰店")
    make.staff("cashier", store, username="till2", password="till-pass-123")
    make.base_rule()
    member = make.member(name="李雷")
    token_api = make.token("cashier", store)
    requests.post(f"{live_server.url}/api/v1/transactions", headers={
        "Authorization": f"Bearer {token_api}", "Idempotency-Key": str(uuid.uuid4())},
        json={"store_code": "S001", "member": {"card_no": member.card_no},
              "items": [{"sku": "G", "qty": 1, "unit_price_fen": 30000}]}).raise_for_status()
    page.goto(f"{live_server.url}/login")
    page.fill("#username", "till2")
    page.fill("#password", "till-pass-123")
    page.click("button[type=submit]")
    page.wait_for_url("**/cashier/")
    page.fill("[data-testid=scan-field]", member.card_no)
    page.press("[data-testid=scan-field]", "Enter")
    page.wait_for_selector("[data-testid=send-presence]")
    page.click("[data-testid=send-presence]")
    page.wait_for_selector(".flash.success")
    assert "一次性验证码" in page.inner_text(".flash.success") or "one-time code" in page.inner_text(".flash.success")
    shot(page, "till-presence-code-sent")
    db.session.expire_all()
    code = db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "presence_code")).one() \
        .payload["source_fields"]["code"]
    rows = page.locator("tr.line")
    rows.nth(0).locator("[name=sku]").fill("TEA-001")
    rows.nth(0).locator("[name=price]").fill("18.00")
    page.fill("#points_to_use", "50")
    page.fill("[data-testid=presence-code]", code)
    page.click("#ring-up")
    page.wait_for_selector("[data-testid=receipt]")
    db.session.expire_all()
    assert ledger.balance(db.session, member.id, "points") == 300 - 50 + 17


def test_the_store_poster_renders_in_the_console_and_its_qr_decodes(live_server, make, page, standin, shot):
    from wxcrm.cards import store_qr
    store = make.store("S001", name="静安旗舰店")
    make.staff("admin", username="boss", password="boss-pass-123")
    page.goto(f"{live_server.url}/login")
    page.fill("#username", "boss")
    page.fill("#password", "boss-pass-123")
    page.click("button[type=submit]")
    page.wait_for_url("**/console/")
    page.goto(f"{live_server.url}/console/stores")
    page.click("[data-testid=store-qr-S001]")
    page.click("[data-testid=create-qr]")
    page.wait_for_selector("[data-testid=poster] svg")
    shot(page, "console-store-poster", full_page=True)
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(page.locator("[data-testid=poster]").screenshot())))
    db.session.expire_all()
    assert found.text == store_qr.store_qr(db.session, store).qr_url


def test_a_customer_scans_a_receipt_and_claims_its_points_on_the_phone(live_server, make, phone, standin,
                                                                      configure, shot):
    public = live_server.url.replace("127.0.0.1", "localhost")
    configure(PUBLIC_URL=public)
    store = make.store("S001", name="静安旗舰店")
    make.base_rule()
    member = make.member(openid="o-claim-browser", name="李雷")
    token_api = make.token("cashier", store)
    sale = requests.post(f"{live_server.url}/api/v1/transactions", headers={
        "Authorization": f"Bearer {token_api}", "Idempotency-Key": str(uuid.uuid4())},
        json={"store_code": "S001", "items": [{"sku": "G", "qty": 1, "unit_price_fen": 4200}]}).json()
    requests.post(f"{standin.url}/standin/oauth-user", json={"openid": "o-claim-browser"})
    phone.goto(sale["claim_qr_url"])
    phone.wait_for_selector("[data-testid=claim-button]")
    shot(phone, "h5-claim-zh", full_page=True)
    phone.click("[data-testid=claim-button]")
    phone.wait_for_selector("[data-testid=claim-done]")
    assert "42" in phone.inner_text("[data-testid=claim-done]")
    shot(phone, "h5-claim-done-zh", full_page=True)
    db.session.expire_all()
    assert ledger.balance(db.session, member.id, "points") == 42
    phone.goto(f"{public}/h5/card/lost")
    phone.check("[data-testid=confirm]")
    phone.click("[data-testid=freeze]")
    phone.wait_for_selector("[data-testid=frozen-note]")
    shot(phone, "h5-card-frozen-zh", full_page=True)
    phone.goto(f"{public}/h5/")
    phone.wait_for_selector("[data-testid=card-frozen]")
    assert phone.locator("[data-testid=member-qr]").count() == 0


def _login(page, url, username, password, lands):
    page.goto(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"**/{lands}/")


def test_a_follower_binds_the_membership_they_had_on_the_phone(live_server, make, phone, standin, configure, shot):
    """Item 5 as the customer does it: the card page offers binding; the phone, the texted
    code, and the card page then shows the membership enrolled at the till."""
    from sqlalchemy import select

    from wxcrm.messages.models import OutboxMessage
    public = live_server.url.replace("127.0.0.1", "localhost")
    configure(PUBLIC_URL=public)
    make.store("S001", name="静安旗舰店")
    at_till = make.member(phone="13912345678", name="韩梅梅")
    make.member(openid="o-bind-browser", phone=None)
    requests.post(f"{standin.url}/standin/oauth-user", json={"openid": "o-bind-browser"})
    phone.goto(f"{public}/h5/")
    phone.click("[data-testid=bind-link]")
    phone.fill("[data-testid=bind-phone]", "13912345678")
    phone.click("[data-testid=bind-send]")
    phone.wait_for_selector("[data-testid=bind-code]")
    shot(phone, "h5-bind-code-sent-zh", full_page=True)
    db.session.expire_all()
    code = db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "verify_phone")
                              .order_by(OutboxMessage.id.desc())).first().payload["source_fields"]["code"]
    phone.fill("[data-testid=bind-code]", code)
    phone.click("[data-testid=bind-submit]")
    phone.wait_for_selector("[data-testid=member-qr] svg")
    assert at_till.card_no[-4:] in phone.inner_text("[data-testid=vcard]")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(phone, "h5-card-after-bind-zh", full_page=True)


def test_a_cashier_reports_a_card_lost_and_issues_a_new_number_at_the_till(live_server, make, page, shot):
    """Item 4 at the till page: freeze at once, then a new number; the old one is refused."""
    store = make.store("S001", name="静安旗舰店")
    make.staff("cashier", store, username="till3", password="till-pass-123")
    member = make.member(name="王芳")
    old = member.card_no
    _login(page, live_server.url, "till3", "till-pass-123", "cashier")
    page.fill("[data-testid=scan-field]", old)
    page.press("[data-testid=scan-field]", "Enter")
    page.click("[data-testid=card-actions] summary")
    page.fill("[data-testid=card-reason]", "顾客手机丢失")
    page.click("[data-testid=report-lost]")
    page.wait_for_selector("[data-testid=till-card-frozen]")
    shot(page, "till-card-frozen", full_page=True)
    page.fill("[data-testid=card-reason]", "顾客持身份证补卡")
    page.click("[data-testid=replace-card]")
    page.wait_for_selector(".flash.success")
    db.session.expire_all()
    assert member.card_no != old and member.card_no in page.inner_text(".flash.success")
    shot(page, "till-card-replaced", full_page=True)
    page.fill("[data-testid=scan-field]", old)
    page.press("[data-testid=scan-field]", "Enter")
    page.wait_for_selector(".flash")
    assert "换新卡" in page.inner_text(".flash")


def test_the_store_posters_png_and_svg_download_and_their_qr_decodes(live_server, make, page, standin, shot):
    """Item 6: the poster as a marketer prints it, PNG and SVG, each with a QR that decodes
    to the store's WeChat QR code, the store's name and the Chinese and English words."""
    from wxcrm.cards import store_qr
    store = make.store("S002", name="徐汇店")
    make.staff("admin", username="boss2", password="boss-pass-123")
    _login(page, live_server.url, "boss2", "boss-pass-123", "console")
    page.goto(f"{live_server.url}/console/stores")
    page.click("[data-testid=store-qr-S002]")
    page.click("[data-testid=create-qr]")
    page.wait_for_selector("[data-testid=poster] svg")
    db.session.expire_all()
    url = store_qr.store_qr(db.session, store).qr_url
    png_href = live_server.url + page.get_attribute("[data-testid=poster-png]", "href")
    svg_href = live_server.url + page.get_attribute("[data-testid=poster-svg]", "href")
    png = page.request.get(png_href)
    assert png.headers["content-type"] == "image/png"
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.body())))
    assert found.text == url
    svg = page.request.get(svg_href)
    assert svg.headers["content-type"].startswith("image/svg+xml") and "徐汇店" in svg.text()
    page.set_content(f"<html><body style='margin:0'>{svg.text()}</body></html>")    # as a browser draws it
    [found] = zxingcpp.read_barcodes(Image.open(shot(page, "console-store-poster-svg", full_page=True)))
    assert found.text == url
    with open(ARTIFACTS / "console-store-poster.png", "wb") as f:
        f.write(png.body())
