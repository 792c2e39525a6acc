"""The simulator says why in both languages: each trace reason and conflict message has a
Chinese twin built from the same facts (labels, 至少/属于 words, 周一…周日, amounts in 元)."""
from __future__ import annotations

from datetime import datetime

from tests.rules.engine.shop import (
    basket,
    bonus,
    event,
    fact,
    line,
    member,
    purchase,
    rule,
    run,
    yuan,
)
from wxcrm.rules.compiler import Limits, compile_rules
from wxcrm.rules.conflicts import find_conflicts
from wxcrm.rules.context import BudgetUsage, UsageCounts


def why(rules: list[dict], ctx) -> dict[int, tuple[str, str, str]]:
    """rule id -> (outcome, English reason, Chinese reason)."""
    return {t.rule_id: (t.outcome, t.reason, t.reason_zh) for t in run(rules, ctx, trace=True).trace}


def why_not(single: dict, ctx) -> tuple[str, str, str]:
    return why([single], ctx)[single["id"]]


# ---------------------------------------------------------------- conditions

def test_a_200_yuan_basket_misses_the_300_yuan_rule_in_yuan_not_fen():
    outcome, en, zh = why_not(rule(bonus(10), conditions=fact("basket.total_fen", ">=", yuan(300))),
                              purchase(yuan(200) + 5))
    assert outcome == "not_matched"
    assert en == "conditions: basket.total_fen >= 30000 is false (basket.total_fen is 20005)"
    assert zh == "购物篮总额 至少 300.00 元 不成立（实际为 200.05 元）"


def test_a_spend_window_between_two_amounts():
    spender = member(spend_in_window_fen={365: 12345})
    _, _, zh = why_not(rule(bonus(10), conditions=fact("member.spend_fen", "between", [yuan(1000), yuan(5000)],
                                                       window_days=365)), purchase(who=spender))
    assert zh == "最近 365 天累计消费 介于 1000.00 元 与 5000.00 元 之间 不成立（实际为 123.45 元）"


def test_a_choice_fact_reads_in_the_shops_words():
    _, _, zh = why_not(rule(bonus(10), conditions=fact("store.kind", "in", ["franchise"])), purchase(kind="direct"))
    assert zh == "门店类型 属于 加盟 不成立（实际为 直营）"      # as the marketer wrote it, not as folded
    _, _, zh = why_not(rule(bonus(10), conditions=fact("member.gender", "not_in", ["male", "unknown"])),
                       purchase(who=member(gender="unknown")))
    assert zh == "性别 不属于 男、未知 不成立（实际为 未知）"
    _, _, zh = why_not(rule(bonus(10), conditions=fact("member.age_group", "==", "18_24")), purchase())
    assert zh == "年龄段 等于 18–24 岁 不成立（实际为 25–34 岁）"


def test_a_lines_fact_says_what_the_basket_holds():
    bread_and_rice = basket(line("BREAD", "bakery", 1, 1200), line("RICE5KG", "rice", 1, yuan(50)))
    outcome, en, zh = why_not(rule(bonus(10), conditions=fact("item.category", "in", ["tea", "coffee"])),
                              purchase(lines=bread_and_rice))
    assert outcome == "not_matched" and "item.category in [coffee, tea] is false" in en
    assert zh == "商品品类 属于 coffee、tea 不成立（购物篮中为 bakery、rice）"
    _, _, zh = why_not(rule(bonus(10), conditions=fact("item.sku", "not_in", ["RICE5KG"])),
                       purchase(lines=bread_and_rice))
    assert zh == "商品编码 不属于 RICE5KG 不成立（购物篮中为 BREAD、RICE5KG）"
    _, _, zh = why_not(rule(bonus(10), conditions=fact("item.sku", "in", ["TEA01"])), purchase(lines=()))
    assert zh == "商品编码 属于 TEA01 不成立（购物篮为空）"


