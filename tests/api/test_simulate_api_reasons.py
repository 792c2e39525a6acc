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
