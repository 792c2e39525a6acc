"""How a rule set decides: order, stop, exclusive groups, limits, budgets, scope, time."""
from __future__ import annotations

from datetime import datetime

import pytest

from tests.rules.engine.shop import basket, bonus, earn, fact, fired, line, member, purchase, rule, run, yuan
from wxcrm.rules.compiler import compile_rules
from wxcrm.rules.context import BudgetUsage, UsageCounts
from wxcrm.rules.engine import evaluate
from wxcrm.rules.facts import MissingFact


def test_higher_priority_runs_first_and_ties_go_to_the_lower_id():
    rules = [rule(bonus(1), id=3, priority=5), rule(bonus(2), id=2, priority=5),
             rule(bonus(3), id=9, priority=50)]
    assert fired(run(rules, purchase())) == [9, 2, 3]


def test_stop_keeps_lower_rules_from_running():
    rules = [rule(bonus(100), id=1, priority=10, stop=True), rule(bonus(5), id=2, priority=1)]
    assert fired(run(rules, purchase())) == [1]


def test_a_stop_rule_that_does_not_match_stops_nothing():
    rules = [rule(bonus(100), id=1, priority=10, stop=True,
                  conditions=fact("member.tier", "==", "gold")),
             rule(bonus(5), id=2)]
    assert fired(run(rules, purchase())) == [2]


def test_only_the_best_rule_of_an_exclusive_group_applies():
    """A gold member earns at the gold rate, not at the gold rate plus the base rate."""
    base = rule(earn(1), id=1, exclusive_group="base_earn")
    gold = rule(earn(2), id=2, exclusive_group="base_earn", scope={"tiers": ["gold"]})
    assert run([base, gold], purchase(yuan(100), who=member(tier="gold"))).points == 200
    assert run([base, gold], purchase(yuan(100), who=member(tier="silver"))).points == 100


def test_best_counts_money_and_points_at_their_value():
    discount = rule({"type": "discount_fixed", "amount_fen": yuan(5)}, id=1, exclusive_group="x")
    points = rule(bonus(400), id=2, exclusive_group="x")
    # 5 yuan off (500 fen) beats 400 points at 1 fen each, loses at 2 fen each.
    assert fired(run([discount, points], purchase(yuan(100)))) == [1]
    assert fired(run([discount, points], purchase(yuan(100)), point_value_fen=2)) == [2]


def test_a_tie_in_an_exclusive_group_goes_to_the_earlier_rule():
    rules = [rule(bonus(10), id=5, exclusive_group="x"), rule(bonus(10), id=4, exclusive_group="x")]
    assert fired(run(rules, purchase())) == [4]


def test_a_multiplier_is_valued_on_what_the_other_rules_earn():
    rules = [rule(earn(1), id=1),
             rule({"type": "multiply_points", "pct": 300}, id=2, exclusive_group="promo"),
             rule(bonus(150), id=3, exclusive_group="promo")]
    # On 100 yuan the triple points (+200) beat 150 bonus points; on 50 yuan (+100) they lose.
    assert fired(run(rules, purchase(yuan(100)))) == [1, 2]
    assert fired(run(rules, purchase(yuan(50)))) == [1, 3]


def test_a_daily_limit_used_up_keeps_the_rule_from_firing():
    offer = rule(bonus(10), id=1, limits={"per_day": 1})
    assert run([offer], purchase(usage={1: UsageCounts(today=0)})).points == 10
    assert run([offer], purchase(usage={1: UsageCounts(today=1, this_month=1, lifetime=1)})).points == 0


@pytest.mark.parametrize("usage", [UsageCounts(this_month=3, lifetime=3), UsageCounts(lifetime=5)])
def test_monthly_and_lifetime_limits(usage):
    offer = rule(bonus(10), id=1, limits={"per_month": 3, "lifetime": 5})
    assert run([offer], purchase(usage={1: usage})).points == 0


def test_a_budget_caps_what_the_last_member_gets_and_then_closes_the_rule():
    offer = rule(bonus(100), id=1, limits={"budget_points": 10_000})
    assert run([offer], purchase(budget_used={1: BudgetUsage(points=9_960)})).points == 40
    assert run([offer], purchase(budget_used={1: BudgetUsage(points=10_000)})).effects == ()


def test_a_money_budget_caps_discounts():
    offer = rule({"type": "discount_percent", "pct": 50}, id=1, limits={"budget_fen": yuan(1000)})
    result = run([offer], purchase(yuan(100), budget_used={1: BudgetUsage(fen=yuan(990))}))
    assert result.discount_fen == yuan(10)
    assert result.applied[0].fen == yuan(10)


def test_a_rule_scoped_to_other_stores_does_not_run_here():
    offer = rule(bonus(10), scope={"stores": ["BJ001"]})
    assert run([offer], purchase(store="SH001")).points == 0
    assert run([offer], purchase(store="BJ001")).points == 10