def test_chosen_items_weekdays_dates_and_nested_tests():
    _, _, zh = why_not(rule(bonus(10), conditions=fact("item.qty", ">=", 3, items={"categories": ["tea"],
                                                                                   "exclude_skus": ["T9"]})),
                       purchase())
    assert zh == "所选商品件数（品类 tea；不含商品 T9） 至少 3 不成立（实际为 0）"
    _, _, zh = why_not(rule(bonus(10), conditions=fact("time.date", "<", "2025-05-01")), purchase())
    assert zh == "日期 早于 2025-05-01 不成立（实际为 2025-06-04）"
    _, _, zh = why_not(rule(bonus(10), conditions={"any": [fact("member.birthday_today", "==", True),
                                                           fact("time.weekday", "in", [6, 7])]}), purchase())
    assert zh == "以下条件都不成立：今天生日 为 是 不成立（实际为 否）；星期 属于 周六、周日 不成立（实际为 周三）"
    _, _, zh = why_not(rule(bonus(10), conditions={"not": fact("member.tier", "==", "silver")}), purchase())
    assert zh == "不应满足“会员等级 等于 silver”，但满足了"


def test_an_unknown_birthday_is_unknown():
    _, _, zh = why_not(rule(bonus(10), conditions=fact("member.age", ">=", 18)),
                       purchase(who=member(birthday=None)))
    assert zh == "年龄 至少 18 不成立（实际为 未知）"


# ---------------------------------------------------------------- scope, validity, limits

def test_out_of_scope_store_tier_and_group_account():
    assert why_not(rule(bonus(10), scope={"stores": ["BJ001", "BJ002"]}), purchase(store="SH001")) == (
        "out_of_scope", "store SH001 is not in scope [BJ001, BJ002]", "门店 SH001 不在适用范围内（限 BJ001、BJ002）")
    assert why_not(rule(bonus(10), scope={"tiers": ["gold"]}), purchase())[2] == \
        "会员等级 silver 不在适用范围内（限 gold）"
    assert why_not(rule(bonus(10), scope={"store_kinds": ["franchise"]}), purchase())[2] == \
        "门店类型 直营 不在适用范围内（限 加盟）"
    assert why_not(rule(bonus(10), scope={"groups": ["ACME"]}), purchase())[2] == \
        "没有集团账户，不在适用范围内（限 ACME）"


def test_outside_validity_dates_weekdays_and_hours():
    assert why_not(rule(bonus(10), validity={"from": "2025-01-01", "to": "2025-01-31"}), purchase()) == (
        "outside_validity", "ended on 2025-01-31", "已于 2025-01-31 结束")
    assert why_not(rule(bonus(10), validity={"from": "2025-07-01"}), purchase())[2] == "2025-07-01 起生效，尚未开始"
    assert why_not(rule(bonus(10), validity={"weekdays": [6, 7]}), purchase()) == (
        "outside_validity", "weekday 3 is not in [6, 7]", "当天是周三，不在适用日（周六、周日）")
    evening = rule(bonus(10), validity={"hours": [{"from": "18:00", "to": "21:00"},
                                                  {"from": "07:00", "to": "09:30"}]})
    assert why_not(evening, purchase(at=datetime(2025, 6, 4, 12, 5))) == (
        "outside_validity", "2025-06-04 12:05 is outside its hours",
        "2025-06-04 12:05 不在适用时段（07:00–09:30、18:00–21:00）")


def test_limits_reached_in_times_points_and_yuan():
    assert why_not(rule(bonus(10), id=4, limits={"per_month": 2}),
                   purchase(usage={4: UsageCounts(this_month=2)})) == (
        "limit_reached", "limit reached: 2 of 2 this month", "已达上限：本月已用 2 次，上限 2 次")
    assert why_not(rule(bonus(10), id=5, limits={"budget_points": 500}),
                   purchase(budget_used={5: BudgetUsage(points=500, fen=0)}))[2] == \
        "积分预算已用完：已发 500 积分，预算 500 积分"
    assert why_not(rule({"type": "discount_fixed", "amount_fen": 500}, id=6, limits={"budget_fen": yuan(100)}),
                   purchase(budget_used={6: BudgetUsage(points=0, fen=10050)}))[2] == \
        "金额预算已用完：已用 100.50 元，预算 100.00 元"


