"""The simulation API answers every reason and conflict in English and in Chinese."""
from __future__ import annotations

from tests.conftest import Api

DOUBLE_TEA = {"name": "茶饮双倍积分", "name_en": "Double points on tea", "event": "purchase", "priority": 20,
              "status": "active", "exclusive_group": "earn",
              "conditions": {"fact": "item.category", "op": "in", "value": ["tea"]},
              "actions": [{"type": "earn_points", "rate": 2}]}
BASE = {"name": "基础积分", "event": "purchase", "priority": 0, "status": "active", "exclusive_group": "earn",
        "actions": [{"type": "earn_points", "rate": 1}]}


def test_a_coffee_basket_is_told_why_the_tea_rule_did_not_apply_in_both_languages(client, make):
    make.store("S001")
    api = Api(client, make.token("marketer"))
    api.post("/rules", BASE)
    api.post("/rules", DOUBLE_TEA)
    coffee = api.post("/rules/simulate", {"store_code": "S001", "member": {"tier": "gold"},
                                          "items": [{"sku": "C1", "category": "coffee", "qty": 1,
                                                     "unit_price_fen": 1000}]}).json
    why = {r["rule"]: r for r in coffee["rules"]}
    assert why["茶饮双倍积分"]["reason"] == ("conditions: item.category in [tea] is false "
                                            "(item.category is [coffee])")
    assert why["茶饮双倍积分"]["reason_zh"] == "商品品类 属于 tea 不成立（购物篮中为 coffee）"
    assert why["基础积分"]["reason"] == why["基础积分"]["reason_zh"] == ""
    (overlap,) = coffee["conflicts"]
    assert overlap["kind"] == "exclusive_overlap" and "group earn gives only the better" in overlap["message"]
    assert "互斥组 earn 只给其中更优的一个" in overlap["message_zh"]


def test_simulation_shows_how_multipliers_combine_and_the_budget_policy(client, make):
    """Issue 9, items 3 and 5: the points by step, and what a budget does when it runs low."""
    make.store("S001")
    api = Api(client, make.token("marketer"))
    api.post("/rules", BASE)
    api.post("/rules", {"name": "双倍", "event": "purchase", "status": "active",
                        "actions": [{"type": "multiply_points", "pct": 200}]})
    api.post("/rules", {"name": "减半", "event": "purchase", "status": "active",
                        "actions": [{"type": "multiply_points", "pct": 50}]})
    api.post("/rules", {"name": "限量赠分", "event": "purchase", "status": "active",
                        "limits": {"budget_points": 1000}, "actions": [{"type": "bonus_points", "points": 20}]})
    result = api.post("/rules/simulate", {"store_code": "S001", "member": {},
                                          "items": [{"sku": "A", "qty": 1, "unit_price_fen": 10_000}]}).json
    assert result["points_breakdown"] == {"earned": 100, "multipliers": 50, "bonus": 20, "total": 170}
    assert result["totals"]["points"] == 170
    assert result["budget_policy"] == "partial"
    (budget,) = result["budgets"]
    assert budget["rule"] == "限量赠分" and budget["budget_points"] == 1000 and budget["points_left"] == 1000
    assert len(result["earning_rules"]) == 1


def test_simulation_of_a_referral_at_the_referred_members_first_purchase(client, make):
    """Issue 9, item 2: the referral event sees the purchase and the referred member."""
    make.store("S001")
    api = Api(client, make.token("marketer"))
    rule = api.post("/rules", {"name": "推荐首单满50", "event": "referral", "status": "active",
                               "conditions": {"all": [
                                   {"fact": "referred.first_purchase", "op": "==", "value": True},
                                   {"fact": "basket.total_fen", "op": ">=", "value": 5000}]},
                               "actions": [{"type": "bonus_points", "points": 300}]}).json
    body = {"event": "referral", "store_code": "S001", "member": {},
            "items": [{"sku": "A", "qty": 1, "unit_price_fen": 6000}],
            "referred": {"joined_on": "2026-01-01", "purchase_count": 0, "first_purchase": True}}
    assert api.post("/rules/simulate", body).json["totals"]["points"] == 300
    paid = api.post("/rules/simulate", {**body, "paid_rule_ids": [rule["id"]]}).json
    assert paid["totals"]["points"] == 0
    (why,) = [r for r in paid["rules"] if r["rule_id"] == rule["id"]]
    assert why["outcome"] == "limit_reached"
