"""The rule console: a marketer lists, writes (form or JSON), pauses, simulates and backtests
rules; the form's fields turn into the rule JSON and back."""
from __future__ import annotations

import html
import io
import json
import re
from datetime import timedelta

import pytest
from werkzeug.datastructures import MultiDict

from wxcrm.extensions import db
from wxcrm.rules import storage as rules
from wxcrm.rules.backtest import run_backtest
from wxcrm.rules.catalogue import TEMPLATES
from wxcrm.rules.models import Rule
from wxcrm.timeutil import business_date
from wxcrm.web.console import rule_form
from wxcrm.web.console.rule_form import (
    NotRepresentable,
    form_to_rule,
    parse_rule_post,
    rule_to_form,
    simulation_from_post,
    simulation_request,
)

BASE = {"name": "基础积分", "name_en": "Base points", "event": "purchase", "status": "draft", "priority": 0,
        "exclusive_group": "base_earn", "actions": [{"type": "earn_points", "rate": 1}]}


def login(client, make, role="marketer"):
    person = make.staff(role)
    client.post("/login", data={"username": person.username, "password": "password123"})
    return person


def page(response) -> str:
    return response.get_data(as_text=True)


def form_fields(rule: dict) -> MultiDict:
    """What the editor page posts for a rule: its form, field by field (as a browser sends it)."""
    form = rule_to_form(rule)
    data = MultiDict({"name": form.name, "name_en": form.name_en, "description": form.description,
                      "event": form.event, "status": form.status, "priority": form.priority,
                      "combinator": form.combinator, "valid_from": form.valid_from, "valid_to": form.valid_to,
                      "groups": form.groups, "per_day": form.per_day, "per_month": form.per_month,
                      "lifetime": form.lifetime, "budget_points": form.budget_points,
                      "budget_yuan": form.budget_yuan, "exclusive_group": form.exclusive_group, "mode": "form"})
    if form.stop:
        data["stop"] = "on"
    for key in ("weekdays", "stores", "store_kinds", "tiers"):
        for value in getattr(form, key):
            data.add(key, str(value))
    for f, t in form.hours:
        data.add("hour_from", f)
        data.add("hour_to", t)
    for row in form.conditions:
        for name, value in (("cond_fact", row.fact), ("cond_op", row.op), ("cond_value", row.value),
                            ("cond_window", row.window), ("cond_items_by", row.items_by), ("cond_items", row.items)):
            data.add(name, value)
    for row in form.actions:
        data.add("act_type", row.type)
        # a browser posts every type's fields for every row; the other types' are empty
        for kind, fields in rule_form.ACTION_FIELDS.items():
            for name, param_kind in fields:
                if param_kind == "selector":
                    data.add(f"act_{kind}_on_by", row.params.get("on_by", "") if kind == row.type else "")
                    data.add(f"act_{kind}_on", row.params.get("on", "") if kind == row.type else "")
                else:
                    data.add(f"act_{kind}_{name}", row.params.get(name, "") if kind == row.type else "")
    return data


# ---------------------------------------------------------------- form <-> JSON, alone

EVERY_FIELD = {
    "name": "周末茶饮满减", "name_en": "Weekend tea deal", "description": "for the spring push", "event": "purchase",
    "status": "draft", "priority": 70,
    "conditions": {"any": [
        {"fact": "basket.total_fen", "op": ">=", "value": 10050},
        {"fact": "item.qty", "op": ">=", "value": 2, "items": {"categories": ["tea", "coffee"]}},
        {"fact": "member.spend_fen", "op": "between", "value": [0, 500000], "window_days": 90},
        {"fact": "member.birthday_this_month", "op": "==", "value": True},
        {"fact": "member.gender", "op": "in", "value": ["female", "unknown"]},
        {"fact": "time.date", "op": "!=", "value": "2026-02-14"},
    ]},
    "actions": [{"type": "earn_points", "rate": 2, "per_yuan": 1, "on": {"skus": ["TEA-001"]}, "pending_days": 7},
                {"type": "discount_fixed", "amount_fen": 500, "on": {"categories": ["tea"]}, "per_item": True},
                {"type": "issue_coupon", "template": "WELCOME", "count": 2}],
    "validity": {"from": "2026-03-01", "to": "2026-05-31", "weekdays": [6, 7],
                 "hours": [{"from": "10:00", "to": "14:00"}, {"from": "18:00", "to": "24:00"}]},
    "scope": {"stores": ["S001", "S002"], "store_kinds": ["direct"], "tiers": ["gold"], "groups": ["G-ACME"]},
    "stop": True, "exclusive_group": "spring",
    "limits": {"per_day": 1, "per_month": 4, "lifetime": 10, "budget_points": 100000, "budget_fen": 2000000},
}


