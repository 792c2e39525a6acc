"""Every condition a marketer can use, each shown holding and not holding.

Each case is a rule "if <condition> then +10 points" and two events: one that meets the
condition and one that does not.
"""
from __future__ import annotations

from datetime import date, datetime

import pytest

from tests.rules.engine.shop import basket, bonus, event, fact, line, member, purchase, rule, run, yuan
from wxcrm.rules.context import ReferredFacts
from wxcrm.rules.facts import FACTS

TEA = line("TEA01", "tea", 2, 1500)
CAKE = line("CAKE9", "cake", 1, 8800)
BIRTHDAY_WEEK = datetime(2025, 11, 18, 10, 0)   # Tuesday; birthday on Thursday 20 November

CASES = [
    # (fact test, event that meets it, event that does not)
    ("basket.total_fen", fact("basket.total_fen", ">=", yuan(200)),
     purchase(yuan(200)), purchase(yuan(199))),
    ("item.sku", fact("item.sku", "in", ["TEA01"]),
     purchase(lines=basket(TEA, CAKE)), purchase(lines=basket(CAKE))),
    ("item.category", fact("item.category", "not_in", ["tobacco"]),
     purchase(lines=basket(TEA)), purchase(lines=basket(TEA, line("CIG", "tobacco", 1, 2500)))),
    ("item.qty", fact("item.qty", ">=", 3, items={"categories": ["tea"]}),
     purchase(lines=basket(TEA, line("TEA02", "tea", 1, 900))), purchase(lines=basket(TEA, CAKE))),
    ("item.amount_fen", fact("item.amount_fen", "between", [yuan(50), yuan(100)],
                             items={"skus": ["CAKE9"]}),
     purchase(lines=basket(CAKE)), purchase(lines=basket(TEA))),
    ("store.code", fact("store.code", "in", ["SH001", "SH002"]),
     purchase(store="SH002"), purchase(store="BJ001")),
    ("store.kind", fact("store.kind", "==", "franchise"),
     purchase(kind="franchise"), purchase(kind="direct")),
    ("payment.method", fact("payment.method", "==", "stored_value"),
     purchase(paid_by="stored_value"), purchase(paid_by="cash")),
    ("member.tier", fact("member.tier", "in", ["gold", "platinum"]),
     purchase(who=member(tier="gold")), purchase(who=member(tier="silver"))),
    ("member.age", fact("member.age", ">=", 35),
     purchase(who=member(birthday=date(1990, 6, 4))), purchase(who=member(birthday=date(1990, 6, 5)))),
    ("member.age_group", fact("member.age_group", "==", "25_34"),
     purchase(who=member(birthday=date(1995, 1, 1))), purchase(who=member(birthday=None))),
    ("member.gender", fact("member.gender", "==", "female"),
     purchase(who=member(gender="female")), purchase(who=member(gender="male"))),
    ("member.district", fact("member.district", "in", ["浦东新区"]),
     purchase(who=member(district="浦东新区")), purchase(who=member(district="徐汇区"))),
    ("member.tenure_days", fact("member.tenure_days", ">=", 365),
     purchase(who=member(joined_on=date(2024, 6, 4))), purchase(who=member(joined_on=date(2024, 6, 5)))),
    ("member.tenure_months", fact("member.tenure_months", ">=", 12),
     purchase(who=member(joined_on=date(2024, 6, 4))), purchase(who=member(joined_on=date(2024, 6, 5)))),
    ("member.first_purchase", fact("member.first_purchase", "==", True),
     purchase(who=member(purchase_count=0)), purchase(who=member(purchase_count=1))),
    ("member.purchase_count", fact("member.purchase_count", ">=", 3, window_days=30),
     purchase(who=member(purchases_in_window={30: 3})), purchase(who=member(purchases_in_window={30: 2}))),
    ("member.spend_fen", fact("member.spend_fen", ">=", yuan(1000), window_days=365),
     purchase(who=member(spend_in_window_fen={365: yuan(1000)})),
     purchase(who=member(spend_in_window_fen={365: yuan(999)}))),
    ("member.birthday_today", fact("member.birthday_today", "==", True),
     purchase(who=member(birthday=date(1990, 6, 4))), purchase(who=member(birthday=date(1990, 6, 5)))),
    ("member.birthday_this_week", fact("member.birthday_this_week", "==", True),
     purchase(at=BIRTHDAY_WEEK), purchase(at=datetime(2025, 11, 24, 10, 0))),
    ("member.birthday_this_month", fact("member.birthday_this_month", "==", True),
     purchase(at=datetime(2025, 11, 1, 9, 0)), purchase(at=datetime(2025, 12, 1, 9, 0))),
    ("member.referral_count", fact("member.referral_count", ">", 2),
     purchase(who=member(referral_count=3)), purchase(who=member(referral_count=2))),
    ("member.status", fact("member.status", "!=", "cancelled"),
     purchase(who=member(status="expired")), purchase(who=member(status="cancelled"))),
    ("member.group", fact("member.group", "==", "ACME"),
     purchase(who=member(group="ACME")), purchase(who=member(group=None))),
    ("member.points_balance", fact("member.points_balance", "<", 100),
     purchase(who=member(points_balance=99)), purchase(who=member(points_balance=100))),
    ("time.date", fact("time.date", "between", ["2025-06-01", "2025-06-07"]),
     purchase(at=datetime(2025, 6, 7, 23, 59)), purchase(at=datetime(2025, 6, 8, 0, 0))),
    ("time.weekday", fact("time.weekday", "in", [6, 7]),
     purchase(at=datetime(2025, 6, 7, 12)), purchase(at=datetime(2025, 6, 6, 12))),
    ("time.hour", fact("time.hour", "between", [7, 9]),
     purchase(at=datetime(2025, 6, 4, 9, 59)), purchase(at=datetime(2025, 6, 4, 10, 0))),
    ("referred.tenure_days", fact("referred.tenure_days", "<=", 30),
     purchase(event="referral", referred=ReferredFacts(9, date(2025, 5, 5))),
     purchase(event="referral", referred=ReferredFacts(9, date(2025, 5, 4)))),
    ("referred.purchase_count", fact("referred.purchase_count", "<", 2),
     purchase(event="referral", referred=ReferredFacts(9, date(2025, 5, 5), purchase_count=1)),
     purchase(event="referral", referred=ReferredFacts(9, date(2025, 5, 5), purchase_count=2))),
    ("referred.first_purchase", fact("referred.first_purchase", "==", True),
     purchase(event="referral", referred=ReferredFacts(9, date(2025, 5, 5), first_purchase=True)),
     event("referral", referred=ReferredFacts(9, date(2025, 6, 4)))),
    ("topup.amount_fen", fact("topup.amount_fen", ">=", yuan(500)),
     event("topup", topup_amount_fen=yuan(500)), event("topup", topup_amount_fen=yuan(499))),
    ("topup.first", fact("topup.first", "==", True),
     event("topup", topup_amount_fen=yuan(500), first_topup=True), event("topup", topup_amount_fen=yuan(500))),
    ("payment.methods", fact("payment.methods", "in", ["stored_value"]),
     purchase(paid_by="split", payment_methods=("stored_value", "cash")),
     purchase(paid_by="split", payment_methods=("wechat_pay", "cash"))),
]


