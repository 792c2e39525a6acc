"""Page parameters: parsed and clamped on every page, so ``?page=abc`` or ``?page=1e99`` is page 1
(or the last page we would ever show), never a 500."""
from __future__ import annotations

from flask import request

MAX_PAGE = 10_000


def int_arg(name: str, default: int | None = None, *, low: int = 1, high: int = 2**31,
            form: bool = False) -> int | None:
    """A whole-number query (or form) parameter, or ``default`` when missing or not a number; clamped."""
    raw = ((request.form if form else request.args).get(name) or "").strip()
    if not raw or len(raw) > 12 or not raw.lstrip("-").isdigit():
        return default
    return min(max(int(raw), low), high)


def page_arg(name: str = "page") -> int:
    return int_arg(name, 1, low=1, high=MAX_PAGE)