def test_every_field_of_the_form_round_trips_through_the_posted_fields():
    _, rule, problems = parse_rule_post(form_fields(EVERY_FIELD))
    assert problems == []
    assert rule == EVERY_FIELD


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_every_catalogue_template_round_trips_through_the_form(key):
    for template_rule in TEMPLATES[key].rules():
        rule, problems = form_to_rule(rule_to_form(template_rule))
        assert problems == []
        assert rule == template_rule


def test_the_form_shows_money_in_yuan_and_stores_fen():
    form = rule_to_form({**BASE, "conditions": {"fact": "basket.total_fen", "op": ">=", "value": 19990},
                         "limits": {"budget_fen": 100000}})
    assert form.conditions[0].value == "199.90" and form.budget_yuan == "1000.00"
    form.conditions[0].value = "200"
    rule, _ = form_to_rule(form)
    assert rule["conditions"]["value"] == 20000


def test_lists_take_chinese_commas_and_yes_no_in_chinese():
    data = form_fields(BASE)
    for name, value in (("cond_fact", "item.category"), ("cond_op", "in"), ("cond_value", "tea，coffee、beans"),
                        ("cond_window", ""), ("cond_items_by", ""), ("cond_items", ""),
                        ("cond_fact", "member.first_purchase"), ("cond_op", "=="), ("cond_value", "是"),
                        ("cond_window", ""), ("cond_items_by", ""), ("cond_items", "")):
        data.add(name, value)
    _, rule, problems = parse_rule_post(data)
    assert problems == []
    assert rule["conditions"] == {"all": [{"fact": "item.category", "op": "in", "value": ["tea", "coffee", "beans"]},
                                          {"fact": "member.first_purchase", "op": "==", "value": True}]}


def test_bad_numbers_are_reported_with_the_schema_path_of_their_row():
    data = form_fields({**BASE, "conditions": {"all": [{"fact": "basket.total_fen", "op": ">=", "value": 100},
                                                       {"fact": "member.age", "op": "between", "value": [18, 30]}]}})
    data.setlist("cond_value", ["lots", "18"])
    data.setlist("act_earn_points_rate", ["two"])
    data["per_day"] = "1.5"
    _, _, problems = parse_rule_post(data)
    assert {(p.path, p.message) for p in problems} == {
        ("conditions.all[0].value", "must be an amount in yuan, such as 100 or 99.50"),
        ("conditions.all[1].value", "must be two values: lowest, highest"),
        ("actions[0].rate", "must be a whole number"),
        ("limits.per_day", "must be a whole number"),
    }


def test_blank_rows_are_dropped_and_a_single_condition_is_a_bare_test():
    data = form_fields(BASE)
    for fact in ("", "basket.total_fen"):
        for name, value in (("cond_fact", fact), ("cond_op", ">="), ("cond_value", "50" if fact else ""),
                            ("cond_window", ""), ("cond_items_by", ""), ("cond_items", "")):
            data.add(name, value)
    form, rule, problems = parse_rule_post(data)
    assert problems == []
    assert len(form.conditions) == 1 and form.condition_path(0) == "conditions"
    assert rule["conditions"] == {"fact": "basket.total_fen", "op": ">=", "value": 5000}


@pytest.mark.parametrize("rule", [
    {**BASE, "conditions": {"not": {"fact": "member.tier", "op": "==", "value": "gold"}}},
    {**BASE, "conditions": {"all": [{"any": [{"fact": "member.tier", "op": "==", "value": "gold"}]}]}},
    {**BASE, "actions": [{"type": "earn_points", "rate": 1, "on": {"exclude_categories": ["tobacco"]}}]},
    {**BASE, "actions": [{"type": "send_message", "template": "hi", "data": {"k": "v"}}]},
])
def test_rules_the_form_cannot_show_are_refused_so_they_open_as_json(rule):
    with pytest.raises(NotRepresentable):
        rule_to_form(rule)


def test_the_form_knows_every_parameter_of_the_action_catalogue():
    assert rule_form.check_catalogue_coverage() == []


