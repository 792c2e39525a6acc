"""What the rule editor warns about: exclusive rules that meet, rules a stop makes dead."""
from __future__ import annotations

from tests.rules.engine.shop import bonus, fact, rule, yuan
from wxcrm.rules.compiler import compile_rules
from wxcrm.rules.conflicts import find_conflicts


def conflicts(*rules: dict) -> list[tuple[str, tuple[int, ...]]]:
    return [(c.kind, c.rule_ids) for c in find_conflicts(compile_rules(list(rules), validate=True))]


def test_two_rules_of_one_group_that_can_both_match():
    assert conflicts(rule(bonus(5), id=1, exclusive_group="g"),
                     rule(bonus(9), id=2, exclusive_group="g")) == [("exclusive_overlap", (1, 2))]


def test_rules_of_one_group_that_never_meet_are_fine():
    small = rule(bonus(5), id=1, exclusive_group="g", conditions=fact("basket.total_fen", "<", yuan(100)))
    large = rule(bonus(9), id=2, exclusive_group="g", conditions=fact("basket.total_fen", ">=", yuan(100)))
    gold = rule(bonus(9), id=3, exclusive_group="g", scope={"tiers": ["gold"]},
                validity={"from": "2025-01-01", "to": "2025-01-31"})
    silver = rule(bonus(9), id=4, exclusive_group="g", conditions=fact("member.tier", "==", "silver"))
    assert ("exclusive_overlap", (1, 2)) not in conflicts(small, large)
    assert ("exclusive_overlap", (3, 4)) not in conflicts(gold, silver)


def test_a_rule_under_an_unconditional_stop_is_unreachable():
    found = conflicts(rule(bonus(5), id=1, priority=10, stop=True),
                      rule(bonus(9), id=2, scope={"stores": ["SH001"]}))
    assert found == [("unreachable", (2, 1))]


def test_a_stop_limited_to_other_hours_leaves_the_rule_reachable():
    assert conflicts(rule(bonus(5), id=1, priority=10, stop=True,
                          validity={"hours": [{"from": "10:00", "to": "12:00"}]}),
                     rule(bonus(9), id=2)) == []


def test_a_rule_whose_scope_contradicts_its_conditions_never_matches():
    assert conflicts(rule(bonus(5), id=1, scope={"tiers": ["gold"]},
                          conditions=fact("member.tier", "==", "silver"))) == [("never_matches", (1,))]