def test_scope_by_store_kind_tier_and_group_account():
    offer = rule(bonus(10), scope={"store_kinds": ["direct"], "tiers": ["gold"], "groups": ["ACME"]})
    staff_of_acme = member(tier="gold", group="ACME")
    assert run([offer], purchase(who=staff_of_acme)).points == 10
    assert run([offer], purchase(who=staff_of_acme, kind="franchise")).points == 0
    assert run([offer], purchase(who=member(tier="gold"))).points == 0


def test_validity_dates_weekdays_and_hours():
    member_day = rule(bonus(10), validity={"from": "2025-06-01", "to": "2025-06-30",
                                           "weekdays": [3], "hours": [{"from": "10:00", "to": "14:00"}]})
    assert run([member_day], purchase(at=datetime(2025, 6, 4, 13, 59))).points == 10
    assert run([member_day], purchase(at=datetime(2025, 6, 4, 14, 0))).points == 0    # hour
    assert run([member_day], purchase(at=datetime(2025, 6, 5, 12, 0))).points == 0    # Thursday
    assert run([member_day], purchase(at=datetime(2025, 7, 2, 12, 0))).points == 0    # July


def test_only_active_rules_run_unless_the_simulator_asks_for_drafts():
    draft = rule(bonus(10), status="draft")
    assert run([draft], purchase()).points == 0
    assert run([draft], purchase(), live_statuses=("active", "draft")).points == 10


def test_rules_of_other_events_do_not_run():
    assert run([rule(bonus(10), event="topup")], purchase()).points == 0


def test_the_compiled_set_says_which_spend_windows_to_load():
    compiled = compile_rules([rule(bonus(1), conditions=fact("member.spend_fen", ">=", 1, window_days=365)),
                              rule(bonus(1), conditions=fact("member.purchase_count", ">", 1,
                                                             window_days=30))], validate=True)
    assert compiled.spend_windows == {365} and compiled.purchase_windows == {30}
    with pytest.raises(MissingFact):
        evaluate(compiled, purchase())


def test_the_trace_says_why_each_rule_did_or_did_not_apply():
    rules = [rule(bonus(10), id=1, name="大单", conditions=fact("basket.total_fen", ">=", yuan(300))),
             rule(bonus(10), id=2, scope={"stores": ["BJ001"]}),
             rule(bonus(10), id=3, validity={"from": "2025-01-01", "to": "2025-01-31"}),
             rule(bonus(10), id=4, limits={"per_day": 1}),
             rule(bonus(10), id=5, priority=-1),
             rule(bonus(10), id=6, event="topup"),
             rule(bonus(10), id=7, status="paused"),
             rule(bonus(10), id=8, priority=-5, stop=True),
             rule(bonus(10), id=9, priority=-9)]
    result = run(rules, purchase(yuan(200), usage={4: UsageCounts(today=1)}), trace=True)
    why = {t.rule_id: (t.outcome, t.reason) for t in result.trace}
    assert why[1] == ("not_matched", "conditions: basket.total_fen >= 30000 is false "
                                     "(basket.total_fen is 20000)")
    assert why[2][0] == "out_of_scope" and "SH001" in why[2][1]
    assert why[3] == ("outside_validity", "ended on 2025-01-31")
    assert why[4] == ("limit_reached", "limit reached: 1 of 1 today")
    assert why[5] == ("applied", "")
    assert why[6][0] == "other_event" and why[7][0] == "not_live"
    assert why[8][0] == "applied" and why[9][0] == "after_stop"


def test_the_trace_gives_the_same_effects_as_the_till():
    rules = [rule(earn(1)), rule(bonus(5), exclusive_group="g"), rule(bonus(7), exclusive_group="g"),
             rule({"type": "discount_percent", "pct": 10, "on": {"categories": ["tea"]}})]
    ctx = purchase(lines=basket(line("TEA01", "tea", 3, 1999), line("BREAD", "bread", 1, 1200)))
    till, simulated = run(rules, ctx), run(rules, ctx, trace=True)
    assert till.effects == simulated.effects and till.applied == simulated.applied
    assert [t.outcome for t in simulated.trace].count("lost_exclusive") == 1


def test_a_basket_discount_is_spread_over_the_lines_so_item_discounts_see_what_is_left():
    rules = [rule({"type": "discount_percent", "pct": 50}, priority=10),
             rule({"type": "discount_fixed", "amount_fen": yuan(100), "on": {"skus": ["TEA01"]}})]
    ctx = purchase(lines=basket(line("TEA01", "tea", 1, yuan(40)), line("CAKE9", "cake", 1, yuan(60))))
    amounts = [e.amount_fen for e in run(rules, ctx).effects]
    assert amounts == [yuan(50), yuan(20)]      # half the basket, then what is left of the tea
