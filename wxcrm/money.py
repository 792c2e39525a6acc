"""Money is integer fen; points are integers. Display, parsing, and the arithmetic that
rounds or spreads money or points, each written once here: the engine, the till,
refunds, simulation and the backtest all call these, so they cannot disagree.
"""
from __future__ import annotations

from typing import Sequence


def fen_to_yuan_str(fen: int, grouped: bool = False) -> str:
    """2590 -> '25.90'; grouped: 12252450 -> '122,524.50' (display only; never parsed back)."""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    whole = f"{fen // 100:,}" if grouped else str(fen // 100)
    return f"{sign}{whole}.{fen % 100:02d}"


def yuan_str_to_fen(text: str) -> int:
    """'25.9' -> 2590, exactly, without floats. Raises ValueError on bad input."""
    text = text.strip()
    neg = text.startswith("-")
    if neg:
        text = text[1:]
    whole, _, frac = text.partition(".")
    if not (whole or frac) or (whole and not whole.isdigit()) or (frac and not frac.isdigit()) or len(frac) > 2:
        raise ValueError(f"not an amount in yuan: {text!r}")
    fen = int(whole or "0") * 100 + int((frac + "00")[:2])
    return -fen if neg else fen


def points_for_amount(amount_fen: int, points_per_yuan: int = 1) -> int:
    """Earned points round DOWN: 25.90 yuan at 1 point per yuan is 25 points."""
    if amount_fen <= 0:
        return 0
    return amount_fen * points_per_yuan // 100


def percent_of(amount: int, pct: int) -> int:
    """``pct`` percent of ``amount``, rounded down (a 10 % discount on 0.99 yuan is 0.09)."""
    return amount * pct // 100


def pro_rata_down(total: int, part: int, whole: int) -> int:
    """total * part / whole, rounded down (0 when whole is not positive)."""
    if whole <= 0:
        return 0
    return (total * part) // whole


def cumulative_share(total: int, before: int, after: int, whole: int, *, last: bool = False) -> int:
    """The part of ``total`` that belongs to the slice (before, after] of ``whole``, worked
    out cumulatively (each slice is the difference of two rounded-down prefixes), so the
    slices of partial refunds add up exactly to ``total``; ``last`` takes whatever is left."""
    if last:
        return total - pro_rata_down(total, before, whole)
    return pro_rata_down(total, after, whole) - pro_rata_down(total, before, whole)


def spread(amount: int, weights: Sequence[int]) -> list[int]:
    """Split ``amount`` (0 <= amount <= sum(weights)) in proportion to ``weights``.

    Each share is rounded down, then the fen left over go one each to the largest
    remainders (ties to the earlier line), so no share is ever more than its weight and
    the shares add up to ``amount`` exactly: 31 fen over lines of 101 and 202 fen is
    [10, 21].
    """
    whole = sum(weights)
    if amount <= 0 or whole <= 0:
        return [0] * len(weights)
    if amount > whole:
        raise ValueError(f"cannot spread {amount} over {whole}")
    shares = []
    remainders = []
    for i, w in enumerate(weights):
        share, rem = divmod(amount * w, whole)
        shares.append(share)
        if rem:
            remainders.append((-rem, i))
    rest = amount - sum(shares)
    if rest:
        remainders.sort()
        for _, i in remainders[:rest]:
            shares[i] += 1
    return shares
