"""Receipt wording: the sentences a till prints and a member's points history shows.

The fixed parts of each action's sentence are worked out once, when the rule is
compiled (``phrases``); the pay-out only puts the numbers in between. Amounts are
shown in yuan with two decimals, worked out from integer fen.
"""
from __future__ import annotations


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
