"""Coupon codes: 15 random Crockford base-32 symbols from ``secrets`` (75 bits) and a
Luhn mod 32 check symbol, printed in groups of four (``K7QM-2XRB-9HCT-4WNP``).

Crockford's alphabet has no I, L, O or U, so a code read aloud or typed from a receipt
survives: typing reads ``I``/``L`` as 1 and ``O`` as 0, ignores case, spaces and dashes.
The check symbol catches every single wrong symbol and most swapped neighbours before
the database is asked.
"""
from __future__ import annotations

import base64
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
N = len(ALPHABET)
RANDOM_SYMBOLS = 15                       # 15 x 5 bits = 75 bits of secrets
LENGTH = RANDOM_SYMBOLS + 1
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_TYPOS = str.maketrans({"I": "1", "L": "1", "O": "0"})


def check_symbol(body: str) -> str:
    """Luhn mod N over the body: every second symbol from the right is doubled."""
    total, factor = 0, 2
    for ch in reversed(body):
        addend = factor * _VALUE[ch]
        total += addend // N + addend % N
        factor = 1 if factor == 2 else 2
    return ALPHABET[(N - total % N) % N]


def new_code() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_SYMBOLS))
    return body + check_symbol(body)


_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"            # base64.b32encode's alphabet ...
_TO_CROCKFORD = str.maketrans(_B32, ALPHABET)     # ... symbol for symbol onto ours
_DOUBLED = {c: (2 * v) // N + (2 * v) % N for c, v in _VALUE.items()}


def _check_fast(body: str) -> str:
    """``check_symbol`` with table look-ups (the same symbol; for many codes at once)."""
    total = sum(map(_DOUBLED.__getitem__, body[::-2])) + sum(map(_VALUE.__getitem__, body[-2::-2]))
    return ALPHABET[(N - total % N) % N]


def new_codes(n: int) -> list[str]:
    """``n`` new codes at once, distinct: 75 random bits each from ``secrets`` as in
    ``new_code``, spelled by base-32 encoding and a translation (fast for 100,000)."""
    found: dict[str, None] = {}
    while len(found) < n:
        want = n - len(found)
        # 10 bytes are exactly 16 base-32 symbols: one encoding for all, each code's 16th dropped
        spelled = base64.b32encode(secrets.token_bytes(10 * want)).decode().translate(_TO_CROCKFORD)
        for i in range(0, 16 * want, 16):
            body = spelled[i:i + RANDOM_SYMBOLS]
            found[body + _check_fast(body)] = None
    return list(found)


def normalise(typed: str) -> str | None:
    """The stored form of a typed or scanned code, or None when it cannot be one."""
    text = "".join((typed or "").split()).replace("-", "").upper().translate(_TYPOS)
    if len(text) != LENGTH or any(c not in _VALUE for c in text):
        return None
    return text if check_symbol(text[:-1]) == text[-1] else None


def pretty(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))