def test_a_simulated_basket_is_typed_in_yuan():
    data = MultiDict([("sim_sku", "TEA-001"), ("sim_category", "tea"), ("sim_qty", "2"), ("sim_price", "18.5"),
                      ("sim_sku", ""), ("sim_category", ""), ("sim_qty", "1"), ("sim_price", ""),
                      ("sim_store", "S001"), ("sim_at", "2026-05-20T12:30"), ("sim_tier", "gold"),
                      ("sim_birthday", "1990-05-02"), ("sim_spend", "1200")])
    request, problems = simulation_request(simulation_from_post(data), event="purchase", windows=(365,))
    assert problems == []
    assert request["items"] == [{"sku": "TEA-001", "category": "tea", "qty": 2, "unit_price_fen": 1850}]
    assert request["member"]["tier"] == "gold" and request["member"]["spend_in_window_fen"] == {"365": 120000}
    assert request["at"].isoformat() == "2026-05-20T12:30:00"


# ---------------------------------------------------------------- pages

def test_status_buttons_need_a_csrf_token(app, client, make):
    login(client, make)
    rule = rules.create_rule(db.session, BASE)
    db.session.commit()
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert client.post(f"/console/rules/{rule.id}/status", data={"status": "active"}).status_code == 400
        assert 'name="csrf_token"' in page(client.get(f"/console/rules/{rule.id}"))
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    db.session.expire_all()
    assert db.session.get(Rule, rule.id).status == "draft"


def test_a_cashier_cannot_open_the_rule_console(client, make):
    login(client, make, "cashier")
    assert client.get("/console/rules/").status_code == 403
    assert client.get("/console/rules/new").status_code == 403
    assert client.post("/console/rules/new", data=form_fields(BASE)).status_code == 403
    assert client.get("/console/rules/backtest").status_code == 403
    assert db.session.query(Rule).count() == 0


def test_a_marketer_creates_a_rule_through_the_form(client, make):
    login(client, make)
    data = form_fields({**BASE, "name": "茶饮双倍积分", "name_en": "Double points on tea", "priority": 20,
                        "conditions": {"fact": "item.category", "op": "in", "value": ["tea"]},
                        "actions": [{"type": "earn_points", "rate": 2}], "validity": {"weekdays": [3]}})
    r = client.post("/console/rules/new", data=data)
    assert r.status_code == 302, page(r)
    rule = db.session.scalars(db.select(Rule)).one()
    assert rules.rule_json(rule) == {
        "id": rule.id, "version": 1, "status": "draft", "name": "茶饮双倍积分", "name_en": "Double points on tea",
        "event": "purchase", "priority": 20, "exclusive_group": "base_earn",
        "conditions": {"fact": "item.category", "op": "in", "value": ["tea"]},
        "actions": [{"type": "earn_points", "rate": 2}], "validity": {"weekdays": [3]}}
    shown = page(client.get(r.headers["Location"]))
    assert "茶饮双倍积分" in shown and "已保存" in shown


def test_editing_makes_version_2_and_the_history_lists_both(client, make):
    login(client, make)
    rule = rules.create_rule(db.session, BASE)
    db.session.commit()
    same = client.post(f"/console/rules/{rule.id}", data=form_fields(BASE))
    assert same.status_code == 302 and "没有变化" in page(client.get(same.headers["Location"]))
    r = client.post(f"/console/rules/{rule.id}", data=form_fields({**BASE, "priority": 5}))
    assert r.status_code == 302
    db.session.expire_all()
    stored = db.session.get(Rule, rule.id)
    assert stored.current_version == 2 and rules.rule_json(stored)["priority"] == 5
    shown = page(client.get(f"/console/rules/{rule.id}?lang=en"))
    assert "已保存为第 2 版" in shown  # the message was written in the language of the save
    history = shown[shown.index('data-testid="history"'):]
    assert "v2" in history and "v1" in history and "current" in history


