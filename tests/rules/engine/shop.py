"""Builders for rule-engine tests: members, baskets, purchases and rules in the shop's words.

Pure: no database, no Flask app. Every rule goes through the full validation before it
is compiled, so a test can never pass on a rule storage would refuse.
"""
from __future__ import annotations

import itertools
from datetime import date, datetime

from wxcrm.rules.compiler import compile_rules
from wxcrm.rules.context import BasketLine, EvaluationContext, MemberFacts
from wxcrm.rules.engine import EvaluationResult, evaluate

WEDNESDAY_NOON = datetime(2025, 6, 4, 12, 0)     # a Wednesday in June
_ids = itertools.count(1000)


def yuan(amount: int) -> int:
    """Whole yuan in fen: yuan(200) == 20000."""
    return amount * 100


def member(**facts) -> MemberFacts:
    facts.setdefault("id", 7)
    facts.setdefault("joined_on", date(2023, 3, 1))
    facts.setdefault("tier", "silver")
    facts.setdefault("birthday", date(1990, 11, 20))
    facts.setdefault("purchase_count", 5)
    return MemberFacts(**facts)


def line(sku: str, category: str, qty: int, unit_price_fen: int, line_no: int = 0) -> BasketLine:
    return BasketLine(line_no, sku, category, qty, unit_price_fen)


def basket(*lines: BasketLine) -> tuple[BasketLine, ...]:
    """Numbers the lines 1, 2, 3... as the receipt does."""
    return tuple(BasketLine(i, l.sku, l.category, l.qty, l.unit_price_fen)
                 for i, l in enumerate(lines, start=1))


def purchase(total_fen: int | None = None, *, lines: tuple[BasketLine, ...] | None = None,
             who: MemberFacts | None = None, at: datetime = WEDNESDAY_NOON, store: str = "SH001",
             kind: str = "direct", paid_by: str = "wechat_pay", event: str = "purchase",
             **more) -> EvaluationContext:
    """A purchase; ``purchase(yuan(200))`` is one 200-yuan line of groceries."""
    if lines is None:
        lines = basket(line("RICE5KG", "rice", 1, yuan(100) if total_fen is None else total_fen))
    return EvaluationContext(event=event, member=who or member(), local_time=at, store_code=store,
                             store_kind=kind, payment_method=paid_by, lines=lines, **more)


def event(name: str, *, who: MemberFacts | None = None, at: datetime = WEDNESDAY_NOON,
          **more) -> EvaluationContext:
    """An event without a basket: a top-up, a birthday, a membership expiry..."""
    return EvaluationContext(event=name, member=who or member(), local_time=at, **more)


def rule(*actions: dict, **fields) -> dict:
    """An active purchase rule with a fresh id; actions are given as dicts."""
    fields.setdefault("id", next(_ids))
    fields.setdefault("version", 1)
    fields.setdefault("name", f"rule {fields['id']}")
    fields.setdefault("event", "purchase")
    fields.setdefault("status", "active")
    fields["actions"] = list(actions) or [{"type": "bonus_points", "points": 10}]
    return fields


def earn(rate: int = 1, **more) -> dict:
    return {"type": "earn_points", "rate": rate, **more}


def bonus(points: int, **more) -> dict:
    return {"type": "bonus_points", "points": points, **more}


def fact(name: str, op: str, value, **more) -> dict:
    return {"fact": name, "op": op, "value": value, **more}


def run(rules: list[dict], ctx: EvaluationContext, *, trace: bool = False,
        **compile_options) -> EvaluationResult:
    compiled = compile_rules(rules, validate=True, **compile_options)
    return evaluate(compiled, ctx, trace=trace)


def points_of(result: EvaluationResult, rule_id: int | None = None) -> int:
    return sum(e.points for e in result.effects
               if e.kind == "points" and (rule_id is None or e.rule_id == rule_id))


def fired(result: EvaluationResult) -> list[int]:
    return [a.rule_id for a in result.applied]
