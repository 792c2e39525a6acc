"""Rule engine benchmark: 1,000 active rules of a realistic mix, 100,000 purchases.

    python bench/rules_bench.py [--rules 1000] [--purchases 100000] [--seed 7]

The rule set looks like a chain of 300 stores a year into its loyalty programme: most
rules are one store's or one region's promotions, many campaigns are dated (a week
or two each, spread over the year), a few dozen run chain-wide (base earn rates per
tier, member days, birthday offers, category discounts), and some belong to other
events (top-ups, birthdays, expiry). Purchases fall over one trading week, at random
stores, by members from a pool with real-looking facts and rule usage.

Targets on one core: median <= 25 us, >= 40,000 evaluations/s, compile <= 500 ms.
The last line is machine-readable and stays exactly in this form.
"""
from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wxcrm.rules.compiler import compile_rules  # noqa: E402
from wxcrm.rules.context import BasketLine, BudgetUsage, EvaluationContext, MemberFacts, UsageCounts  # noqa: E402
from wxcrm.rules.engine import evaluate  # noqa: E402
from wxcrm.rules.schema import validate_rule_set  # noqa: E402

STORES = [f"S{n:03d}" for n in range(1, 301)]
STORE_KIND = {code: ("franchise" if n % 10 < 3 else "direct") for n, code in enumerate(STORES)}
TIERS = ["normal", "silver", "gold", "platinum"]
GROUPS = [f"G{n:02d}" for n in range(1, 21)]
CATEGORIES = ["tea", "coffee", "bread", "cake", "snack", "dairy", "fruit", "frozen", "drinks",
              "wine", "rice", "oil", "noodles", "candy", "baby", "beauty", "household", "paper",
              "pet", "gift_card", "tobacco", "seafood", "meat", "veg", "spice", "breakfast",
              "deli", "flowers", "toys", "stationery"]
SKUS = {cat: [f"{cat[:3].upper()}{n:04d}" for n in range(60)] for cat in CATEGORIES}
PAYMENTS = ["wechat_pay", "stored_value", "cash", "card", "alipay"]
YEAR_START = date(2025, 1, 1)
BATCH = 10_000
TRADING_WEEK = date(2025, 6, 2)          # a Monday


def make_rules(count: int, rng: random.Random) -> list[dict]:
    rules: list[dict] = []

    def add(rule: dict) -> None:
        rule.update(id=len(rules) + 1, version=1, status="active")
        rules.append(rule)

    # Chain-wide base earn per tier, one exclusive group: the best rate applies.
    add({"name": "消费积分", "name_en": "Points per yuan", "event": "purchase",
         "exclusive_group": "base_earn",
         "actions": [{"type": "earn_points", "rate": 1,
                      "on": {"exclude_categories": ["gift_card", "tobacco"]}}]})
    for rate, tier in ((2, "gold"), (3, "platinum")):
        add({"name": f"{tier} 会员积分", "name_en": f"{tier} points", "event": "purchase",
             "exclusive_group": "base_earn", "scope": {"tiers": [tier]},
             "actions": [{"type": "earn_points", "rate": rate,
                          "on": {"exclude_categories": ["gift_card", "tobacco"]}}]})
    while len(rules) < count:
        roll = rng.random()
        if roll < 0.42:
            add(_store_promotion(rng))
        elif roll < 0.52:
            add(_regional_promotion(rng))
        elif roll < 0.62:
            add(_tier_offer(rng))
        elif roll < 0.84:
            add(_chain_campaign(rng))
        elif roll < 0.93:
            add(_topup_bonus(rng))
        else:
            add(_lifecycle_rule(rng))
    return rules


def _campaign_window(rng: random.Random, dated_share: float) -> dict:
    if rng.random() > dated_share:
        return {}
    start = YEAR_START + timedelta(days=rng.randrange(0, 360))
    return {"validity": {"from": start.isoformat(),
                         "to": (start + timedelta(days=rng.choice((2, 6, 13, 20)))).isoformat()}}


def _reward(rng: random.Random) -> dict:
    roll = rng.random()
    if roll < 0.35:
        return {"type": "bonus_points", "points": rng.choice((50, 100, 200, 500))}
    if roll < 0.55:
        return {"type": "multiply_points", "pct": rng.choice((150, 200, 300))}
    if roll < 0.8:
        return {"type": "discount_percent", "pct": rng.choice((5, 10, 15, 20)),
                "on": {"categories": [rng.choice(CATEGORIES)]}}
    if roll < 0.92:
        return {"type": "discount_fixed", "amount_fen": rng.choice((500, 1000, 2000))}
    return {"type": "issue_coupon", "template": f"CPN{rng.randrange(100):03d}"}


def _basket_condition(rng: random.Random) -> dict:
    roll = rng.random()
    if roll < 0.35:       # spend more than the usual basket
        return {"fact": "basket.total_fen", "op": ">=", "value": rng.choice((10000, 20000, 30000, 50000))}
    if roll < 0.55:       # a supplier's category or products
        return {"fact": "item.category", "op": "in", "value": [rng.choice(CATEGORIES)]}
    if roll < 0.7:
        category = rng.choice(CATEGORIES)
        return {"fact": "item.sku", "op": "in", "value": rng.sample(SKUS[category], 5)}
    if roll < 0.85:       # buy several
        return {"fact": "item.qty", "op": ">=", "value": rng.choice((2, 3, 5)),
                "items": {"categories": [rng.choice(CATEGORIES)]}}
    return {"fact": "payment.method", "op": "==", "value": rng.choice(PAYMENTS)}


