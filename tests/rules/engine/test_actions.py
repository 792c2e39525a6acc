"""Every action a rule can take, as the till would print it."""
from __future__ import annotations

from datetime import date

from tests.rules.engine.shop import basket, bonus, earn, event, fact, line, member, points_of, purchase, rule, run, yuan

TEA = line("TEA01", "tea", 2, 1500)          # 30.00
CAKE = line("CAKE9", "cake", 1, 8800)        # 88.00
CIGARETTES = line("CIG20", "tobacco", 1, 2500)


def test_earn_points_per_yuan_rounds_down():
    result = run([rule(earn(1), name="消费积分", name_en="Points")], purchase(2590))
    (effect,) = result.effects
    assert effect.kind == "points" and effect.points == 25
    assert effect.text_zh == "消费积分：消费 25.90 元，每元 1 积分，+25 积分"
    assert effect.text_en == "Points: 25.90 yuan spent at 1 point per yuan, +25 points"


def test_earn_one_point_per_ten_yuan():
    assert run([rule(earn(1, per_yuan=10))], purchase(yuan(199))).points == 19


def test_the_part_paid_with_points_earns_nothing():
    assert run([rule(earn(1))], purchase(yuan(100), points_payment_fen=yuan(30))).points == 70


def test_earning_can_leave_out_tobacco():
    offer = rule(earn(1, on={"exclude_categories": ["tobacco"]}))
    assert run([offer], purchase(lines=basket(CAKE, CIGARETTES))).points == 88


def test_a_top_up_can_earn_points_on_its_amount():
    assert run([rule(earn(1), event="topup")], event("topup", topup_amount_fen=yuan(300))).points == 300


def test_fixed_bonus_points():
    result = run([rule(bonus(50), name="周三加赠", name_en="Wednesday bonus")], purchase(yuan(10)))
    assert [e.text_zh for e in result.effects] == ["周三加赠：+50 积分"]
    assert result.points == 50


def test_a_birthday_member_buying_200_yuan_gets_double_points():
    base = rule(earn(1), name="消费积分")
    birthday = rule({"type": "multiply_points", "pct": 200}, name="生日当月双倍积分",
                    name_en="Birthday-month double points",
                    conditions=fact("member.birthday_this_month", "==", True))
    in_june = member(birthday=date(1990, 6, 18))
    result = run([base, birthday], purchase(yuan(200), who=in_june))
    assert result.points == 400
    assert "生日当月双倍积分：积分 ×2，+200 积分" in [e.text_zh for e in result.effects]


def test_multipliers_add_up_on_earned_points_only():
    rules = [rule(earn(1)), rule(bonus(100)),
             rule({"type": "multiply_points", "pct": 200}),
             rule({"type": "multiply_points", "pct": 150})]
    # 100 earned, +100 (x2), +50 (x1.5), +100 bonus untouched by either multiplier.
    assert run(rules, purchase(yuan(100))).points == 350


def test_points_can_stay_pending_for_a_return_window():
    result = run([rule(earn(1, pending_days=7))], purchase(yuan(100)))
    assert result.effects[0].pending_days == 7
    assert result.effects[0].text_zh.endswith("（7 天后可用）")


def test_a_hold_rule_keeps_every_points_line_pending():
    rules = [rule(earn(1)), rule(bonus(20)), rule({"type": "hold_points", "days": 14}, id=9)]
    result = run(rules, purchase(yuan(100), kind="franchise"))
    assert {e.pending_days for e in result.effects} == {14}
    assert 9 in [a.rule_id for a in result.applied]


def test_ten_percent_off_the_basket_rounds_down_for_the_shop():
    result = run([rule({"type": "discount_percent", "pct": 10}, name="九折", name_en="10% off")],
                 purchase(999))
    (effect,) = result.effects
    assert (effect.kind, effect.amount_fen, effect.line_discounts) == ("discount", 99, ((1, 99),))
    assert effect.text_zh == "九折：九折，优惠 0.99 元"


