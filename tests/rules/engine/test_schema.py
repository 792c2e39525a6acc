"""Rules are checked when saved; every message names the path of what is wrong."""
from __future__ import annotations

import pytest

from tests.rules.engine.shop import bonus, earn, fact, rule
from wxcrm.errors import DomainError
from wxcrm.rules.compiler import compile_rules
from wxcrm.rules.schema import InvalidRule, rule_problems, validate_rule, validate_rule_set


def messages(candidate: dict) -> list[str]:
    return [str(p) for p in rule_problems(candidate)]


def test_a_good_rule_has_no_problems():
    assert messages(rule(earn(2), conditions={"all": [fact("basket.total_fen", ">=", 100)]})) == []


def test_a_bad_rate_is_named_by_its_path():
    assert messages(rule(earn(0))) == ["actions[0].rate: must be >= 1"]


def test_unknown_and_missing_fields():
    bad = {"name": "x", "evnt": "purchase", "actions": [bonus(5)]}
    assert messages(bad) == ["event: is required", "evnt: is not a known field"]


def test_unknown_event_action_and_fact():
    assert "event: must be one of purchase, refund, topup, signup, referral, birthday, " \
           "membership_expiry, schedule" in messages(rule(event="checkout"))
    assert any(m.startswith("actions[0].type: must be one of") for m in messages(rule({"type": "hug"})))
    assert messages(rule(conditions=fact("member.shoe_size", "==", 42))) == \
        ["conditions.fact: is not a known fact (see the fact catalogue)"]


def test_condition_paths_go_down_the_tree():
    tree = {"all": [fact("basket.total_fen", ">=", 1),
                    {"not": {"any": [fact("member.tier", "==", "gold"), fact("item.qty", ">", "two")]}}]}
    assert messages(rule(conditions=tree)) == ["conditions.all[1].not.any[1].value: must be a whole number"]


def test_a_fact_must_suit_the_event():
    assert messages(rule(event="birthday", conditions=fact("basket.total_fen", ">", 1))) == \
        ["conditions.fact: 'basket.total_fen' is not known at a 'birthday' event"]


def test_an_operator_must_suit_the_fact():
    assert messages(rule(conditions=fact("member.gender", ">", "female"))) == \
        ["conditions.op: 'member.gender' allows ==, !=, in, not_in"]


def test_values_are_checked_against_the_fact():
    assert messages(rule(conditions=fact("member.gender", "==", "robot"))) == \
        ["conditions.value: must be one of male, female, unknown"]
    assert messages(rule(conditions=fact("basket.total_fen", ">=", 99.5))) == \
        ["conditions.value: must be a whole number in fen"]
    assert messages(rule(conditions=fact("basket.total_fen", "between", [500, 100]))) == \
        ["conditions.value: lowest must not be above highest"]
    assert messages(rule(conditions=fact("time.weekday", "in", [8]))) == \
        ["conditions.value[0]: must be <= 7"]


def test_spend_needs_a_window():
    assert messages(rule(conditions=fact("member.spend_fen", ">=", 100))) == \
        ["conditions.window_days: is required for 'member.spend_fen' (the last N days)"]


def test_an_action_must_suit_the_event():
    assert messages(rule({"type": "discount_percent", "pct": 10}, event="topup")) == \
        ["actions[0].type: 'discount_percent' cannot run at a 'topup' event (only purchase)"]


def test_no_floats_for_money_or_percentages():
    assert messages(rule({"type": "discount_percent", "pct": 9.5})) == ["actions[0].pct: must be an integer"]
    assert messages(rule({"type": "discount_fixed", "amount_fen": 1.5})) == \
        ["actions[0].amount_fen: must be an integer"]


def test_validity_window_must_make_sense():
    assert messages(rule(validity={"from": "2025-06-30", "to": "2025-06-01"})) == \
        ["validity.to: must not be before validity.from"]
    assert messages(rule(validity={"from": "2025-02-30"})) == ["validity.from: is not a calendar date"]
    assert messages(rule(validity={"hours": [{"from": "14:00", "to": "10:00"}]})) == \
        ["validity.hours[0].to: must be after from (use 24:00 for midnight)"]
    assert messages(rule(validity={"hours": [{"from": "9", "to": "10:00"}]})) == \
        ["validity.hours[0].from: must be a time HH:MM (00:00 to 24:00)"]


def test_a_budget_must_cap_something_the_rule_gives():
    assert messages(rule(bonus(5), limits={"budget_fen": 100})) == \
        ["limits.budget_fen: the rule gives no money (discount or stored value)"]


def test_an_invalid_rule_is_a_domain_error_with_fields():
    with pytest.raises(InvalidRule) as raised:
        validate_rule(rule(earn(0)))
    assert isinstance(raised.value, DomainError) and raised.value.code == "invalid_rule"
    assert raised.value.fields == {"actions[0].rate": "must be >= 1"}


def test_a_rule_set_names_the_rule_by_position_and_refuses_repeated_ids():
    with pytest.raises(InvalidRule) as raised:
        validate_rule_set([rule(id=1), rule(earn(0), id=1)])
    assert [str(p) for p in raised.value.problems] == \
        ["[1].actions[0].rate: must be >= 1", "[1].id: repeats the id of [0]"]


def test_compiling_checks_when_asked_and_needs_ids():
    with pytest.raises(InvalidRule):
        compile_rules([rule(earn(0))], validate=True)
    with pytest.raises(InvalidRule) as raised:
        compile_rules([{"name": "x", "event": "purchase", "actions": [bonus(1)]}], validate=True)
    assert {p.path for p in raised.value.problems} == {"[0].id", "[0].version"}