def _store_promotion(rng: random.Random) -> dict:
    return {"name": "门店促销", "name_en": "Store promotion", "event": "purchase",
            "priority": rng.randrange(0, 100), "scope": {"stores": rng.sample(STORES, rng.randint(1, 3))},
            "conditions": {"all": [_basket_condition(rng)]}, "actions": [_reward(rng)],
            **_campaign_window(rng, 0.6)}


def _regional_promotion(rng: random.Random) -> dict:
    return {"name": "区域活动", "name_en": "Regional offer", "event": "purchase",
            "priority": rng.randrange(0, 100),
            "conditions": {"all": [{"fact": "store.code", "op": "in", "value": rng.sample(STORES, 15)},
                                   _basket_condition(rng)]},
            "actions": [_reward(rng)], **_campaign_window(rng, 0.7)}


def _tier_offer(rng: random.Random) -> dict:
    tier = rng.choice(TIERS[1:])
    # One perk per purchase: a tier's concurrent offers share an exclusive group.
    return {"name": "等级专享", "name_en": "Tier offer", "event": "purchase",
            "priority": rng.randrange(0, 100), "scope": {"tiers": [tier]},
            "exclusive_group": f"{tier}_offer",
            "conditions": {"any": [_basket_condition(rng), _basket_condition(rng)]},
            "actions": [_reward(rng)], "limits": {"per_day": 1, "per_month": 4},
            **_campaign_window(rng, 1.0)}


def _chain_campaign(rng: random.Random) -> dict:
    roll = rng.random()
    rule = {"name": "全场活动", "name_en": "Chain campaign", "event": "purchase",
            "priority": rng.randrange(0, 100), "actions": [_reward(rng)]}
    if roll < 0.15:       # member day: one weekday, lunch hours
        rule["validity"] = {"weekdays": [rng.randint(1, 7)], "hours": [{"from": "11:00", "to": "14:00"}],
                            **_campaign_window(rng, 0.5).get("validity", {})}
    elif roll < 0.25:     # birthday-month offer
        rule["conditions"] = {"fact": "member.birthday_this_month", "op": "==", "value": True}
        rule["limits"] = {"per_month": 1}
        rule["exclusive_group"] = "birthday"
        rule.update(_campaign_window(rng, 0.9))
    elif roll < 0.35:     # big spenders over the last 90 days
        rule["conditions"] = {"all": [
            {"fact": "member.spend_fen", "window_days": 90, "op": ">=", "value": rng.choice((50000, 100000))},
            _basket_condition(rng)]}
        rule.update(_campaign_window(rng, 1.0))
    elif roll < 0.42:     # welcome: first purchase
        rule["conditions"] = {"fact": "member.first_purchase", "op": "==", "value": True}
        rule["limits"] = {"lifetime": 1}
        rule.update(_campaign_window(rng, 0.9))
    else:                 # dated chain-wide campaign on a basket condition
        rule["conditions"] = {"all": [_basket_condition(rng), {"not": {
            "fact": "member.status", "op": "==", "value": "cancelled"}}]}
        rule.update(_campaign_window(rng, 1.0))
        if rule["actions"][0]["type"] in ("bonus_points", "multiply_points") and rng.random() < 0.5:
            rule["exclusive_group"] = "chain_points"   # points campaigns that must not stack
    if rule["actions"][0]["type"] in ("bonus_points", "multiply_points") and rng.random() < 0.3:
        rule["limits"] = {**rule.get("limits", {}), "budget_points": 1_000_000}
    return rule


