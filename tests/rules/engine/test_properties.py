"""Properties that must hold for any rule set and any purchase (hypothesis)."""
from __future__ import annotations

import random
from datetime import date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from wxcrm.rules.compiler import compile_rules
from wxcrm.rules.context import BasketLine, BudgetUsage, EvaluationContext, MemberFacts, UsageCounts
from wxcrm.rules.engine import evaluate

CATEGORIES = ("tea", "cake", "tobacco")
EXAMPLES = settings(max_examples=150, deadline=None)

conditions = st.sampled_from([
    None,
    {"fact": "basket.total_fen", "op": ">=", "value": 5000},
    {"fact": "item.category", "op": "in", "value": ["tea"]},
    {"fact": "member.tier", "op": "==", "value": "gold"},
    {"not": {"fact": "store.code", "op": "==", "value": "S2"}},
    {"any": [{"fact": "item.qty", "op": ">=", "value": 2, "items": {"categories": ["cake"]}},
             {"fact": "payment.method", "op": "==", "value": "cash"}]},
])
selectors = st.sampled_from([None, {"categories": ["tea"]}, {"exclude_categories": ["tobacco"]}])
actions = st.one_of(
    st.builds(lambda r, p, on: {"type": "earn_points", "rate": r, "per_yuan": p,
                                **({"on": on} if on else {})},
              st.integers(1, 3), st.sampled_from([1, 1, 10]), selectors),
    st.builds(lambda n: {"type": "bonus_points", "points": n}, st.integers(1, 500)),
    st.builds(lambda p: {"type": "multiply_points", "pct": p}, st.sampled_from([150, 200, 300])),
    st.builds(lambda p, on: {"type": "discount_percent", "pct": p, **({"on": on} if on else {})},
              st.integers(1, 100), selectors),
    st.builds(lambda a, on: {"type": "discount_fixed", "amount_fen": a, **({"on": on} if on else {})},
              st.integers(1, 20000), selectors),
    st.builds(lambda d: {"type": "hold_points", "days": d}, st.integers(1, 14)),
    st.just({"type": "issue_coupon", "template": "C1"}),
)
limits = st.one_of(st.none(), st.fixed_dictionaries({}, optional={
    "per_day": st.integers(1, 2), "lifetime": st.integers(2, 3),
    "budget_points": st.integers(1, 2000), "budget_fen": st.integers(1, 5000)}))
scopes = st.one_of(st.none(), st.fixed_dictionaries({}, optional={
    "stores": st.sampled_from([["S1"], ["S2"], ["S1", "S2"]]),
    "tiers": st.sampled_from([["gold"], ["silver"]])}))


@st.composite
def rule_sets(draw) -> list[dict]:
    rules = []
    for rule_id in draw(st.lists(st.integers(1, 60), min_size=1, max_size=8, unique=True)):
        acts = draw(st.lists(actions, min_size=1, max_size=2))
        gives = {"points" if a["type"].endswith("points") and a["type"] != "hold_points" else
                 "fen" if a["type"].startswith("discount") else "" for a in acts}
        r = {"id": rule_id, "version": 1, "name": f"r{rule_id}", "event": "purchase",
             "status": "active", "priority": draw(st.integers(-2, 2)), "actions": acts,
             "stop": draw(st.booleans()) and draw(st.booleans())}
        group = draw(st.sampled_from([None, None, "a", "b"]))
        if group:
            r["exclusive_group"] = group
        for key, value in (("conditions", draw(conditions)), ("scope", draw(scopes))):
            if value:
                r[key] = value
        chosen = draw(limits)
        if chosen:
            chosen = {k: v for k, v in chosen.items()
                      if not (k == "budget_points" and "points" not in gives)
                      and not (k == "budget_fen" and "fen" not in gives)}
            if chosen:
                r["limits"] = chosen
        rules.append(r)
    return rules


@st.composite
def purchases(draw, rule_ids=range(1, 61)) -> EvaluationContext:
    lines = tuple(BasketLine(i, f"SKU{i}", draw(st.sampled_from(CATEGORIES)), draw(st.integers(1, 3)),
                             draw(st.integers(1, 20000)))
                  for i in range(1, draw(st.integers(0, 4)) + 1))
    total = sum(l.amount_fen for l in lines)
    usage, spent = {}, {}
    if rule_ids:
        usage = {i: UsageCounts(today=draw(st.integers(0, 2)), lifetime=draw(st.integers(0, 3)))
                 for i in draw(st.lists(st.sampled_from(list(rule_ids)), max_size=5))}
        spent = {i: BudgetUsage(points=draw(st.integers(0, 2500)), fen=draw(st.integers(0, 6000)))
                 for i in draw(st.lists(st.sampled_from(list(rule_ids)), max_size=5))}
    return EvaluationContext(
        event="purchase",
        member=MemberFacts(id=1, joined_on=date(2024, 1, 1),
                           tier=draw(st.sampled_from(["gold", "silver", None]))),
        local_time=datetime(2025, 6, 4, 12), store_code=draw(st.sampled_from(["S1", "S2"])),
        store_kind="direct", payment_method=draw(st.sampled_from(["cash", "wechat_pay"])), lines=lines,
        points_payment_fen=draw(st.integers(0, total)), usage=usage, budget_used=spent)


