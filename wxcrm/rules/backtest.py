"""Backtest: replay the last N days of real purchases through a draft rule set beside
the live one, and report what each would have given. Reads in batches; writes nothing.

Each purchase is evaluated as it was: the member's facts are rebuilt as of that
moment from a running history kept in memory (a few queries per batch for members
first seen, then nothing per purchase). Each rule set keeps its own limit counters,
starting from what stored rules had already given each member before the window (so
a once-a-month rule binds as it did at the till); budgets start from zero.
"""
from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from wxcrm.config import Settings
from wxcrm.members.models import GroupAccount, Member, Store, Tier
from wxcrm.rules.compiler import CompiledRuleSet
from wxcrm.rules.context import BasketLine, BudgetUsage, EvaluationContext, MemberFacts, UsageCounts
from wxcrm.rules.engine import evaluate
from wxcrm.rules.live import draft_rule_set, live_rule_set, proposed_rule_set
from wxcrm.sales.models import Transaction, TransactionBenefit, TransactionItem
from wxcrm.sales.queries import net_fen


@dataclass
class RuleTotals:
    rule_id: int
    rule_name: str
    purchases: int = 0
    points: int = 0
    discount_fen: int = 0
    coupons: int = 0
    stored_value_fen: int = 0
    members: set = field(default_factory=set)

    def as_dict(self) -> dict:
        return {"rule_id": self.rule_id, "rule": self.rule_name, "purchases": self.purchases, "points": self.points,
                "discount_fen": self.discount_fen, "coupons": self.coupons,
                "stored_value_fen": self.stored_value_fen, "members": len(self.members)}


@dataclass
class SetTotals:
    rules: dict[int, RuleTotals] = field(default_factory=dict)
    points: int = 0
    discount_fen: int = 0
    coupons: int = 0
    members: set = field(default_factory=set)
    usage: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    budgets: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    def as_dict(self) -> dict:
        return {"points": self.points, "discount_fen": self.discount_fen, "coupons": self.coupons,
                "members": len(self.members),
                "rules": sorted((r.as_dict() for r in self.rules.values()), key=lambda r: r["rule_id"])}


@dataclass
class _History:
    """One member's purchases as the replay walks forward in time."""
    count_before: int
    recent: deque  # (business_date, signed fen, is_purchase), oldest first


def run_backtest(session: Session, settings: Settings, *, days: int, today: date,
                 draft_rules: list[dict] | None = None) -> dict:
    """Replay the last ``days`` of purchases through a draft set (default: the live rules
    plus every draft) beside the live one."""
    point_value = settings.point_value_fen
    live = live_rule_set(session, point_value_fen=point_value)
    draft = (draft_rule_set(draft_rules, point_value_fen=point_value) if draft_rules is not None
             else proposed_rule_set(session, point_value_fen=point_value))
    return backtest(session, live=live, draft=draft, days=days, today=today, tz=settings.tz)


def backtest(session: Session, *, live: CompiledRuleSet, draft: CompiledRuleSet, days: int, today: date,
             tz: ZoneInfo, batch_size: int = 1000) -> dict:
    start = today - timedelta(days=days - 1)
    windows = sorted(set(live.spend_windows) | set(draft.spend_windows)
                     | set(live.purchase_windows) | set(draft.purchase_windows))
    longest = max(windows, default=0)
    sets = {"live": SetTotals(), "draft": SetTotals()}
    compiled = {"live": live, "draft": draft}
    histories: dict[int, _History] = {}
    members: dict[int, Member] = {}
    stores = {s.id: s for s in session.scalars(select(Store))}
    tiers = {t.id: t.code for t in session.scalars(select(Tier))}
    groups = {g.id: g.code for g in session.scalars(select(GroupAccount))}
    replayed = 0
    actual = {"points": 0, "discount_fen": 0, "payable_fen": 0}
    last_id = 0
    while True:
        batch = list(session.scalars(
            select(Transaction).where(Transaction.id > last_id, Transaction.business_date >= start,
                                      Transaction.business_date <= today, Transaction.member_id.is_not(None))
            .order_by(Transaction.id).limit(batch_size)))
        if not batch:
            break
        last_id = batch[-1].id
        items = defaultdict(list)
        for it in session.scalars(select(TransactionItem).where(
                TransactionItem.transaction_id.in_([t.id for t in batch])).order_by(TransactionItem.line_no)):
            items[it.transaction_id].append(it)
        new = {t.member_id for t in batch} - set(members)
        _load_new_members(session, new, members, histories, start, longest)
        _load_prior_usage(session, new, start, sets.values())
        for txn in batch:
            history = histories[txn.member_id]
            if txn.kind == "purchase":
                member = members[txn.member_id]
                local = txn.created_at.replace(tzinfo=timezone.utc).astimezone(tz)
                facts = _facts_then(member, history, txn.business_date, windows, tiers, groups)
                store = stores[txn.store_id]
                lines = tuple(BasketLine(it.line_no, it.sku, it.category, it.qty, it.unit_price_fen)
                              for it in items[txn.id])
                for name, totals in sets.items():
                    _replay(compiled[name], totals, facts, txn, store, lines, local)
                replayed += 1
                actual["points"] += txn.points_earned
                actual["discount_fen"] += txn.discount_fen
                actual["payable_fen"] += txn.payable_fen
            _remember(history, txn)
    return {"days": days, "from": start.isoformat(), "to": today.isoformat(), "purchases": replayed,
            "actual": actual, "live": sets["live"].as_dict(), "draft": sets["draft"].as_dict(),
            "difference": {k: sets["draft"].as_dict()[k] - sets["live"].as_dict()[k]
                           for k in ("points", "discount_fen", "coupons")}}


