"""The ready templates the brand asked for: each validates and does what its title says."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from tests.rules.engine.shop import event, member, purchase, run, yuan
from wxcrm.rules.catalogue import TEMPLATES, export_templates
from wxcrm.rules.compiler import compile_rules
from wxcrm.rules.schema import validate_rule


def live(*template_rules: list[dict]) -> list[dict]:
    """Template rules as storage would hold them once a marketer switches them on."""
    rules = []
    for group in template_rules:
        for r in group:
            rules.append({**r, "id": len(rules) + 1, "version": 1, "status": "active"})
    return rules


@pytest.mark.parametrize("key", sorted(TEMPLATES))
def test_every_template_validates_and_compiles_with_names_in_both_languages(key):
    made = TEMPLATES[key].rules()
    assert made, f"{key} makes no rule"
    for r in made:
        validate_rule(r)                     # raises, naming the path, on a bad rule
        assert r["name"] and r.get("name_en") and r["name"] != r["name_en"]
    compiled = compile_rules(live(made))
    assert len(compiled.rules) == len(made) and all(rule.actions for rule in compiled.rules)


def test_templates_can_be_exported_for_the_console():
    assert {t["key"] for t in export_templates()} == set(TEMPLATES)


def test_points_per_amount_spent():
    rules = live(TEMPLATES["points_per_amount_spent"].rules())
    assert run(rules, purchase(12345)).points == 123


def test_birthday_extra_points_double_in_the_birthday_month():
    rules = live(TEMPLATES["points_per_amount_spent"].rules(),
                 TEMPLATES["birthday_extra_points"].rules())
    june_baby = member(birthday=date(1992, 6, 30))
    assert run(rules, purchase(yuan(200), who=june_baby)).points == 400
    assert run(rules, purchase(yuan(200))).points == 200


def test_birthday_month_discount_once_in_the_month():
    rules = live(TEMPLATES["birthday_month_discount"].rules())
    june_baby = member(birthday=date(1992, 6, 30))
    assert run(rules, purchase(yuan(200), who=june_baby)).discount_fen == yuan(20)
    assert run(rules, purchase(yuan(200))).discount_fen == 0


def test_referral_bonus_points_go_to_the_referrer():
    rules = live(TEMPLATES["referral_bonus_points"].rules(points=300))
    assert run(rules, event("referral", who=member(referral_count=4))).points == 300


EXPIRY = live(TEMPLATES["free_renewal_on_spend"].rules(threshold_fen=yuan(1000)),
              TEMPLATES["renew_by_points"].rules(cost_points=1000),
              TEMPLATES["cancel_on_low_spend"].rules(threshold_fen=yuan(1000)),
              TEMPLATES["reset_points_on_expiry"].rules())


def expiry_of(spend_fen: int, points: int):
    return event("membership_expiry", who=member(spend_in_window_fen={365: spend_fen},
                                                   points_balance=points))


def test_free_renewal_when_the_years_spend_reaches_the_threshold():
    kinds = [(e.kind, e.params.get("cost_points")) for e in run(EXPIRY, expiry_of(yuan(1000), 5000)).effects]
    assert kinds == [("renew", 0), ("reset_points", None)]


def test_renewal_by_points_when_spend_missed_but_points_pay():
    kinds = [(e.kind, e.params.get("cost_points")) for e in run(EXPIRY, expiry_of(yuan(999), 1000)).effects]
    assert kinds == [("renew", 1000), ("reset_points", None)]


def test_cancel_membership_when_the_years_spend_misses_it():
    assert [e.kind for e in run(EXPIRY, expiry_of(yuan(999), 999)).effects] == ["cancel", "reset_points"]


def test_points_reset_to_zero_on_the_expiry_date():
    rules = live(TEMPLATES["reset_points_on_expiry"].rules())
    assert [e.kind for e in run(rules, event("membership_expiry")).effects] == ["reset_points"]


def test_double_points_in_a_time_window():
    rules = live(TEMPLATES["points_per_amount_spent"].rules(),
                 TEMPLATES["double_points_time_window"].rules(weekdays=(3,), start="10:00", end="14:00"))
    assert run(rules, purchase(yuan(100), at=datetime(2025, 6, 4, 11, 0))).points == 200
    assert run(rules, purchase(yuan(100), at=datetime(2025, 6, 4, 15, 0))).points == 100


@pytest.mark.parametrize("tier, store, kind, points", [
    ("silver", "SH009", "direct", 100),      # direct store rate
    ("silver", "SZ001", "franchise", 50),    # franchise: 1 point per 2 yuan
    ("gold", "SZ001", "franchise", 200),     # the gold rate is the best this member has
    ("platinum", "SH001", "direct", 300),
    ("silver", "SH001", "direct", 200),      # the flagship store's rate
])
def test_different_points_per_tier_and_per_store(tier, store, kind, points):
    rules = live(TEMPLATES["points_per_tier_and_store"].rules())
    assert run(rules, purchase(yuan(100), who=member(tier=tier), store=store, kind=kind)).points == points
