"""What compiling does to a rule: fold, hoist into the index, generate one predicate."""
from __future__ import annotations

from tests.rules.engine.shop import bonus, fact, purchase, rule, run
from wxcrm.rules.compiler import compile_rule, compile_rules
from wxcrm.rules.conditions import AllOf, Leaf, fold, hoist_index_tests, parse_condition
from wxcrm.rules.effects import Effect
from wxcrm.rules.payout import new_effect


def test_folding_flattens_and_drops_what_cannot_change_the_answer():
    tree = parse_condition({"all": [{"all": [fact("basket.total_fen", ">", 1)]},
                                    {"not": {"not": fact("member.tier", "in", ["gold"])}},
                                    fact("member.district", "not_in", ["x"])]})
    folded = fold(tree)
    assert isinstance(folded, AllOf) and len(folded.children) == 3
    tier = next(c for c in folded.children if c.spec.name == "member.tier")
    assert (tier.op, tier.value) == ("==", "gold")


def test_empty_groups_fold_to_constants():
    assert fold(parse_condition({"all": []})) is True
    assert fold(parse_condition({"any": []})) is False
    assert fold(parse_condition({"not": {"all": []}})) is False


def test_store_and_tier_tests_move_into_the_index():
    tree = fold(parse_condition({"all": [fact("store.code", "in", ["SH001", "SH002"]),
                                         fact("member.tier", "==", "gold"),
                                         fact("basket.total_fen", ">", 100)]}))
    rest, hoisted = hoist_index_tests(tree)
    assert isinstance(rest, Leaf) and rest.spec.name == "basket.total_fen"
    assert hoisted == {"stores": {"SH001", "SH002"}, "tiers": {"gold"}}


def test_an_unconditional_rule_has_no_predicate_to_call():
    assert compile_rule(rule(bonus(1), id=1)).predicate is None


def test_values_never_reach_the_generated_source():
    sneaky = rule(bonus(1), id=1, conditions=fact("member.district", "==", "') or True or ('"))
    compiled = compile_rule(sneaky)
    assert compiled.predicate is not None
    assert run([sneaky], purchase()).points == 0


def test_the_fast_effect_is_an_ordinary_effect():
    compiled = compile_rules([rule(bonus(1), id=5, version=2, name="n")]).rules[0]
    fast = new_effect("points", compiled, "zh", "en", 7, 3)
    assert fast == Effect(kind="points", rule_name="n", text_zh="zh", text_en="en", rule_id=5,
                          rule_version=2, points=7, pending_days=3)
    assert type(fast) is Effect
