"""The seam between the till and the rule engine.

Until rule sets are stored, a purchase earns the one configured rate
(WXCRM_POINTS_PER_YUAN), rounded down, on what the member actually paid.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from wxcrm.money import fen_to_yuan_str, points_for_amount
from wxcrm.rules.effects import Effect


@dataclass
class BasketLine:
    line_no: int
    sku: str
    category: str
    qty: int
    unit_price_fen: int

    @property
    def amount_fen(self) -> int:
        return self.qty * self.unit_price_fen


@dataclass
class PurchaseFacts:
    """What checkout knows about one purchase before asking the rules."""
    store_code: str
    store_kind: str
    payment_method: str
    lines: list[BasketLine]
    local_time: datetime            # merchant time zone
    member_id: int | None = None
    points_payment_fen: int = 0     # the part paid with points earns nothing
    extra: dict = field(default_factory=dict)

    @property
    def total_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)


def purchase_effects(session: Session, facts: PurchaseFacts, *, points_per_yuan: int) -> list[Effect]:
    """Discount effects first, then points on the amount left to pay."""
    if facts.member_id is None:
        return []
    base = max(facts.total_fen - facts.points_payment_fen, 0)
    points = points_for_amount(base, points_per_yuan)
    if points <= 0:
        return []
    amount = fen_to_yuan_str(base)
    return [Effect(
        kind="points", rule_name="base_earn", points=points,
        text_zh=f"消费 {amount} 元，每元 {points_per_yuan} 积分",
        text_en=f"{points_per_yuan} point(s) per yuan on {amount} yuan spent",
    )]