def _topup_bonus(rng: random.Random) -> dict:
    threshold = rng.choice((10000, 30000, 50000, 100000))
    return {"name": f"充 {threshold // 100} 送", "name_en": "Top-up bonus", "event": "topup",
            "priority": threshold // 100, "exclusive_group": "topup_bonus",
            "conditions": {"fact": "topup.amount_fen", "op": ">=", "value": threshold},
            "actions": [{"type": "bonus_stored_value", "amount_fen": threshold // 10}],
            **_campaign_window(rng, 0.6)}


def _lifecycle_rule(rng: random.Random) -> dict:
    event = rng.choice(("signup", "birthday", "membership_expiry", "referral"))
    action = {"membership_expiry": {"type": "reset_points"},
              "signup": {"type": "issue_coupon", "template": "WELCOME"},
              "birthday": {"type": "bonus_points", "points": 200},
              "referral": {"type": "bonus_points", "points": 500}}[event]
    return {"name": f"{event} rule", "event": event, "actions": [action]}


def make_members(count: int, rng: random.Random) -> list[MemberFacts]:
    members = []
    for member_id in range(1, count + 1):
        purchases = rng.choice((0, 1, 3, 8, 20, 60))
        members.append(MemberFacts(
            id=member_id, joined_on=YEAR_START - timedelta(days=rng.randrange(0, 2000)),
            tier=rng.choices(TIERS, weights=(50, 30, 15, 5))[0],
            birthday=date(rng.randint(1950, 2010), rng.randint(1, 12), rng.randint(1, 28))
            if rng.random() < 0.8 else None,
            gender=rng.choice(("male", "female", "unknown")), district=f"D{rng.randrange(16)}",
            group=rng.choice(GROUPS) if rng.random() < 0.05 else None,
            purchase_count=purchases, first_purchase=purchases == 0,
            spend_in_window_fen={90: rng.randrange(0, 200000)},
            referral_count=rng.choice((0, 0, 0, 1, 3)), points_balance=rng.randrange(0, 5000)))
    return members


def make_purchases(count: int, members: list[MemberFacts], rules: list[dict],
                   rng: random.Random) -> list[EvaluationContext]:
    return list(generate_purchases(count, members, rules, rng))


def generate_purchases(count: int, members: list[MemberFacts], rules: list[dict],
                       rng: random.Random) -> Iterator[EvaluationContext]:
    limited = [r["id"] for r in rules if "limits" in r]
    for _ in range(count):
        store = rng.choice(STORES)
        lines = []
        for line_no in range(1, rng.choice((1, 1, 2, 3, 4, 6, 10)) + 1):
            category = rng.choice(CATEGORIES)
            low, high = rng.choices(((200, 1500), (1500, 5000), (5000, 30000)), (50, 35, 15))[0]
            lines.append(BasketLine(line_no, rng.choice(SKUS[category]), category,
                                    rng.choice((1, 1, 1, 2, 3)), rng.randrange(low, high)))
        total = sum(line.amount_fen for line in lines)
        moment = datetime.combine(TRADING_WEEK + timedelta(days=rng.randrange(7)),
                                  datetime.min.time()) + timedelta(minutes=rng.randrange(8 * 60, 22 * 60))
        usage = {rule_id: UsageCounts(today=rng.choice((0, 0, 1)), this_month=rng.randrange(3),
                                    lifetime=rng.randrange(5))
                 for rule_id in rng.sample(limited, min(len(limited), 4))}
        budget = {rule_id: BudgetUsage(points=rng.randrange(0, 1_200_000))
                  for rule_id in rng.sample(limited, min(len(limited), 2))}
        yield EvaluationContext(
            event="purchase", member=rng.choice(members), local_time=moment, store_code=store,
            store_kind=STORE_KIND[store], payment_method=rng.choice(PAYMENTS), lines=tuple(lines),
            points_payment_fen=rng.choice((0, 0, 0, 0, min(total, 1000))),
            usage=usage, budget_used=budget)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--purchases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    rules = make_rules(args.rules, rng)
    started = time.perf_counter()
    validate_rule_set(rules)          # what storage does when each rule is saved
    validate_ms = (time.perf_counter() - started) * 1000
    members = make_members(5000, rng)

    started = time.perf_counter()
    compiled = compile_rules(rules)
    compile_ms = (time.perf_counter() - started) * 1000

    for ctx in make_purchases(2000, members, rules, rng):   # warm the per-day index caches
        evaluate(compiled, ctx)
    # Purchases are made a batch at a time and rung up in a tight loop, so the heap stays
    # the size of a worker's rather than holding 100,000 baskets; only the loops are timed.
    clock = time.perf_counter_ns
    latencies: list[int] = []
    effects = 0
    wall = 0.0
    summary = None
    for batch_start in range(0, args.purchases, BATCH):
        purchases = make_purchases(min(BATCH, args.purchases - batch_start), members, rules, rng)
        if summary is None:
            summary = purchases
        gc.collect()
        started = time.perf_counter()
        for ctx in purchases:
            t0 = clock()
            result = evaluate(compiled, ctx)
            latencies.append(clock() - t0)
            effects += len(result.effects)
        wall += time.perf_counter() - started
    points = discount = 0
    for ctx in summary:
        result = evaluate(compiled, ctx)
        points += result.points
        discount += result.discount_fen

    latencies.sort()
    median_us = statistics.median(latencies) / 1000
    p99_us = latencies[int(len(latencies) * 0.99) - 1] / 1000
    count = len(latencies)
    evals_per_s = count / wall
    by_event = {event: len(index.rules) for event, index in compiled.by_event.items()}
    print(f"rules by event: {by_event}")
    print(f"validated {len(rules)} rules in {validate_ms:.0f} ms (at save time, not per compile)")
    print(f"median {median_us:.1f} us, p99 {p99_us:.1f} us")
    print(f"{count} purchases in {wall:.2f} s, {effects / count:.2f} effects each; the first "
          f"{len(summary)} earned {points // len(summary)} points and {discount // len(summary)} fen "
          "discount on average")
    print(f"rules_bench rules={len(rules)} evals_per_s={round(evals_per_s)} "
          f"median_us={round(median_us)} p99_us={round(p99_us)} compile_ms={round(compile_ms)}")


if __name__ == "__main__":
    main()
