"""A marketer writes a rule from a template in the console, tries a basket on it, and saves it."""
from __future__ import annotations

import re

import pytest

from wxcrm.extensions import db
from wxcrm.rules import storage as rules
from wxcrm.rules.models import Rule

pytestmark = pytest.mark.e2e


def test_a_marketer_writes_a_rule_from_a_template_simulates_a_basket_and_saves(live_server, make, page, shot):
    make.store("S001", name="静安旗舰店")
    make.staff("marketer", username="mk1", password="marketer-pass-1")

    page.goto(f"{live_server.url}/login")
    page.fill("#username", "mk1")
    page.fill("#password", "marketer-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/console/")
    page.click("nav >> text=规则")
    page.wait_for_url("**/console/rules/")
    shot(page, "rules-list-empty", full_page=True)

    page.locator(".template-card", has_text="按消费金额积分").get_by_role("link", name="使用").click()
    page.wait_for_url("**/console/rules/new?template=points_per_amount_spent")
    assert page.input_value("#name") == "消费积分"
    page.fill("[name=act_earn_points_rate]", "2")
    page.fill("#name", "消费双倍积分")

    # a condition, added with the page's own button: a basket of at least 30 yuan
    page.click("#add-condition")
    row = page.locator("#cond-rows .cond-row").last
    row.locator(".cond-fact").select_option("basket.total_fen")
    row.locator(".cond-op").select_option(">=")
    row.locator(".cond-value").fill("30")
    assert row.locator(".unit").inner_text() == "元"

    lines = page.locator("#sim-lines tr.basket-line")
    lines.nth(0).locator("[name=sim_sku]").fill("TEA-001")
    lines.nth(0).locator("[name=sim_category]").fill("tea")
    lines.nth(0).locator("[name=sim_qty]").fill("2")
    lines.nth(0).locator("[name=sim_price]").fill("18.00")
    page.click("#sim-add-line")
    lines.nth(1).locator("[name=sim_sku]").fill("BAK-001")
    lines.nth(1).locator("[name=sim_category]").fill("bakery")
    lines.nth(1).locator("[name=sim_price]").fill("12")
    page.click("[data-testid=simulate]")
    page.wait_for_selector("[data-testid=sim-results]")
    assert re.match(r"96\b", page.inner_text("[data-testid=draft-points]"))   # 48 yuan at 2 points a yuan
    assert re.match(r"0\b", page.inner_text("[data-testid=live-points]"))     # nothing is live yet
    assert "消费双倍积分：消费 48.00 元，每元 2 积分，+96 积分" in page.inner_text("[data-testid=effects]")
    # the form came back as typed: the condition row and the new rate are still there
    assert page.locator("#cond-rows .cond-row").count() == 1
    assert page.input_value("[name=act_earn_points_rate]") == "2"
    shot(page, "rules-editor-simulated", full_page=True)

    page.click("[data-testid=save]")
    page.wait_for_url(re.compile(r".*/console/rules/\d+$"))
    assert "已保存" in page.inner_text(".flash")
    shot(page, "rules-editor-saved", full_page=True)

    rule = db.session.scalars(db.select(Rule)).one()
    assert rules.rule_json(rule)["conditions"] == {"fact": "basket.total_fen", "op": ">=", "value": 3000}
    assert rules.rule_json(rule)["actions"] == [{"type": "earn_points", "rate": 2, "per_yuan": 1}]

    page.goto(f"{live_server.url}/console/rules/?lang=en")
    shot(page, "rules-list", full_page=True)
    page.goto(f"{live_server.url}/console/rules/{rule.id}")
    shot(page, "rules-editor-en", full_page=True)
