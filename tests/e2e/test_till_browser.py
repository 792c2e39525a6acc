"""A cashier signs in, rings up a member's purchase on the till page and sees the receipt."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_a_cashier_rings_up_a_purchase_and_sees_the_receipt(live_server, make, page, shot):
    store = make.store("S001", name="静安旗舰店")
    make.staff("cashier", store, username="till1", password="till-pass-123")
    make.base_rule()
    member = make.member(name="韩梅梅")

    page.goto(f"{live_server.url}/login")
    page.fill("#username", "till1")
    page.fill("#password", "till-pass-123")
    shot(page, "login")
    page.click("button[type=submit]")
    page.wait_for_url("**/cashier/")

    page.fill("#card_no", member.card_no)
    page.click("text=查询")
    page.wait_for_selector("[data-testid=member-box]")
    assert "韩梅梅" in page.inner_text("[data-testid=member-box]")

    rows = page.locator("tr.line")
    rows.nth(0).locator("[name=sku]").fill("TEA-001")
    rows.nth(0).locator("[name=qty]").fill("2")
    rows.nth(0).locator("[name=price]").fill("18.00")
    page.click("#add-line")
    rows.nth(1).locator("[name=sku]").fill("BAK-002")
    rows.nth(1).locator("[name=price]").fill("16.50")
    assert page.inner_text("#basket-total") == "¥52.50"  # the till adds up as the cashier types
    shot(page, "till")

    page.click("#ring-up")
    page.wait_for_selector("[data-testid=receipt]")
    receipt = page.inner_text("[data-testid=receipt]")
    assert "52.50" in receipt and "+52" in receipt and "积分余额" in receipt and "静安旗舰店" in receipt
    shot(page, "receipt")


def test_the_console_shows_the_overview_to_an_admin(live_server, make, page, shot, app):
    assert app.test_cli_runner().invoke(args=["wxcrm", "seed-demo", "--members", "60", "--days", "30"]).exit_code == 0
    page.goto(f"{live_server.url}/login")
    page.fill("#username", "admin")
    page.fill("#password", "admin-demo-2026")
    page.click("button[type=submit]")
    page.wait_for_url("**/console/")
    assert "概览" in page.inner_text("h1")
    shot(page, "console-home", full_page=True)
    page.click("text=English")
    page.wait_for_selector("text=Overview")
    page.goto(f"{live_server.url}/console/members")
    shot(page, "console-members")