@pytest.mark.parametrize("name, test, meets, misses", CASES, ids=[c[0] for c in CASES])
def test_a_condition_gives_the_bonus_only_when_it_holds(name, test, meets, misses):
    offer = rule(bonus(10), event=meets.event, conditions=test)
    assert run([offer], meets).points == 10
    assert run([offer], misses).points == 0


def test_every_fact_in_the_catalogue_has_a_case():
    assert {c[0] for c in CASES} == set(FACTS)


def test_all_any_and_not_compose():
    """Tea lovers who are not on a franchise till, or anyone spending 500 yuan."""
    offer = rule(bonus(10), conditions={"any": [
        {"all": [fact("item.category", "in", ["tea"]),
                 {"not": fact("store.kind", "==", "franchise")}]},
        fact("basket.total_fen", ">=", yuan(500))]})
    assert run([offer], purchase(lines=basket(TEA))).points == 10
    assert run([offer], purchase(lines=basket(TEA), kind="franchise")).points == 0
    assert run([offer], purchase(yuan(500), kind="franchise")).points == 10


def test_a_member_without_a_birthday_is_no_age_at_all():
    young, old = (rule(bonus(10), conditions=fact("member.age", "<", 30)),
                  rule(bonus(20), conditions=fact("member.age", ">=", 30)))
    assert run([young, old], purchase(who=member(birthday=None))).points == 0


def test_a_leap_day_birthday_is_celebrated_on_28_february_in_common_years():
    offer = rule(bonus(10), conditions=fact("member.birthday_today", "==", True))
    leapling = member(birthday=date(2000, 2, 29))
    assert run([offer], purchase(who=leapling, at=datetime(2025, 2, 28, 12))).points == 10
    assert run([offer], purchase(who=leapling, at=datetime(2024, 2, 28, 12))).points == 0


def test_a_birthday_week_runs_across_new_year():
    offer = rule(bonus(10), conditions=fact("member.birthday_this_week", "==", True))
    new_years_baby = member(birthday=date(1990, 1, 2))
    # Monday 29 December 2025 to Sunday 4 January 2026.
    assert run([offer], purchase(who=new_years_baby, at=datetime(2025, 12, 30, 12))).points == 10
