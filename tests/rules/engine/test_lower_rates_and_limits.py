"""Issue 9, items 2-5 in the pure engine: multipliers below 100 %, no points, limits per
year and per membership year, the budget policy said aloud, and referral rules that see
the referred member's purchase and pay once per referred member."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from tests.rules.engine.shop import (
    bonus,
    earn,
    event,
    fact,
    fired,
    points_of,
    purchase,
    rule,
    run,
    yuan,
)
from wxcrm.rules.context import BudgetUsage, ReferredFacts, UsageCounts
from wxcrm.rules.schema import rule_problems

HALF = {"type": "multiply_points", "pct": 50}


# ---------------------------------------------------------------- item 3: lower rates

def test_franchise_stores_earn_half_and_the_receipt_names_the_rule():
    base = rule(earn(1), id=1, name="消费积分")
    franchise = rule(HALF, id=2, name="加盟店积分减半", name_en="Half points at franchise stores",
                     scope={"store_kinds": ["franchise"]})
    result = run([base, franchise], purchase(yuan(15), kind="franchise"))
    assert result.points == 7                  # half of 15, rounded down
    line = next(e for e in result.effects if e.rule_id == 2)
    assert line.points == -8
    assert line.text_zh == "加盟店积分减半：积分 ×0.5，-8 积分"
    assert line.text_en == "Half points at franchise stores: points x0.5, -8 points"
    assert run([base, franchise], purchase(yuan(15), kind="direct")).points == 15


@pytest.mark.parametrize("pcts, points", [
    ((200, 50), 150),          # 1 + 1 - 0.5
    ((50, 50), 0),             # 1 - 0.5 - 0.5
    ((50, 50, 50), 0),         # never negative
    ((10,), 10),               # a tenth
    ((150, 150, 10), 110),     # 1 + 0.5 + 0.5 - 0.9
])
def test_several_multipliers_add_up_and_never_go_below_zero(pcts, points):
    rules = [rule(earn(1))] + [rule({"type": "multiply_points", "pct": pct}) for pct in pcts]
    result = run(rules, purchase(yuan(100)))
    assert result.points == points
    assert result.points >= 0


def test_a_lower_multiplier_never_touches_bonus_points():
    rules = [rule(earn(1)), rule(bonus(100)), rule(HALF), rule(HALF), rule(HALF)]
    assert run(rules, purchase(yuan(100))).points == 100


def test_no_points_for_staff_purchases_whatever_the_other_rules_give():
    staff = rule({"type": "no_points"}, id=9, name="员工消费不积分", name_en="Staff purchases earn no points",
                 conditions=fact("member.group", "==", "STAFF"))
    rules = [rule(earn(2), id=1), rule(bonus(50), id=2), rule({"type": "multiply_points", "pct": 300}, id=3),
             rule({"type": "discount_percent", "pct": 10}, id=4), staff]
    result = run(rules, purchase(yuan(100), who=_member(group="STAFF")))
    assert result.points == 0
    assert result.discount_fen == yuan(10)                 # discounts are not points: they stay
    (line,) = [e for e in result.effects if e.kind == "no_points"]
    assert line.rule_id == 9 and line.text_zh == "员工消费不积分：本单不积分"
    assert line.text_en == "Staff purchases earn no points: no points on this sale"
    assert fired(result) == [4, 9]
    explained = run(rules, purchase(yuan(100), who=_member(group="STAFF")), trace=True)
    why = {t.rule_id: t for t in explained.trace}
    assert why[1].outcome == "no_effect" and "rule 9" in why[1].reason and "不积分" in why[1].reason_zh
    assert run(rules, purchase(yuan(100))).points > 0     # everyone else earns


def test_a_multiplier_is_a_whole_percent_from_1_to_1000():
    assert rule_problems(rule({"type": "multiply_points", "pct": 50})) == []
    assert rule_problems(rule({"type": "multiply_points", "pct": 0}))[0].path == "actions[0].pct"
    assert rule_problems(rule({"type": "no_points"}, event="birthday"))[0].path == "actions[0].type"


# ---------------------------------------------------------------- item 4: per year, per membership year

@pytest.mark.parametrize("limits, usage, gives", [
    ({"per_year": 2}, UsageCounts(this_year=1), True),
    ({"per_year": 2}, UsageCounts(this_year=2), False),
    ({"per_membership_year": 1}, UsageCounts(this_membership_year=1, this_year=0), False),
    ({"per_membership_year": 1}, UsageCounts(this_year=5), True),
])
def test_limits_per_year_and_per_membership_year(limits, usage, gives):
    offer = rule(bonus(10), id=1, limits=limits)
    assert (run([offer], purchase(usage={1: usage})).points == 10) is gives
    if not gives:
        (reason,) = [t for t in run([offer], purchase(usage={1: usage}), trace=True).trace]
        assert reason.outcome == "limit_reached"
        assert ("year" in reason.reason) and ("年" in reason.reason_zh)


def test_limits_nest_per_month_per_year_and_lifetime():
    problems = rule_problems(rule(bonus(1), limits={"per_month": 5, "per_year": 4, "lifetime": 3}))
    assert [p.path for p in problems] == ["limits.per_month", "limits.per_year"]
    assert rule_problems(rule(bonus(1), limits={"per_membership_year": 4, "lifetime": 3}))[0].path == \
        "limits.per_membership_year"


def test_the_membership_year_runs_from_the_anniversary_of_the_expiry_date():
    from wxcrm.rules.usage import membership_year_start, period_keys
    assert membership_year_start(date(2026, 3, 14), date(2027, 3, 15)) == date(2025, 3, 15)
    assert membership_year_start(date(2026, 3, 15), date(2027, 3, 15)) == date(2026, 3, 15)
    assert membership_year_start(date(2027, 3, 1), date(2024, 2, 29)) == date(2027, 2, 28)
    assert membership_year_start(date(2027, 2, 27), date(2024, 2, 29)) == date(2026, 2, 28)
    keys = period_keys(date(2026, 12, 31), date(2027, 3, 15))
    assert keys["year"] == "2026" and keys["myear"] == "2026-03-15"


# ---------------------------------------------------------------- item 5: the budget policy

def test_a_budget_with_less_left_than_a_grant_gives_what_is_left_and_says_so():
    offer = rule(bonus(100), id=1, name="限量赠分", name_en="Limited bonus", limits={"budget_points": 1000})
    (line,) = run([offer], purchase(budget_used={1: BudgetUsage(points=960)})).effects
    assert line.points == 40
    assert "少发 60 积分" in line.text_zh and "60 points short" in line.text_en
    discount = rule({"type": "discount_fixed", "amount_fen": 2000}, id=2, limits={"budget_fen": 5000})
    (cut,) = run([discount], purchase(yuan(100), budget_used={2: BudgetUsage(fen=4500)})).effects
    assert cut.amount_fen == 500 and "15.00" in cut.text_zh


# ---------------------------------------------------------------- item 2: referral

def test_a_referral_rule_sees_the_referred_members_purchase_and_first_purchase():
    first_50 = rule(bonus(300), id=1, event="referral", conditions={"all": [
        fact("referred.first_purchase", "==", True), fact("basket.total_fen", ">=", yuan(50))]})
    within_30 = rule(bonus(100), id=2, event="referral", conditions=fact("referred.tenure_days", "<=", 30))
    joined = date(2025, 5, 20)
    at_signup = event("referral", at=datetime(2025, 5, 20, 9), referred=ReferredFacts(9, joined))
    assert fired(run([first_50, within_30], at_signup)) == [2]
    first = purchase(yuan(60), event="referral", referred=ReferredFacts(9, joined, 0, True), paid_rules=frozenset({2}))
    assert fired(run([first_50, within_30], first)) == [1]
    small_first = purchase(yuan(40), event="referral", referred=ReferredFacts(9, joined, 0, True))
    assert fired(run([first_50], small_first)) == []
    second = purchase(yuan(90), event="referral", referred=ReferredFacts(9, joined, 1, False))
    assert fired(run([first_50], second)) == []


def test_a_referral_rule_pays_once_per_referred_member():
    offer = rule(bonus(300), id=1, event="referral")
    ctx = purchase(yuan(60), event="referral", referred=ReferredFacts(9, date(2025, 5, 20)),
                   paid_rules=frozenset({1}))
    assert run([offer], ctx).points == 0
    (why,) = run([offer], ctx, trace=True).trace
    assert why.outcome == "limit_reached" and "member 9" in why.reason


def test_referral_facts_are_known_only_at_referral_events():
    problems = rule_problems(rule(bonus(1), conditions=fact("referred.first_purchase", "==", True)))
    assert problems and problems[0].path == "conditions.fact"
    assert rule_problems(rule(bonus(1), event="referral", conditions=fact("basket.total_fen", ">=", 1))) == []
    assert rule_problems(rule(bonus(1), event="referral", scope={"stores": ["S001"]})) == []


def _member(**facts):
    from tests.rules.engine.shop import member
    return member(**facts)


def test_points_of_counts_negative_lines():
    base, half = rule(earn(1), id=1), rule(HALF, id=2)
    result = run([base, half], purchase(yuan(20)))
    assert points_of(result, 1) == 20 and points_of(result, 2) == -10