def test_a_percentage_off_matched_items_only():
    offer = rule({"type": "discount_percent", "pct": 20, "on": {"categories": ["tea"]}})
    (effect,) = run([offer], purchase(lines=basket(CAKE, TEA))).effects
    assert effect.amount_fen == 600 and effect.line_discounts == ((2, 600),)


def test_a_fixed_discount_never_exceeds_the_basket():
    (effect,) = run([rule({"type": "discount_fixed", "amount_fen": yuan(50)})], purchase(yuan(30))).effects
    assert effect.amount_fen == yuan(30)


def test_a_fixed_discount_per_item():
    offer = rule({"type": "discount_fixed", "amount_fen": 200, "per_item": True,
                  "on": {"skus": ["TEA01"]}})
    assert run([offer], purchase(lines=basket(TEA, CAKE))).discount_fen == 400


def test_points_are_earned_after_discounts():
    rules = [rule({"type": "discount_fixed", "amount_fen": yuan(20)}, priority=10), rule(earn(1))]
    result = run(rules, purchase(yuan(100)))
    assert result.discount_fen == yuan(20) and result.points == 80


def test_issue_a_coupon():
    (effect,) = run([rule({"type": "issue_coupon", "template": "WELCOME10"})], purchase()).effects
    assert effect.kind == "coupon" and effect.params["template"] == "WELCOME10"


def test_bonus_stored_value_on_a_top_up():
    rules = [rule({"type": "bonus_stored_value", "pct": 10}, event="topup",
                  name="充值送 10%", name_en="Top-up bonus")]
    (effect,) = run(rules, event("topup", topup_amount_fen=yuan(500))).effects
    assert (effect.kind, effect.amount_fen) == ("stored_value_bonus", yuan(50))
    assert effect.text_zh == "充值送 10%：赠送储值 50.00 元"


def test_renew_membership_for_a_year():
    (effect,) = run([rule({"type": "renew_membership", "months": 12}, event="membership_expiry")],
                    event("membership_expiry")).effects
    assert effect.kind == "renew" and effect.params["months"] == 12


def test_renewal_paid_with_points_needs_the_points():
    offer = rule({"type": "renew_membership", "months": 12, "cost_points": 1000},
                 event="membership_expiry")
    assert run([offer], event("membership_expiry", who=member(points_balance=999))).effects == ()
    (effect,) = run([offer], event("membership_expiry", who=member(points_balance=1000))).effects
    assert effect.params["cost_points"] == 1000


def test_cancel_membership():
    (effect,) = run([rule({"type": "cancel_membership"}, event="membership_expiry")],
                    event("membership_expiry")).effects
    assert effect.kind == "cancel"


def test_set_tier():
    (effect,) = run([rule({"type": "set_tier", "tier": "gold"}, event="schedule")],
                    event("schedule")).effects
    assert effect.kind == "set_tier" and effect.params["tier"] == "gold"


def test_reset_points():
    (effect,) = run([rule({"type": "reset_points"}, event="membership_expiry")],
                    event("membership_expiry")).effects
    assert effect.kind == "reset_points"


def test_send_a_wechat_template_message():
    offer = rule({"type": "send_message", "template": "birthday_greeting",
                  "data": {"first": "生日快乐"}}, event="birthday")
    (effect,) = run([offer], event("birthday")).effects
    assert effect.kind == "message"
    assert effect.params["template"] == "birthday_greeting"
    assert effect.params["data"]["first"] == "生日快乐"


def test_every_effect_names_its_rule_and_version():
    result = run([rule(earn(1), id=41, version=3, name="消费积分")], purchase(yuan(10)))
    (effect,) = result.effects
    assert (effect.rule_id, effect.rule_version, effect.rule_name) == (41, 3, "消费积分")
    assert points_of(result, 41) == 10
