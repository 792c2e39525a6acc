"""Simulation: what a basket would earn under the live or a draft rule set, and why
each rule did or did not apply. Reads; never writes."""
from __future__ import annotations

from datetime import date
from typing import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxcrm.config import Settings
from wxcrm.errors import DomainError, NotFound
from wxcrm.members.models import Member, Store
from wxcrm.rules.conflicts import find_conflicts
from wxcrm.rules.context import BasketLine, EvaluationContext, MemberFacts, ReferredFacts
from wxcrm.rules.engine import evaluate
from wxcrm.rules.live import draft_rule_set, live_rule_set, tier_names
from wxcrm.rules.member_facts import member_facts
from wxcrm.rules.usage import budgets_used, membership_anchor, usage_for
from wxcrm.timeutil import to_local, utcnow


def _described_member(data: Mapping, today: date) -> MemberFacts:
    """A member described by a marketer ("a gold member whose birthday is today")."""
    def day(key):
        value = data.get(key)
        return date.fromisoformat(value) if isinstance(value, str) and value else None

    def windows(key):
        return {int(k): int(v) for k, v in (data.get(key) or {}).items()}

    return MemberFacts(
        id=0, joined_on=day("joined_on") or today, tier=data.get("tier"), status=data.get("status", "active"),
        birthday=day("birthday"), gender=data.get("gender", "unknown"), district=data.get("district", ""),
        group=data.get("group"), expires_on=day("expires_on"), purchase_count=int(data.get("purchase_count", 0)),
        purchases_in_window=windows("purchases_in_window"), spend_in_window_fen=windows("spend_in_window_fen"),
        referral_count=int(data.get("referral_count", 0)), points_balance=int(data.get("points_balance", 0)))


def _referred(data: Mapping | None, today: date) -> ReferredFacts | None:
    """The referred member of a simulated `referral` event ("joined 3 days ago, first purchase")."""
    if data is None:
        return None
    joined = data.get("joined_on")
    try:
        joined_on = date.fromisoformat(joined) if isinstance(joined, str) and joined else today
        count = int(data.get("purchase_count", 0) or 0)
    except (TypeError, ValueError):
        raise DomainError("referred needs joined_on (YYYY-MM-DD) and a whole purchase_count", code="invalid_referred",
                          fields={"referred": "invalid"}) from None
    return ReferredFacts(id=int(data.get("member_id") or 0), joined_on=joined_on, purchase_count=count,
                         first_purchase=bool(data.get("first_purchase", False)))


def _lines(items: list[Mapping]) -> tuple[BasketLine, ...]:
    out = []
    for i, item in enumerate(items):
        try:
            qty, price = int(item["qty"]), int(item["unit_price_fen"])
        except (KeyError, TypeError, ValueError):
            raise DomainError(f"items.{i} needs whole-number qty and unit_price_fen", code="invalid_item",
                              fields={f"items.{i}": "qty and unit_price_fen required"}) from None
        if qty <= 0 or price < 0:
            raise DomainError(f"items.{i}: qty must be positive and price not negative", code="invalid_item",
                              fields={f"items.{i}": "out of range"})
        out.append(BasketLine(i + 1, str(item.get("sku", "")), str(item.get("category", "")), qty, price))
    return tuple(out)


