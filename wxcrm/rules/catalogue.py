"""Ready rule templates a marketer copies and adjusts: the programme the brand asked for.

Each template builds plain rule dicts (no ``id`` / ``version``: storage gives those),
in status ``draft`` so nothing goes live until someone switches it on. Amounts are fen,
percentages whole numbers. Every template validates and does what its title says
through the engine (tests/rules/test_catalogue.py).

    rules = TEMPLATES["birthday_extra_points"].rules()            # the defaults
    rules = TEMPLATES["free_renewal_on_spend"].rules(threshold_fen=200_000)

The membership-expiry templates are meant to be used together: at expiry the member
is renewed free when the year's spend reached the threshold, else renewed by points
when the balance pays for it, else cancelled (one exclusive group: all three are worth
nothing in points or money, so the higher priority wins); the points reset runs after
whichever of them applied.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

BIRTHDAY_THIS_MONTH = {"fact": "member.birthday_this_month", "op": "==", "value": True}


@dataclass(frozen=True)
class Template:
    key: str
    title_zh: str
    title_en: str
    build: Callable[..., list[dict]]

    def rules(self, **overrides) -> list[dict]:
        """Fresh copies of the template's rules, with any keyword parameter changed."""
        return copy.deepcopy(self.build(**overrides))


def points_per_amount_spent(*, rate: int = 1, per_yuan: int = 1,
                            excluded_categories: tuple[str, ...] = ()) -> list[dict]:
    action = {"type": "earn_points", "rate": rate, "per_yuan": per_yuan}
    if excluded_categories:
        action["on"] = {"exclude_categories": list(excluded_categories)}
    return [{
        "name": "消费积分", "name_en": "Points on purchases", "event": "purchase",
        "status": "draft", "priority": 0, "exclusive_group": "base_earn", "actions": [action],
        "description": "Every purchase earns points on what is paid, rounded down.",
    }]


BASE_EARNING = "points_per_amount_spent"


def base_earning_rule(*, rate: int = 1, per_yuan: int = 1) -> dict:
    """The programme's starting point, live: every purchase earns ``rate`` points per
    ``per_yuan`` yuan paid. A new install starts with it (migration 0004, ``init-db``) and
    so does the demo; the rules page shows it like any rule, and nothing switches it off
    but a person pausing it."""
    return {**points_per_amount_spent(rate=rate, per_yuan=per_yuan)[0], "status": "active"}


def birthday_extra_points(*, pct: int = 200) -> list[dict]:
    return [{
        "name": "生日当月双倍积分" if pct == 200 else "生日当月加倍积分",
        "name_en": "Birthday-month double points" if pct == 200 else "Birthday-month extra points",
        "event": "purchase", "status": "draft", "priority": 50, "exclusive_group": "birthday",
        "conditions": BIRTHDAY_THIS_MONTH,
        "actions": [{"type": "multiply_points", "pct": pct}],
    }]


def birthday_month_discount(*, pct_off: int = 10, times_per_month: int = 1) -> list[dict]:
    return [{
        "name": "生日月专享折扣", "name_en": "Birthday-month discount", "event": "purchase",
        "status": "draft", "priority": 60, "conditions": BIRTHDAY_THIS_MONTH,
        "actions": [{"type": "discount_percent", "pct": pct_off}],
        "limits": {"per_month": times_per_month},
    }]


def referral_on_first_purchase(*, points: int = 300, min_fen: int = 5_000, within_days: int = 30) -> list[dict]:
    """The referrer gets ``points`` when the referred member's first purchase comes to at
    least ``min_fen`` within ``within_days`` of joining. The referral event fires at signup
    and at each of the referred member's purchases until the rule has paid for them."""
    return [{
        "name": "推荐好友首单有礼", "name_en": "Referral: a friend's first purchase",
        "event": "referral", "status": "draft", "priority": 0,
        "conditions": {"all": [{"fact": "referred.first_purchase", "op": "==", "value": True},
                               {"fact": "basket.total_fen", "op": ">=", "value": min_fen},
                               {"fact": "referred.tenure_days", "op": "<=", "value": within_days}]},
        "actions": [{"type": "bonus_points", "points": points}],
    }]


def franchise_half_points(*, pct: int = 50) -> list[dict]:
    """Franchise stores earn ``pct`` % of the points (a multiplier below 100 %)."""
    return [{
        "name": "加盟店积分减半" if pct == 50 else "加盟店积分折算", "name_en": "Franchise stores earn less",
        "event": "purchase", "status": "draft", "priority": 20, "scope": {"store_kinds": ["franchise"]},
        "actions": [{"type": "multiply_points", "pct": pct}],
    }]


