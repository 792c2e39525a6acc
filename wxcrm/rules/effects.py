"""What the rule engine returns and checkout/topups/jobs apply.

Pure data: no database, no Flask. Every effect names the rule (and version) that
gave it and carries a human sentence in zh-CN and English for the receipt and the
member's points history.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

# kind -> what the applier does with it
EFFECT_KINDS = (
    "points",          # credit `points` (pending for `pending_days` if > 0); negative: a
                       # multiplier below 100 % takes them off what this event earned
    "no_points",       # a no_points rule: this event earns no points (the receipt says which rule)
    "discount",        # take `amount_fen` off the basket, line by line as `line_discounts` says
    "coupon",          # issue coupon template params["template"] (coupons package)
    "stored_value_bonus",  # credit `amount_fen` bonus stored value (top-ups)
    "renew",           # extend membership by params["months"]
    "cancel",          # cancel membership
    "set_tier",        # params["tier"] = tier code
    "reset_points",    # expire every remaining point
    "message",         # queue WeChat template params["template"] with params
)


@dataclass(frozen=True)
class Effect:
    kind: str
    rule_name: str
    text_zh: str
    text_en: str
    rule_id: int | None = None
    rule_version: int | None = None
    points: int = 0
    pending_days: int = 0
    amount_fen: int = 0
    # Discounts: (line number, fen) for every basket line the discount came off, adding up
    # to amount_fen. The till records these per line as they are; nothing re-spreads them.
    line_discounts: tuple[tuple[int, int], ...] = ()
    params: Mapping[str, object] = field(default_factory=dict)

    @property
    def item_lines(self) -> tuple[int, ...]:
        """The basket lines (1-based) a discount came off."""
        return tuple(line_no for line_no, _ in self.line_discounts)