def test_the_tills_limit_check_and_the_simulators_agree():
    limits = Limits(per_day=1, per_month=5, lifetime=9, budget_points=100, budget_fen=2000)
    for usage, budget in ((UsageCounts(today=1), None), (UsageCounts(this_month=5), None),
                          (UsageCounts(lifetime=9), None), (None, BudgetUsage(points=100, fen=0)),
                          (None, BudgetUsage(points=0, fen=2000)), (UsageCounts(), BudgetUsage(points=1, fen=1))):
        both = limits.why_not(usage, budget)
        assert bool(both) == limits.used_up(usage, budget)


# ---------------------------------------------------------------- the walk

def test_stop_exclusive_groups_status_and_events():
    rules = [rule(bonus(10), id=1, name="会员日", priority=10, stop=True),
             rule(bonus(10), id=2, name="基础积分"),
             rule(bonus(5), id=3, name="小额奖励", priority=20, exclusive_group="g"),
             rule(bonus(9), id=4, name="大额奖励", priority=20, exclusive_group="g"),
             rule(bonus(10), id=5, status="paused"),
             rule(bonus(10), id=6, event="topup"),
             rule({"type": "discount_fixed", "amount_fen": 500, "on": {"categories": ["tea"]}}, id=7, priority=30)]
    found = why(rules, purchase())
    assert found[2] == ("after_stop", "rule 1 (会员日) matched and stops lower rules",
                        "规则 1（会员日）已匹配，并停止执行后面的规则")
    assert found[3] == ("lost_exclusive", "rule 4 (大额奖励) is worth more in group g",
                        "互斥组 g 中规则 4（大额奖励）对会员更有利")
    assert found[5] == ("not_live", "status is paused", "状态为已暂停，未生效")
    assert found[6] == ("other_event", "runs on topup events", "只在充值事件时运行")
    assert found[7] == ("no_effect", "matched but had nothing to give", "已匹配，但没有可给予的内容")
    assert found[1] == found[4] == ("applied", "", "")


def test_an_event_without_a_store_is_out_of_a_store_scope():
    birthday = rule(bonus(10), id=1, event="birthday", scope={"tiers": ["gold"]})
    assert why([birthday], event("birthday"))[1][2] == "会员等级 silver 不在适用范围内（限 gold）"


# ---------------------------------------------------------------- conflicts

def conflict_messages(*rules: dict) -> dict[str, tuple[str, str]]:
    return {c.kind: (c.message, c.message_zh)
            for c in find_conflicts(compile_rules(list(rules), validate=True))}


def test_conflict_messages_in_both_languages():
    found = conflict_messages(
        rule(bonus(5), id=1, name="会员日", priority=10, stop=True, exclusive_group="g"),
        rule(bonus(9), id=2, name="双倍积分", exclusive_group="g"),
        rule(bonus(1), id=3, name="银卡专享", scope={"tiers": ["gold"]}, conditions=fact("member.tier", "==", "silver")))
    assert found["never_matches"] == (
        "rule 3 (银卡专享) can never match: its scope or conditions contradict each other",
        "规则 3（银卡专享）永远不会匹配：它的适用范围或条件相互矛盾")
    assert found["unreachable"] == (
        "rule 2 (双倍积分) never runs: rule 1 (会员日) always matches before it and says stop",
        "规则 2（双倍积分）永远不会执行：规则 1（会员日）总在它之前匹配，并停止执行后面的规则")
    assert found["exclusive_overlap"] == (
        "rules 1 (会员日) and 2 (双倍积分) can match the same event; group g gives only the better of them",
        "规则 1（会员日）和规则 2（双倍积分）可能在同一事件中同时匹配；互斥组 g 只给其中更优的一个")
