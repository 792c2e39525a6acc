"""Money is integer fen; points are integers. Every rounding rule lives here."""
from __future__ import annotations


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


def points_for_amount(amount_fen: int, points_per_yuan: int = 1, multiplier_pct: int = 100) -> int:
    """Earned points round DOWN: 25.90 yuan at 1 point per yuan is 25 points.

    All integers: ``multiplier_pct`` 150 means x1.5.
    """
    if amount_fen <= 0:
        return 0
    return (amount_fen * points_per_yuan * multiplier_pct) // (100 * 100)


def pro_rata_down(total: int, part: int, whole: int) -> int:
    """total * part / whole, rounded down (whole > 0)."""
    if whole <= 0:
        return 0
    return (total * part) // whole