def order_key(rule: dict) -> tuple[int, int]:
    return (-rule.get("priority", 0), rule["id"])


@EXAMPLES
@given(rule_sets(), purchases(), st.randoms(use_true_random=False))
def test_the_result_does_not_depend_on_the_order_rules_were_stored(rules, ctx, rnd):
    shuffled = rules[:]
    rnd.shuffle(shuffled)
    first, second = evaluate(compile_rules(rules), ctx), evaluate(compile_rules(shuffled), ctx)
    assert first.effects == second.effects and first.applied == second.applied


@EXAMPLES
@given(rule_sets(), purchases())
def test_priorities_and_stop_are_honoured(rules, ctx):
    result = evaluate(compile_rules(rules), ctx, trace=True)
    position = {r["id"]: order_key(r) for r in rules}
    applied = [a.rule_id for a in result.applied]
    assert applied == sorted(applied, key=position.get)
    stopper = next((t for t in result.trace if t.matched and compile_rules(rules).rule(t.rule_id).stop), None)
    if stopper is not None:
        later = [t for t in result.trace if position[t.rule_id] > position[stopper.rule_id]]
        assert all(t.outcome == "after_stop" for t in later)


@EXAMPLES
@given(rule_sets(), purchases())
def test_the_trace_and_the_till_agree(rules, ctx):
    compiled = compile_rules(rules)
    till, simulated = evaluate(compiled, ctx), evaluate(compiled, ctx, trace=True)
    assert till.effects == simulated.effects and till.applied == simulated.applied
    assert {t.rule_id for t in simulated.trace if t.outcome == "applied"} == {a.rule_id for a in till.applied}


@EXAMPLES
@given(rule_sets(), purchases())
def test_discounts_never_exceed_the_basket_and_points_are_never_negative(rules, ctx):
    result = evaluate(compile_rules(rules), ctx)
    total = sum(l.amount_fen for l in ctx.lines)
    assert all(e.amount_fen >= 0 and e.points >= 0 for e in result.effects)
    assert result.discount_fen <= total
    lines = {l.line_no: l.amount_fen for l in ctx.lines}
    for e in result.effects:
        if e.kind == "discount" and e.item_lines:
            assert e.amount_fen <= sum(lines[n] for n in e.item_lines)
    payable = max(total - result.discount_fen - ctx.points_payment_fen, 0)
    for e in result.effects:
        if e.kind == "points" and "每" in e.text_zh:   # an earn line: at most 3 points a yuan
            assert e.points <= 3 * payable // 100


@settings(max_examples=80, deadline=None)
@given(rule_sets(), st.lists(purchases(rule_ids=[]), min_size=1, max_size=12))
def test_a_member_shopping_all_day_never_gets_more_than_a_limit_or_a_budget_allows(rules, day):
    """Each purchase adds what applied to the counters, as checkout does under its lock."""
    compiled = compile_rules(rules)
    usage: dict[int, UsageCounts] = {}
    spent: dict[int, BudgetUsage] = {}
    for ctx in day:
        ctx = EvaluationContext(**{**{f: getattr(ctx, f) for f in ctx.__dataclass_fields__},
                                   "usage": dict(usage), "budget_used": dict(spent)})
        for a in evaluate(compiled, ctx).applied:
            u, b = usage.get(a.rule_id, UsageCounts()), spent.get(a.rule_id, BudgetUsage())
            usage[a.rule_id] = UsageCounts(u.today + 1, u.this_month + 1, u.lifetime + 1)
            spent[a.rule_id] = BudgetUsage(b.points + a.points, b.fen + a.fen)
    for r in rules:
        lim = r.get("limits", {})
        u, b = usage.get(r["id"], UsageCounts()), spent.get(r["id"], BudgetUsage())
        assert u.today <= lim.get("per_day", u.today) and u.lifetime <= lim.get("lifetime", u.lifetime)
        assert b.points <= lim.get("budget_points", b.points) and b.fen <= lim.get("budget_fen", b.fen)


def test_shuffling_a_realistic_rule_set_changes_nothing():
    """A bigger, fixed example: 200 generated rules, stored in three orders."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
    import rules_bench
    rng = random.Random(3)
    rules = rules_bench.make_rules(200, rng)
    members = rules_bench.make_members(50, rng)
    contexts = rules_bench.make_purchases(300, members, rules, rng)
    sets = [compile_rules(rules), compile_rules(rules[::-1]), compile_rules(rng.sample(rules, len(rules)))]
    for ctx in contexts:
        first, *others = [evaluate(c, ctx) for c in sets]
        assert all(o.effects == first.effects for o in others)