def staff_no_points(*, group: str = "STAFF") -> list[dict]:
    """Purchases by the cards of the staff group account earn no points at all."""
    return [{
        "name": "员工消费不积分", "name_en": "Staff purchases earn no points", "event": "purchase",
        "status": "draft", "priority": 1000, "scope": {"groups": [group]}, "actions": [{"type": "no_points"}],
    }]


def referral_bonus_points(*, points: int = 500, most_per_month: int = 10) -> list[dict]:
    # The referral event is evaluated for the member who referred (see context).
    return [{
        "name": "推荐有礼", "name_en": "Referral bonus", "event": "referral", "status": "draft",
        "priority": 0, "actions": [{"type": "bonus_points", "points": points}],
        "limits": {"per_month": most_per_month},
    }]


def free_renewal_on_spend(*, threshold_fen: int = 100_000, months: int = 12) -> list[dict]:
    return [{
        "name": "年消费达标免费续期", "name_en": "Free renewal for the year's spend",
        "event": "membership_expiry", "status": "draft", "priority": 300,
        "exclusive_group": "expiry_outcome",
        "conditions": {"fact": "member.spend_fen", "window_days": 365, "op": ">=",
                       "value": threshold_fen},
        "actions": [{"type": "renew_membership", "months": months}],
    }]


def renew_by_points(*, cost_points: int = 1000, months: int = 12) -> list[dict]:
    return [{
        "name": "积分续期", "name_en": "Renewal paid with points",
        "event": "membership_expiry", "status": "draft", "priority": 200,
        "exclusive_group": "expiry_outcome",
        "conditions": {"fact": "member.points_balance", "op": ">=", "value": cost_points},
        "actions": [{"type": "renew_membership", "months": months, "cost_points": cost_points}],
    }]


def cancel_on_low_spend(*, threshold_fen: int = 100_000) -> list[dict]:
    return [{
        "name": "年消费未达标取消会员", "name_en": "Cancel membership below the year's spend",
        "event": "membership_expiry", "status": "draft", "priority": 100,
        "exclusive_group": "expiry_outcome",
        "conditions": {"fact": "member.spend_fen", "window_days": 365, "op": "<",
                       "value": threshold_fen},
        "actions": [{"type": "cancel_membership"}],
    }]


def reset_points_on_expiry() -> list[dict]:
    return [{
        "name": "到期积分清零", "name_en": "Points reset at membership expiry",
        "event": "membership_expiry", "status": "draft", "priority": 0,
        "actions": [{"type": "reset_points"}],
    }]


def double_points_time_window(*, pct: int = 200, weekdays: tuple[int, ...] = (3,),
                              start: str = "10:00", end: str = "14:00") -> list[dict]:
    return [{
        "name": "会员日时段双倍积分", "name_en": "Member-day double points", "event": "purchase",
        "status": "draft", "priority": 40, "exclusive_group": "time_window",
        "validity": {"weekdays": list(weekdays), "hours": [{"from": start, "to": end}]},
        "actions": [{"type": "multiply_points", "pct": pct}],
    }]


# Names for the usual tier codes, so a rule's name never shows a raw code.
TIER_NAMES = {"normal": ("普卡", "Classic"), "silver": ("银卡", "Silver"), "gold": ("金卡", "Gold"),
              "platinum": ("白金卡", "Platinum"), "diamond": ("钻石卡", "Diamond")}


def points_per_tier_and_store(*, tier_rates: dict[str, int] | None = None,
                              store_rates: dict[str, int] | None = None,
                              franchise_per_yuan: int = 2, by_store_kind: bool = True,
                              tier_names: dict[str, tuple[str, str]] | None = None) -> list[dict]:
    """One exclusive group "base_earn": each purchase earns at the best rate it qualifies
    for: its store kind's, its tier's or its store's. ``by_store_kind=False`` leaves the
    store-kind rates out (the base earning rule, in the same group, covers every store).
    ``tier_names``: (Chinese, English) per tier code for the rules' names."""
    tier_rates = {"gold": 2, "platinum": 3} if tier_rates is None else tier_rates
    store_rates = {"SH001": 2} if store_rates is None else store_rates
    names = {**TIER_NAMES, **(tier_names or {})}
    rules = [
        {"name": "直营店消费积分", "name_en": "Points at direct stores", "event": "purchase",
         "status": "draft", "priority": 0, "exclusive_group": "base_earn",
         "scope": {"store_kinds": ["direct"]}, "actions": [{"type": "earn_points", "rate": 1}]},
        {"name": "加盟店消费积分", "name_en": "Points at franchise stores", "event": "purchase",
         "status": "draft", "priority": 0, "exclusive_group": "base_earn",
         "scope": {"store_kinds": ["franchise"]},
         "actions": [{"type": "earn_points", "rate": 1, "per_yuan": franchise_per_yuan}]},
    ] if by_store_kind else []
    for tier, rate in tier_rates.items():
        zh, en = names.get(tier, (tier, tier))
        rules.append({"name": f"{zh}等级积分", "name_en": f"{en} tier points",
                      "event": "purchase", "status": "draft", "priority": 10,
                      "exclusive_group": "base_earn", "scope": {"tiers": [tier]},
                      "actions": [{"type": "earn_points", "rate": rate}]})
    for store, rate in store_rates.items():
        rules.append({"name": f"{store} 门店积分", "name_en": f"Store {store} points",
                      "event": "purchase", "status": "draft", "priority": 10,
                      "exclusive_group": "base_earn", "scope": {"stores": [store]},
                      "actions": [{"type": "earn_points", "rate": rate}]})
    return rules


