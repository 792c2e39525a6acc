"""Receipt wording: the sentences a till prints and a member's points history shows.

The fixed parts of each action's sentence are worked out once, when the rule is
compiled (``phrases``); the pay-out only puts the numbers in between. Amounts are
shown in yuan with two decimals, worked out from integer fen.

The words the simulator's Chinese reasons are made of (operators, weekdays, events,
the codes of choice facts) live here too, so the console and the receipt speak alike.
"""
from __future__ import annotations

from wxcrm.money import fen_to_yuan_str


def phrases(action_type: str, params: dict, name: str, name_en: str) -> tuple[tuple[str, ...],
                                                                              tuple[str, ...]]:
    """(zh parts, en parts) of the sentence; the numbers go between the parts.

    earn_points: yuan, points; multiply_points and bonus_points: points; discounts and
    stored value: yuan. Other actions have fixed sentences (see payout).
    """
    if action_type == "earn_points":
        rate_zh, rate_en = rate_words(params)
        return ((f"{name}：消费 ", f" 元，{rate_zh}，+", " 积分"),
                (f"{name_en}: ", f" yuan spent at {rate_en}, +", " points"))
    if action_type == "multiply_points":
        factor = multiplier_factor(params["pct"])
        return (f"{name}：积分 ×{factor}，+", " 积分"), (f"{name_en}: points x{factor}, +", " points")
    if action_type == "bonus_points":
        return (f"{name}：+", " 积分"), (f"{name_en}: +", " points")
    if action_type == "discount_percent":
        pct = params["pct"]
        return (f"{name}：{zhe(pct)}，优惠 ", " 元"), (f"{name_en}: {pct}% off, ", " yuan off")
    if action_type == "discount_fixed":
        return (f"{name}：立减 ", " 元"), (f"{name_en}: ", " yuan off")
    if action_type == "bonus_stored_value":
        return (f"{name}：赠送储值 ", " 元"), (f"{name_en}: ", " yuan bonus stored value")
    return (), ()


def yuan(fen: int) -> str:
    """12345 -> '123.45' for the non-negative amounts a receipt shows (money.fen_to_yuan_str
    handles signs too)."""
    return "%d.%02d" % divmod(fen, 100)


def rate_words(params: dict) -> tuple[str, str]:
    rate, per_yuan = params["rate"], params.get("per_yuan", 1)
    unit_en = "point" if rate == 1 else "points"
    if per_yuan == 1:
        return f"每元 {rate} 积分", f"{rate} {unit_en} per yuan"
    return f"每 {per_yuan} 元 {rate} 积分", f"{rate} {unit_en} per {per_yuan} yuan"


def multiplier_factor(pct: int) -> str:
    """200 -> '2', 150 -> '1.5', 125 -> '1.25' (integers only)."""
    whole, rest = divmod(pct, 100)
    return str(whole) if not rest else f"{whole}.{rest:02d}".rstrip("0")


def zhe(pct_off: int) -> str:
    """10 % off is 九折, 15 % off is 八五折, the way a Chinese shop says it."""
    paid = 100 - pct_off
    if paid <= 0:
        return "免费"
    digits = "零一二三四五六七八九"
    tens, units = divmod(paid, 10)
    if tens == 0:
        return f"优惠 {pct_off}%"
    return f"{digits[tens]}{digits[units] if units else ''}折"


# ---------------------------------------------------------------- the simulator's Chinese

# How a condition's operator reads in a Chinese sentence ("购物篮总额 至少 300.00 元").
OP_ZH = {"==": "等于", "!=": "不等于", ">": "大于", ">=": "至少", "<": "小于", "<=": "至多",
         "between": "介于", "in": "属于", "not_in": "不属于"}
# Dates read as early and late rather than as amounts.
DATE_OP_ZH = {**OP_ZH, ">": "晚于", ">=": "不早于", "<": "早于", "<=": "不晚于"}
WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
EVENTS_ZH = {"purchase": "消费", "refund": "退货", "topup": "充值", "signup": "注册入会",
             "referral": "推荐", "birthday": "生日（每日）", "membership_expiry": "会员到期",
             "schedule": "定时"}
RULE_STATUSES_ZH = {"draft": "草稿", "active": "有效", "paused": "已暂停", "archived": "已归档"}
# The codes of choice facts (and the common payment methods) in the console's words.
VALUES_ZH = {
    "store.kind": {"direct": "直营", "franchise": "加盟"},
    "member.gender": {"male": "男", "female": "女", "unknown": "未知"},
    "member.status": {"active": "有效", "expired": "已过期", "cancelled": "已注销"},
    "member.age_group": {"under_18": "18 岁以下", "18_24": "18–24 岁", "25_34": "25–34 岁",
                         "35_44": "35–44 岁", "45_54": "45–54 岁", "55_64": "55–64 岁",
                         "65_plus": "65 岁及以上"},
    "payment.method": {"wechat_pay": "微信支付", "cash": "现金", "card": "银行卡",
                       "stored_value": "储值", "alipay": "支付宝", "other": "其他"},
}
VALUES_ZH["payment.methods"] = VALUES_ZH["payment.method"]


def money_zh(fen: int) -> str:
    """12345 -> '123.45 元'."""
    return f"{fen_to_yuan_str(fen)} 元"


def weekday_zh(day: int) -> str:
    """ISO weekday 1..7 -> 周一..周日 (anything else as it is)."""
    return WEEKDAYS_ZH[day - 1] if isinstance(day, int) and 1 <= day <= 7 else str(day)


def clock(minute_of_day: int) -> str:
    """630 -> '10:30'; 1440 -> '24:00'."""
    hours, minutes = divmod(minute_of_day, 60)
    return f"{hours:02d}:{minutes:02d}"


def listed_zh(words) -> str:
    """Several values the Chinese way: 'a、b、c'."""
    return "、".join(words)