def test_pause_and_activate_from_the_list(client, make):
    login(client, make)
    rule = rules.create_rule(db.session, BASE)
    db.session.commit()
    listing = page(client.get("/console/rules/"))
    assert "基础积分" in listing and f'data-testid="activate-{rule.id}"' in listing
    r = client.post(f"/console/rules/{rule.id}/status", data={"status": "active", "next": "/console/rules/?status=active"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/console/rules/?status=active")
    db.session.expire_all()
    assert db.session.get(Rule, rule.id).status == "active"
    assert f'data-testid="pause-{rule.id}"' in page(client.get("/console/rules/"))
    client.post(f"/console/rules/{rule.id}/status", data={"status": "paused"})
    db.session.expire_all()
    assert db.session.get(Rule, rule.id).status == "paused"
    client.post(f"/console/rules/{rule.id}/status", data={"status": "archived"})
    listed = re.compile(r'class="rule-name" href="[^"]+">基础积分<')
    assert not listed.search(page(client.get("/console/rules/")))
    assert listed.search(page(client.get("/console/rules/?status=archived")))


def test_invalid_input_is_shown_with_its_path_and_nothing_is_saved(client, make):
    login(client, make)
    data = form_fields({**BASE, "event": "birthday", "actions": [{"type": "earn_points", "rate": 1}],
                        "limits": {"per_day": 5, "per_month": 2}})
    r = client.post("/console/rules/new?lang=en", data=data)
    assert r.status_code == 422
    shown = page(r)
    assert "<code>actions[0].type</code>" in shown and "cannot run at a &#39;Birthday (daily)&#39; event" in shown
    assert "<code>limits.per_day</code> must not exceed the limit per month" in shown
    assert db.session.query(Rule).count() == 0
    # the form comes back as typed, the error beside its row
    assert 'value="5"' in shown and 'class="rule-row act-row has-error"' in shown


def test_json_mode_round_trips_and_saves(client, make):
    login(client, make)
    data = form_fields(EVERY_FIELD)
    data["do"] = "to_json"
    r = client.post("/console/rules/new", data=data)
    shown = page(r)
    text = re.search(r'<textarea name="rule_json"[^>]*>(.*?)</textarea>', shown, re.DOTALL).group(1)
    assert json.loads(html.unescape(text)) == EVERY_FIELD
    back = client.post("/console/rules/new", data={"mode": "json", "do": "to_form", "rule_json": html.unescape(text)})
    assert 'name="cond_fact"' in page(back) and 'value="100.50"' in page(back)
    # a rule the form cannot show stays JSON and saves from there
    nested = {**BASE, "conditions": {"not": {"fact": "member.tier", "op": "==", "value": "gold"}}}
    stay = client.post("/console/rules/new", data={"mode": "json", "do": "to_form", "rule_json": json.dumps(nested)})
    assert 'data-testid="json-note"' in page(stay) and 'name="rule_json"' in page(stay)
    saved = client.post("/console/rules/new", data={"mode": "json", "do": "save", "rule_json": json.dumps(nested)})
    assert saved.status_code == 302
    rule = db.session.scalars(db.select(Rule)).one()
    assert rules.rule_json(rule)["conditions"] == nested["conditions"]
    opened = page(client.get(f"/console/rules/{rule.id}"))
    assert 'data-testid="json-note"' in opened and 'name="rule_json"' in opened
    broken = client.post(f"/console/rules/{rule.id}", data={"mode": "json", "do": "save", "rule_json": "{oops"})
    assert broken.status_code == 422 and "JSON" in page(broken)


def test_simulate_shows_the_points_and_every_rules_reason(client, make):
    make.store("S001")
    login(client, make)
    rules.create_rule(db.session, {**BASE, "status": "active"})
    db.session.commit()
    draft = {"name": "茶饮双倍积分", "name_en": "Double points on tea", "event": "purchase", "priority": 20,
             "exclusive_group": "base_earn", "conditions": {"fact": "item.category", "op": "in", "value": ["tea"]},
             "actions": [{"type": "earn_points", "rate": 2}]}
    data = form_fields(draft)
    data.update({"do": "simulate", "sim_store": "S001", "sim_at": "2026-05-20T12:30", "sim_payment": "cash"})
    for name, value in (("sim_sku", "TEA-001"), ("sim_category", "tea"), ("sim_qty", "2"), ("sim_price", "18.00"),
                        ("sim_sku", "BAK-001"), ("sim_category", "bakery"), ("sim_qty", "1"), ("sim_price", "12")):
        data.add(name, value)
    r = client.post("/console/rules/new?lang=en", data=data)
    assert r.status_code == 200
    shown = page(r)
    live = re.search(r'data-testid="live-points">(\d+)', shown).group(1)
    with_draft = re.search(r'data-testid="draft-points">(\d+)', shown).group(1)
    assert (live, with_draft) == ("48", "96")
    assert "Double points on tea: 48.00 yuan spent at 2 points per yuan, +96 points" in shown
    assert "Lost to a better rule" in shown and "lost_exclusive" not in shown  # outcomes in words, with reasons
    assert "is worth more in group base_earn" in shown
    assert "Exclusive overlap" in shown  # the two rules of one group are a conflict worth seeing
    assert db.session.query(Rule).count() == 1  # simulating saves nothing
    # a described member and a basket with a bad price: the row is named
    data.setlist("sim_price", ["lots", "12"])
    bad = client.post("/console/rules/new?lang=en", data=data)
    assert bad.status_code == 422 and "must be an amount in yuan" in page(bad)


def test_simulate_uses_a_real_card_and_says_why_a_rule_did_not_match(client, make):
    make.store("S001")
    member = make.member(name="韩梅梅")
    login(client, make)
    stored = rules.create_rule(db.session, {**BASE, "name": "大额积分", "status": "active",
                                            "conditions": {"fact": "basket.total_fen", "op": ">=", "value": 50000}})
    db.session.commit()
    data = form_fields(rules.rule_json(stored))
    data.update({"do": "simulate", "sim_store": "S001", "sim_card": member.card_no, "sim_at": "2026-05-20T12:30",
                 "sim_sku": "TEA-001", "sim_category": "tea", "sim_qty": "1", "sim_price": "18"})
    shown = page(client.post(f"/console/rules/{stored.id}", data=data))
    assert re.search(r'data-testid="live-points">(\d+)', shown).group(1) == "0"
    assert "条件不满足" in shown and "basket.total_fen" in shown  # the reason names the failing test
    assert "购物篮总额 至少 500.00 元 不成立（实际为 18.00 元）" in shown  # in Chinese, in yuan, on the zh page
    english = html.unescape(page(client.post(f"/console/rules/{stored.id}?lang=en", data=data)))
    assert "conditions: basket.total_fen >= 50000 is false (basket.total_fen is 1800)" in english
    assert "购物篮总额 至少" not in english
    data["sim_card"] = "no-such-card"
    assert "no-such-card" in page(client.post(f"/console/rules/{stored.id}", data=data))


def test_the_editor_shows_conflicts_with_the_live_rules(client, make):
    login(client, make)
    rules.create_rule(db.session, {**BASE, "status": "active"})
    db.session.commit()
    shown = page(client.get("/console/rules/new?template=points_per_amount_spent"))
    assert 'data-testid="conflicts"' in shown and "base_earn" in shown
    assert "互斥组 base_earn 只给其中更优的一个" in shown  # the zh page says it in Chinese


def test_new_from_template_and_duplicate_open_the_editor_prefilled(client, make):
    login(client, make)
    shown = page(client.get("/console/rules/new?template=birthday_extra_points"))
    assert 'value="生日当月双倍积分"' in shown and 'value="member.birthday_this_month" data-type="bool" selected' in shown
    r = client.post("/console/rules/templates/points_per_tier_and_store")
    assert r.status_code == 302
    assert db.session.query(Rule).filter_by(status="draft").count() == len(TEMPLATES["points_per_tier_and_store"].rules())
    first = db.session.scalars(db.select(Rule).order_by(Rule.id)).first()
    assert "（副本）" in page(client.get(f"/console/rules/new?copy={first.id}"))


def test_export_and_import_and_import_errors_name_their_path(client, make):
    rules.create_rule(db.session, BASE)
    db.session.commit()
    login(client, make, "marketer")
    exported = client.get("/console/rules/export")
    assert exported.headers["Content-Disposition"].startswith("attachment")
    body = json.loads(exported.get_data(as_text=True))
    assert body["rules"][0]["name"] == "基础积分"
    assert client.post("/console/rules/import", data={"json": "[]"}).status_code == 403  # admins only
    client.post("/logout")
    login(client, make, "admin")
    bad = [{**BASE, "name": "x"}, {**BASE, "actions": [{"type": "earn_points", "rate": 0}]}]
    r = client.post("/console/rules/import", data={"file": (io.BytesIO(json.dumps(bad).encode()), "rules.json")},
                    content_type="multipart/form-data")
    assert r.status_code == 422 and "<code>[1].actions[0].rate</code>" in page(r)
    assert db.session.query(Rule).count() == 1
    good = [{**BASE, "name": "新规则"}]
    r = client.post("/console/rules/import", data={"json": json.dumps({"rules": good})})
    assert r.status_code == 302 and db.session.query(Rule).count() == 2


def test_backtest_page_reports_figures_over_the_seeded_shop(app, client, make, settings):
    result = app.test_cli_runner().invoke(args=["wxcrm", "seed-demo", "--members", "40", "--days", "20"])
    assert result.exit_code == 0, result.output
    client.post("/login", data={"username": "marketer", "password": "marketer-demo-2026"})
    form = page(client.get("/console/rules/backtest"))
    assert "可能需要一些时间" in form
    r = client.post("/console/rules/backtest", data={"days": "30"})
    assert r.status_code == 200
    shown = page(r)
    live_points = int(re.search(r'data-testid="live-points">([\d,]+)', shown).group(1).replace(",", ""))
    assert live_points > 0 and 'data-testid="per-rule"' in shown
    report = run_backtest(db.session, settings, days=30, today=business_date(settings.tz))
    assert live_points == report["live"]["points"]
    from wxcrm.topups.service import topup_events
    with_topups = run_backtest(db.session, settings, days=30, today=business_date(settings.tz),
                               topups=topup_events(db.session, since=business_date(settings.tz) - timedelta(days=29)))
    assert with_topups["topups"] > 0                          # the demo's stored-value customers top up
    shown_bonus = re.search(r'data-testid="live-topup-bonus">¥([\d.,]+)', shown).group(1)
    fen = with_topups["live"]["stored_value_fen"]
    assert shown_bonus == f"{fen // 100}.{fen % 100:02d}" and fen > 0
    draft = db.session.scalars(db.select(Rule).where(Rule.status == "draft")).first()
    one = client.post("/console/rules/backtest?lang=en", data={"days": "7", "rule_id": str(draft.id)})
    assert one.status_code == 200 and "Per rule" in page(one)
    # from the editor: the rule as edited (not saved) beside the live rules
    data = form_fields({**BASE, "name": "全场三倍积分", "priority": 90, "actions": [{"type": "earn_points", "rate": 3}]})
    data.update({"do": "backtest", "days": "30"})
    edited = page(client.post("/console/rules/new", data=data))
    assert "全场三倍积分" in edited and 'data-testid="per-rule"' in edited
    draft_points = int(re.search(r'data-testid="draft-points">([\d,]+)', edited).group(1).replace(",", ""))
    assert draft_points > live_points
    assert db.session.query(Rule).filter(Rule.name == "全场三倍积分").count() == 0  # a backtest writes nothing


def test_every_page_reads_in_chinese_and_in_english(client, make):
    make.store("S001")
    login(client, make)
    rule = rules.create_rule(db.session, BASE)
    db.session.commit()
    zh = {url: page(client.get(url)) for url in ("/console/rules/", f"/console/rules/{rule.id}",
                                                 "/console/rules/new", "/console/rules/simulate",
                                                 "/console/rules/backtest")}
    assert "规则" in zh["/console/rules/"] and "从模板新建" in zh["/console/rules/"]
    assert "这笔购物能得多少" in zh[f"/console/rules/{rule.id}"] and "版本" in zh[f"/console/rules/{rule.id}"]
    assert "按消费金额积分" in zh["/console/rules/new"]
    en = {url: page(client.get(url + ("&" if "?" in url else "?") + "lang=en")) for url in zh}
    assert "New from a template" in en["/console/rules/"]
    assert "What would this basket earn?" in en[f"/console/rules/{rule.id}"]
    assert "earn points per amount spent" in en["/console/rules/new"]
    assert "Simulate a basket" in en["/console/rules/simulate"] and "Run backtest" in en["/console/rules/backtest"]


def test_simulating_a_first_top_up_rule(client, make):
    """The `topup` simulator takes the amount and whether it is the member's first top-up, so a
    "first top-up only" rule can be tried before it goes live."""
    from wxcrm.rules.catalogue import TEMPLATES
    make.store("S001")
    login(client, make)
    draft = TEMPLATES["first_topup_points"].rules(points=200)[0]
    data = form_fields(draft)
    data.update({"do": "simulate", "sim_store": "S001", "sim_at": "2026-05-20T12:30", "sim_payment": "cash",
                 "sim_topup": "500"})
    later = page(client.post("/console/rules/new?lang=en", data=data))
    assert 'data-testid="sim-first-topup"' in later
    assert re.search(r'data-testid="draft-points">(\d+)', later).group(1) == "0"
    data["sim_first_topup"] = "on"
    first = page(client.post("/console/rules/new?lang=en", data=data))
    assert re.search(r'data-testid="draft-points">(\d+)', first).group(1) == "200"
    assert 'data-testid="sim-first-topup" checked' in first