def topup_bonus_tiers(*, tiers: tuple[tuple[int, int], ...] = ((50_000, 5_000), (100_000, 15_000))) -> list[dict]:
    """Top up at least X, get Y stored value on top ("充 500 送 50, 充 1000 送 150"): one rule
    per step in one exclusive group, the bigger step with the higher priority, so a top-up
    gets the best step it reaches and only that one."""
    rules = []
    for i, (threshold, bonus) in enumerate(sorted(tiers)):
        yuan, extra = threshold // 100, bonus // 100
        rules.append({"name": f"充{yuan}送{extra}", "name_en": f"Top up {yuan}, get {extra} more",
                      "event": "topup", "status": "draft", "priority": 100 + i, "exclusive_group": "topup_bonus",
                      "conditions": {"fact": "topup.amount_fen", "op": ">=", "value": threshold},
                      "actions": [{"type": "bonus_stored_value", "amount_fen": bonus}]})
    return rules


def first_topup_points(*, points: int = 200, min_fen: int = 10_000) -> list[dict]:
    """The member's first top-up of at least ``min_fen`` earns ``points``."""
    return [{"name": "首充送积分", "name_en": "Points on the first top-up", "event": "topup", "status": "draft",
             "priority": 50, "conditions": {"all": [{"fact": "topup.first", "op": "==", "value": True},
                                                    {"fact": "topup.amount_fen", "op": ">=", "value": min_fen}]},
             "actions": [{"type": "bonus_points", "points": points}]}]


TEMPLATES: dict[str, Template] = {t.key: t for t in (
    Template("points_per_amount_spent", "按消费金额积分", "Points per amount spent",
             points_per_amount_spent),
    Template("birthday_extra_points", "生日额外积分", "Birthday extra points", birthday_extra_points),
    Template("birthday_month_discount", "生日月折扣", "Birthday-month discount",
             birthday_month_discount),
    Template("referral_bonus_points", "推荐奖励积分", "Referral bonus points", referral_bonus_points),
    Template("referral_on_first_purchase", "推荐好友首单有礼", "Referral: a friend's qualifying first purchase",
             referral_on_first_purchase),
    Template("franchise_half_points", "加盟店积分减半", "Franchise stores earn half", franchise_half_points),
    Template("staff_no_points", "员工消费不积分", "Staff purchases earn no points", staff_no_points),
    Template("free_renewal_on_spend", "年消费达标免费续期", "Free renewal when the year's spend "
             "reaches a threshold", free_renewal_on_spend),
    Template("cancel_on_low_spend", "年消费未达标取消会员", "Cancel membership when the year's "
             "spend misses the threshold", cancel_on_low_spend),
    Template("renew_by_points", "积分续期", "Renew membership with points", renew_by_points),
    Template("reset_points_on_expiry", "到期积分清零", "Points reset at membership expiry",
             reset_points_on_expiry),
    Template("double_points_time_window", "时段双倍积分", "Double points in a time window",
             double_points_time_window),
    Template("points_per_tier_and_store", "分等级、分门店积分", "Points per tier and per store",
             points_per_tier_and_store),
    Template("topup_bonus_tiers", "充值赠送（阶梯）", "Top-up bonus in steps", topup_bonus_tiers),
    Template("first_topup_points", "首充送积分", "Points on the first top-up", first_topup_points),
)}


def export_templates() -> list[dict]:
    """Every template with its default rules, for the console's "new from template"."""
    return [{"key": t.key, "title_zh": t.title_zh, "title_en": t.title_en, "rules": t.rules()}
            for t in TEMPLATES.values()]