def simulate(session: Session, data: Mapping, *, settings: Settings, points_balance_of=None) -> dict:
    """``points_balance_of(member_id, today)``: a real member's spendable points (the caller
    reads the ledger; the rules never do)."""
    tz = settings.tz
    point_value = settings.point_value_fen
    at = data.get("at")
    local = (at.replace(tzinfo=tz) if at and at.tzinfo is None else at.astimezone(tz)) if at else to_local(utcnow(), tz)
    today = local.date()
    draft = data.get("rules")
    compiled = (draft_rule_set(draft, point_value_fen=point_value, tier_names=tier_names(session)) if draft is not None
                else live_rule_set(session, point_value_fen=point_value))

    store = session.scalar(select(Store).where(Store.code == str(data.get("store_code", "")).upper()))
    store_kind = store.kind if store else data.get("store_kind")
    usage = {}
    if data.get("member_id") is not None:
        member = session.get(Member, data["member_id"])
        if member is None:
            raise NotFound(f"no member {data['member_id']}", code="member_not_found")
        balance = points_balance_of(member.id, today) if points_balance_of else 0
        facts = member_facts(session, member, today=today, compiled=compiled, points_balance=balance)
        usage = usage_for(session, member.id, [r.id for r in compiled.rules if r.limits], today,
                          membership_anchor(member))
    else:
        facts = _described_member(data.get("member") or {}, today)
    budgets = budgets_used(session)

    lines = _lines(data.get("items") or [])
    points_payment = int(data.get("points_to_use", 0)) * point_value
    ctx = EvaluationContext(event=data.get("event", "purchase"), member=facts, local_time=local,
                            store_code=store.code if store else data.get("store_code"), store_kind=store_kind,
                            payment_method=data.get("payment_method"), lines=lines,
                            points_payment_fen=points_payment, topup_amount_fen=int(data.get("topup_amount_fen", 0)),
                            first_topup=bool(data.get("first_topup", False)),
                            payment_methods=tuple(str(m) for m in data.get("payment_methods") or ()),
                            usage=usage, budget_used=budgets, referred=_referred(data.get("referred"), today),
                            paid_rules=frozenset(int(i) for i in data.get("paid_rule_ids") or ()))
    result = evaluate(compiled, ctx, trace=True)
    total = sum(line.amount_fen for line in lines)
    discount = min(result.discount_fen, total)
    return {
        "at": local.isoformat(),
        "totals": {"total_fen": total, "discount_fen": discount,
                   "payable_fen": max(total - discount - points_payment, 0), "points": result.points},
        "effects": [{"kind": e.kind, "rule_id": e.rule_id, "rule_version": e.rule_version, "rule": e.rule_name,
                     "points": e.points, "pending_days": e.pending_days, "amount_fen": e.amount_fen,
                     "item_lines": list(e.item_lines),
                     "line_discounts": [{"line_no": n, "amount_fen": fen} for n, fen in e.line_discounts],
                     "params": dict(e.params), "text": e.text_zh,
                     "text_en": e.text_en} for e in result.effects],
        "rules": [{"rule_id": t.rule_id, "rule_version": t.rule_version, "rule": t.rule_name,
                   "outcome": t.outcome, "matched": t.matched, "reason": t.reason, "reason_zh": t.reason_zh}
                  for t in result.trace],
        "conflicts": [{"kind": c.kind, "rule_ids": list(c.rule_ids), "message": c.message,
                       "message_zh": c.message_zh} for c in find_conflicts(compiled)],
        "points_breakdown": points_breakdown(compiled, result.effects),
        "budget_policy": BUDGET_POLICY,
        "budgets": budgets_left(compiled, ctx.event, budgets),
        "earning_rules": [r.id for r in compiled.rules if r.status in compiled.live_statuses
                          and r.event == "purchase" and any(a.type == "earn_points" for a in r.actions)],
    }


# A grant bigger than what is left of a rule's budget gives what is left (see payout._capped).
BUDGET_POLICY = "partial"
_POINTS_ACTIONS = ("earn_points", "multiply_points", "bonus_points")


def points_breakdown(compiled, effects) -> dict:
    """The points of one event by step: earned (earn_points), multipliers (each adds
    (pct - 100) % of the earned points, below 100 % it takes away; together never below
    zero), bonuses, and the total."""
    out = {"earned": 0, "multipliers": 0, "bonus": 0, "total": 0}
    key = {"earn_points": "earned", "multiply_points": "multipliers", "bonus_points": "bonus"}
    for effect in effects:
        if effect.kind != "points":
            continue
        types = {a.type for a in compiled.rule(effect.rule_id).actions if a.type in _POINTS_ACTIONS}
        kind = "multiply_points" if effect.points < 0 else (types.pop() if len(types) == 1 else "earn_points")
        out[key[kind]] += effect.points
        out["total"] += effect.points
    return out


def budgets_left(compiled, event: str, used) -> list[dict]:
    """Every live budgeted rule of the event: its budget and what is left of it."""
    out = []
    for rule in compiled.rules:
        if rule.event != event or rule.status not in compiled.live_statuses:
            continue
        if rule.budget_points is None and rule.budget_fen is None:
            continue
        spent = used.get(rule.id)
        row = {"rule_id": rule.id, "rule": rule.name}
        if rule.budget_points is not None:
            row.update(budget_points=rule.budget_points,
                       points_left=max(rule.budget_points - (spent.points if spent else 0), 0))
        if rule.budget_fen is not None:
            row.update(budget_fen=rule.budget_fen, fen_left=max(rule.budget_fen - (spent.fen if spent else 0), 0))
        out.append(row)
    return out