def _load_new_members(session, ids, members, histories, start: date, longest: int) -> None:
    if not ids:
        return
    for m in session.scalars(select(Member).where(Member.id.in_(ids))):
        members[m.id] = m
    counts = dict(session.execute(select(Transaction.member_id, func.count(Transaction.id))
                                  .where(Transaction.member_id.in_(ids), Transaction.kind == "purchase",
                                         Transaction.business_date < start)
                                  .group_by(Transaction.member_id)).all())
    for member_id in ids:
        histories[member_id] = _History(int(counts.get(member_id, 0)), deque())
    if longest:
        for txn in session.scalars(select(Transaction).where(
                Transaction.member_id.in_(ids), Transaction.business_date < start,
                Transaction.business_date > start - timedelta(days=longest + 1)).order_by(Transaction.id)):
            histories[txn.member_id].recent.append(_row(txn))  # already in count_before


def _load_prior_usage(session, ids, start: date, sets) -> None:
    """What stored rules already gave these members before the window, so limits
    (per month, lifetime) bind in the replay as they did at the till."""
    if not ids:
        return
    month_start, month_key = start.replace(day=1), start.strftime("%Y-%m")
    rows = session.execute(
        select(Transaction.member_id, TransactionBenefit.rule_id,
               func.count(func.distinct(Transaction.id)),
               func.count(func.distinct(case((Transaction.business_date >= month_start, Transaction.id)))))
        .join(TransactionBenefit, TransactionBenefit.transaction_id == Transaction.id)
        .where(Transaction.member_id.in_(ids), Transaction.kind == "purchase", Transaction.business_date < start,
               TransactionBenefit.rule_id.is_not(None))
        .group_by(Transaction.member_id, TransactionBenefit.rule_id)).all()
    for member_id, rule_id, lifetime, this_month in rows:
        for totals in sets:
            counts = totals.usage[member_id].setdefault(rule_id, defaultdict(int))
            counts["-"] += lifetime
            counts[month_key] += this_month


def _row(txn: Transaction) -> tuple[date, int, bool]:
    return txn.business_date, net_fen(txn.kind, txn.payable_fen), txn.kind == "purchase"


def _remember(history: _History, txn: Transaction) -> None:
    history.recent.append(_row(txn))
    history.count_before += txn.kind == "purchase"


def _facts_then(member: Member, history: _History, day: date, windows, tiers, groups) -> MemberFacts:
    horizon = day - timedelta(days=max(windows, default=0))
    while history.recent and history.recent[0][0] <= horizon:  # older than any window: forget
        history.recent.popleft()
    purchases_in, spend_in = {}, {}
    for days in windows:
        since = day - timedelta(days=days)
        purchases_in[days] = sum(1 for d, _, p in history.recent if d > since and p)
        spend_in[days] = sum(f for d, f, _ in history.recent if d > since)
    return MemberFacts(id=member.id, joined_on=member.joined_on, tier=tiers.get(member.tier_id), status="active",
                       birthday=member.birthday, gender=member.gender, district=member.district,
                       group=groups.get(member.group_id), expires_on=member.expires_on,
                       purchase_count=history.count_before, purchases_in_window=purchases_in,
                       spend_in_window_fen=spend_in)


def _replay(compiled: CompiledRuleSet, totals: SetTotals, facts: MemberFacts, txn: Transaction, store: Store,
            lines: tuple[BasketLine, ...], local: datetime) -> None:
    day, month = local.date().isoformat(), local.strftime("%Y-%m")
    usage = {}
    for rule_id, counts in totals.usage.get(facts.id, {}).items():
        usage[rule_id] = UsageCounts(today=counts.get(day, 0), this_month=counts.get(month, 0),
                                   lifetime=counts.get("-", 0))
    budgets = {rid: BudgetUsage(points=p, fen=f) for rid, (p, f) in totals.budgets.items()}
    ctx = EvaluationContext(event="purchase", member=facts, local_time=local, store_code=store.code,
                            store_kind=store.kind, payment_method=txn.payment_method, lines=lines,
                            points_payment_fen=txn.points_redeemed_fen, usage=usage, budget_used=budgets)
    result = evaluate(compiled, ctx)
    if not result.effects:
        return
    total = sum(line.amount_fen for line in lines)
    touched = False
    for effect in result.effects:
        rt = totals.rules.setdefault(effect.rule_id, RuleTotals(effect.rule_id, effect.rule_name))
        if effect.kind == "points":
            rt.points += effect.points
            totals.points += effect.points
        elif effect.kind == "discount":
            rt.discount_fen += effect.amount_fen
        elif effect.kind == "coupon":
            n = int(effect.params.get("count", 1))
            rt.coupons += n
            totals.coupons += n
        elif effect.kind == "stored_value_bonus":
            rt.stored_value_fen += effect.amount_fen
        rt.members.add(facts.id)
        touched = True
    totals.discount_fen += min(result.discount_fen, total)
    for applied in result.applied:
        totals.rules[applied.rule_id].purchases += 1
        counts = totals.usage[facts.id].setdefault(applied.rule_id, defaultdict(int))
        for key in (day, month, "-"):
            counts[key] += 1
        budget = totals.budgets[applied.rule_id]
        budget[0] += applied.points
        budget[1] += applied.fen
    if touched:
        totals.members.add(facts.id)
