"""Backtest: replay the last N days of real purchases and refunds through a draft rule set
beside the live one, and report what each would have given. Reads in batches; writes
nothing.

Each transaction is replayed as the till saw it, in the order the till got them:

* **The member then**: their facts rebuilt as of that moment from a running history kept
  in memory (a few queries per batch for members first seen, then nothing per
  purchase), with the tier they held then (their history of tier changes).
* **Limits**: each rule set keeps its own counters (per day, month, year, membership
  year and lifetime), starting from what stored rules had already given each member
  before the window, so a once-a-month rule binds as it did at the till. Budgets start
  from zero.
* **Refunds**: a refund that completes the refund of a purchase gives that purchase's
  limit uses (and budget) back, as the till does (``usage.release_usage``), so a
  once-a-month birthday discount can be used again that month.
* **Referrals**: a purchase by a referred member fires the `referral` event for the
  referrer until every referral rule has paid for them, as the till does; what referral
  rules give is reported beside the purchases' totals (``referral_points``).

Replaying the live set reproduces the till exactly, except for rules reading a member's
points balance (the replay does not rebuild balances) or a member who was not active.
"""
from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from wxcrm.config import Settings
from wxcrm.members.models import GroupAccount, Member, MemberChange, Store, Tier
from wxcrm.rules.compiler import CompiledRuleSet
from wxcrm.rules.context import (
    BasketLine,
    BudgetUsage,
    EvaluationContext,
    MemberFacts,
    ReferredFacts,
    UsageCounts,
)
from wxcrm.rules.engine import evaluate
from wxcrm.rules.live import draft_rule_set, live_rule_set, proposed_rule_set
from wxcrm.rules.models import ReferralPayout
from wxcrm.rules.usage import membership_anchor, period_keys
from wxcrm.sales.models import Transaction, TransactionBenefit, TransactionItem
from wxcrm.sales.queries import net_fen

PERIODS = ("day", "month", "year", "myear", "life")


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
    referral_points: int = 0
    members: set = field(default_factory=set)
    # member id -> rule id -> period key -> count (keys as usage.period_keys makes them)
    usage: dict = field(default_factory=lambda: defaultdict(dict))
    budgets: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    # purchase id -> what this set's rules gave on it [(rule id, points, fen)]: a full refund gives it back
    given: dict = field(default_factory=dict)
    # referred member id -> the referral rules that paid for them
    referral_paid: dict = field(default_factory=lambda: defaultdict(set))

    def as_dict(self) -> dict:
        return {"points": self.points, "discount_fen": self.discount_fen, "coupons": self.coupons,
                "referral_points": self.referral_points, "members": len(self.members),
                "rules": sorted((r.as_dict() for r in self.rules.values()), key=lambda r: r["rule_id"])}


@dataclass
class _History:
    """One member's purchases as the replay walks forward in time."""
    count_before: int
    recent: deque  # (business_date, signed fen, is_purchase), in the order the till got them
    latest_day: date | None = None


@dataclass
class _Known:
    """What the replay keeps of the members it has met."""
    members: dict = field(default_factory=dict)                # id -> Member
    histories: dict = field(default_factory=dict)              # id -> _History
    tier_changes: dict = field(default_factory=lambda: defaultdict(list))   # id -> [MemberChange]
    referred_joined: dict = field(default_factory=lambda: defaultdict(list))  # referrer id -> [joined_on]


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
    referral_rules = {name: {r.id for r in c.rules if r.event == "referral" and r.status in c.live_statuses}
                      for name, c in compiled.items()}
    known = _Known()
    stores = {s.id: s for s in session.scalars(select(Store))}
    tier_codes = {t.id: t.code for t in session.scalars(select(Tier))}
    groups = {g.id: g.code for g in session.scalars(select(GroupAccount))}
    replayed = 0
    actual = {"points": 0, "discount_fen": 0, "payable_fen": 0, "referral_points": 0}
    left_to_refund: dict[int, dict[int, int]] = {}         # purchase id -> line number -> units not refunded
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
        # Coupons are not the rules' doing: the actual discount compared is the rules' part.
        coupon_off = dict(session.execute(
            select(TransactionBenefit.transaction_id, func.sum(TransactionBenefit.amount_fen))
            .where(TransactionBenefit.transaction_id.in_([t.id for t in batch]), TransactionBenefit.kind == "coupon_used")
            .group_by(TransactionBenefit.transaction_id)).all())
        buyers = {t.member_id for t in batch}
        new = buyers - set(known.members)
        _load_new_members(session, new, known, start, longest)
        referrers = {known.members[m].referrer_id for m in buyers if known.members[m].referrer_id} - set(known.members)
        _load_new_members(session, referrers, known, start, longest)
        _load_prior_usage(session, new | referrers, start, tz, known, sets.values())
        _load_referrals(session, new | referrers, start, known, sets.values())
        for txn in batch:
            history = known.histories[txn.member_id]
            member = known.members[txn.member_id]
            if txn.kind == "purchase":
                local = txn.created_at.replace(tzinfo=timezone.utc).astimezone(tz)
                tier = _tier_then(known, member, txn, tier_codes)
                facts = _facts_then(member, history, txn.business_date, windows, tier, groups)
                store = stores[txn.store_id]
                lines = tuple(BasketLine(it.line_no, it.sku, it.category, it.qty, it.unit_price_fen)
                              for it in items[txn.id])
                left_to_refund[txn.id] = {it.line_no: it.qty for it in items[txn.id]}
                for name, totals in sets.items():
                    _replay(compiled[name], totals, facts, txn, store, lines, local, membership_anchor(member))
                if member.referrer_id is not None:
                    _replay_referral(session, known, sets, compiled, referral_rules, member, txn, store, lines,
                                     local, history, windows, tier_codes, groups)
                replayed += 1
                actual["points"] += txn.points_earned
                actual["discount_fen"] += txn.discount_fen - int(coupon_off.get(txn.id) or 0)
                actual["payable_fen"] += txn.payable_fen
            elif txn.original_id is not None:
                _replay_refund(session, txn, items[txn.id], left_to_refund, sets, known)
            _remember(history, txn)
    actual["referral_points"] = int(session.scalar(
        select(func.coalesce(func.sum(ReferralPayout.points), 0))
        .join(Transaction, Transaction.id == ReferralPayout.transaction_id)
        .where(Transaction.business_date >= start, Transaction.business_date <= today)) or 0)
    live_totals, draft_totals = sets["live"].as_dict(), sets["draft"].as_dict()
    return {"days": days, "from": start.isoformat(), "to": today.isoformat(), "purchases": replayed,
            "actual": actual, "live": live_totals, "draft": draft_totals,
            "difference": {k: draft_totals[k] - live_totals[k]
                           for k in ("points", "discount_fen", "coupons", "referral_points")}}


# ---------------------------------------------------------------- loading what came before

def _load_new_members(session: Session, ids, known: _Known, start: date, longest: int) -> None:
    if not ids:
        return
    for m in session.scalars(select(Member).where(Member.id.in_(ids))):
        known.members[m.id] = m
    counts = dict(session.execute(select(Transaction.member_id, func.count(Transaction.id))
                                  .where(Transaction.member_id.in_(ids), Transaction.kind == "purchase",
                                         Transaction.business_date < start)
                                  .group_by(Transaction.member_id)).all())
    for member_id in ids:
        known.histories[member_id] = _History(int(counts.get(member_id, 0)), deque())
    if longest:
        for txn in session.scalars(select(Transaction).where(
                Transaction.member_id.in_(ids), Transaction.business_date < start,
                Transaction.business_date > start - timedelta(days=longest + 1)).order_by(Transaction.id)):
            known.histories[txn.member_id].recent.append(_row(txn))  # already in count_before
    for change in session.scalars(select(MemberChange).where(MemberChange.member_id.in_(ids),
                                                             MemberChange.field == "tier")
                                  .order_by(MemberChange.id)):
        known.tier_changes[change.member_id].append(change)
    for referrer_id, joined_on in session.execute(select(Member.referrer_id, Member.joined_on)
                                                  .where(Member.referrer_id.in_(ids))):
        known.referred_joined[referrer_id].append(joined_on)


def _load_prior_usage(session: Session, ids, start: date, tz: ZoneInfo, known: _Known, sets) -> None:
    """What stored rules already gave these members before the window, counted as the till
    counted it: a purchase whose refund (before the window) was complete gave its uses back.
    Lifetime counts come from SQL; the dated counters from the last year's rows."""
    if not ids:
        return
    refunded_before = _fully_refunded_before(session, ids, start)
    recent_from = start - timedelta(days=400)
    rows = session.execute(
        select(Transaction.member_id, TransactionBenefit.rule_id, Transaction.id, Transaction.business_date)
        .join(TransactionBenefit, TransactionBenefit.transaction_id == Transaction.id)
        .where(Transaction.member_id.in_(ids), Transaction.kind == "purchase", Transaction.business_date < start,
               TransactionBenefit.rule_id.is_not(None))
        .group_by(Transaction.member_id, TransactionBenefit.rule_id, Transaction.id, Transaction.business_date)).all()
    for member_id, rule_id, txn_id, day in rows:
        if txn_id in refunded_before:
            continue
        keys = period_keys(day, membership_anchor(known.members[member_id]))
        for totals in sets:
            counts = totals.usage[member_id].setdefault(rule_id, defaultdict(int))
            for period in PERIODS:
                if period == "life" or day >= recent_from:
                    counts[(period, keys[period])] += 1
    # Referral rules count for the referrer when they paid (outside the replay: at signup,
    # or for a purchase before the window).
    for payout, paid_on in session.execute(
            select(ReferralPayout, Transaction.business_date)
            .join(Transaction, Transaction.id == ReferralPayout.transaction_id, isouter=True)
            .where(ReferralPayout.referrer_id.in_(ids),
                   or_(ReferralPayout.transaction_id.is_(None), Transaction.business_date < start))):
        day = paid_on or payout.created_at.replace(tzinfo=timezone.utc).astimezone(tz).date()
        keys = period_keys(day, membership_anchor(known.members[payout.referrer_id]))
        for totals in sets:
            counts = totals.usage[payout.referrer_id].setdefault(payout.rule_id, defaultdict(int))
            for period in PERIODS:
                counts[(period, keys[period])] += 1


def _fully_refunded_before(session: Session, member_ids, start: date) -> set[int]:
    """The members' purchases whose refunds before ``start`` returned every unit."""
    bought = dict(session.execute(
        select(TransactionItem.transaction_id, func.sum(TransactionItem.qty))
        .join(Transaction, Transaction.id == TransactionItem.transaction_id)
        .where(Transaction.member_id.in_(member_ids), Transaction.kind == "purchase",
               Transaction.business_date < start)
        .group_by(TransactionItem.transaction_id)).all())
    returned = session.execute(
        select(Transaction.original_id, func.sum(TransactionItem.qty))
        .join(TransactionItem, TransactionItem.transaction_id == Transaction.id)
        .where(Transaction.member_id.in_(member_ids), Transaction.kind == "refund",
               Transaction.business_date < start, Transaction.original_id.is_not(None))
        .group_by(Transaction.original_id)).all()
    return {original for original, qty in returned if original in bought and qty >= bought[original]}


def _load_referrals(session: Session, ids, start: date, known: _Known, sets) -> None:
    """The referral rules that paid for these (referred) members outside the replay."""
    referred = [m for m in ids if known.members[m].referrer_id is not None]
    if not referred:
        return
    for rule_id, referred_id in session.execute(
            select(ReferralPayout.rule_id, ReferralPayout.referred_id)
            .join(Transaction, Transaction.id == ReferralPayout.transaction_id, isouter=True)
            .where(ReferralPayout.referred_id.in_(referred),
                   or_(ReferralPayout.transaction_id.is_(None), Transaction.business_date < start))):
        for totals in sets:
            totals.referral_paid[referred_id].add(rule_id)


# ---------------------------------------------------------------- the member then

def _row(txn: Transaction) -> tuple[date, int, bool]:
    return txn.business_date, net_fen(txn.kind, txn.payable_fen), txn.kind == "purchase"


def _remember(history: _History, txn: Transaction) -> None:
    history.recent.append(_row(txn))
    history.count_before += txn.kind == "purchase"


def _tier_then(known: _Known, member: Member, txn: Transaction, tier_codes: dict[int, str]) -> str | None:
    """The tier ``member`` held when the till got ``txn``: their tier changes made before it
    (by an earlier transaction, or by staff, a rule or the month-end review before it
    reached wxcrm)."""
    changes = known.tier_changes.get(member.id)
    if not changes:
        return tier_codes.get(member.tier_id)
    received = txn.recorded_at or txn.created_at
    tier = changes[0].old_value or None
    for change in changes:
        earlier = (change.transaction_id < txn.id if change.transaction_id is not None
                   else change.at <= received)
        if earlier:
            tier = change.new_value or None
    return tier


def _facts_then(member: Member, history: _History, day: date, windows, tier: str | None,
                groups) -> MemberFacts:
    latest = max(day, history.latest_day or day)
    history.latest_day = latest
    horizon = latest - timedelta(days=max(windows, default=0))
    while history.recent and history.recent[0][0] <= horizon:  # older than any window: forget
        history.recent.popleft()
    purchases_in, spend_in = {}, {}
    for days in windows:
        since = day - timedelta(days=days)
        purchases_in[days] = sum(1 for d, _, p in history.recent if since < d <= day and p)
        spend_in[days] = sum(f for d, f, _ in history.recent if since < d <= day)
    return MemberFacts(id=member.id, joined_on=member.joined_on, tier=tier, status="active",
                       birthday=member.birthday, gender=member.gender, district=member.district,
                       group=groups.get(member.group_id), expires_on=member.expires_on,
                       purchase_count=history.count_before, purchases_in_window=purchases_in,
                       spend_in_window_fen=spend_in)


def _usage_then(totals: SetTotals, member_id: int, keys: dict[str, str]) -> dict[int, UsageCounts]:
    usage = {}
    for rule_id, counts in totals.usage.get(member_id, {}).items():
        usage[rule_id] = UsageCounts(today=counts.get(("day", keys["day"]), 0),
                                     this_month=counts.get(("month", keys["month"]), 0),
                                     lifetime=counts.get(("life", keys["life"]), 0),
                                     this_year=counts.get(("year", keys["year"]), 0),
                                     this_membership_year=counts.get(("myear", keys["myear"]), 0))
    return usage


# ---------------------------------------------------------------- replaying

def _replay(compiled: CompiledRuleSet, totals: SetTotals, facts: MemberFacts, txn: Transaction, store: Store,
            lines: tuple[BasketLine, ...], local: datetime, anchor: date) -> None:
    keys = period_keys(local.date(), anchor)
    budgets = {rid: BudgetUsage(points=p, fen=f) for rid, (p, f) in totals.budgets.items()}
    ctx = EvaluationContext(event="purchase", member=facts, local_time=local, store_code=store.code,
                            store_kind=store.kind, payment_method=txn.payment_method, lines=lines,
                            points_payment_fen=txn.points_redeemed_fen,
                            usage=_usage_then(totals, facts.id, keys), budget_used=budgets)
    result = evaluate(compiled, ctx)
    if not result.effects:
        return
    total = sum(line.amount_fen for line in lines)
    _add_effects(totals, result, facts.id)
    totals.discount_fen += min(result.discount_fen, total)
    given = []
    for applied in result.applied:
        totals.rules[applied.rule_id].purchases += 1
        _count(totals, facts.id, applied.rule_id, keys, +1)
        budget = totals.budgets[applied.rule_id]
        budget[0] += max(applied.points, 0)
        budget[1] += max(applied.fen, 0)
        given.append((applied.rule_id, applied.points, applied.fen))
    totals.given[txn.id] = (keys, given)


def _add_effects(totals: SetTotals, result, member_id: int, *, referral: bool = False) -> None:
    touched = False
    for effect in result.effects:
        rt = totals.rules.setdefault(effect.rule_id, RuleTotals(effect.rule_id, effect.rule_name))
        if effect.kind == "points":
            rt.points += effect.points
            if referral:
                totals.referral_points += effect.points
            else:
                totals.points += effect.points
        elif effect.kind == "discount":
            rt.discount_fen += effect.amount_fen
        elif effect.kind == "coupon":
            n = int(effect.params.get("count", 1))
            rt.coupons += n
            totals.coupons += n
        elif effect.kind == "stored_value_bonus":
            rt.stored_value_fen += effect.amount_fen
        rt.members.add(member_id)
        touched = True
    if touched:
        totals.members.add(member_id)


def _count(totals: SetTotals, member_id: int, rule_id: int, keys: dict[str, str], step: int) -> None:
    counts = totals.usage[member_id].setdefault(rule_id, defaultdict(int))
    for period in PERIODS:
        key = (period, keys[period])
        counts[key] = max(counts.get(key, 0) + step, 0)


def _replay_refund(session: Session, refund: Transaction, refund_items, left_to_refund: dict, sets: dict,
                   known: _Known) -> None:
    """A refund that returns the last units of a purchase gives back its limit uses and
    budget, in every set, as ``checkout.refund_purchase`` does with ``release_usage``."""
    original_id = refund.original_id
    left = left_to_refund.get(original_id)
    if left is None:                                   # bought before the window
        original = session.get(Transaction, original_id)
        if original is None:
            return
        # What had been refunded by then: the purchase's refunds up to this one.
        left = {it.line_no: it.qty for it in original.items}
        for earlier in session.scalars(select(Transaction).where(Transaction.original_id == original_id,
                                                                 Transaction.id < refund.id)):
            for it in earlier.items:
                left[it.line_no] = left.get(it.line_no, 0) - it.qty
        left_to_refund[original_id] = left
        keys = period_keys(original.business_date, membership_anchor(known.members[original.member_id]))
        given = [(rule_id, int(points or 0), int(fen or 0)) for rule_id, points, fen in session.execute(
            select(TransactionBenefit.rule_id, func.sum(TransactionBenefit.points),
                   func.sum(TransactionBenefit.amount_fen))
            .where(TransactionBenefit.transaction_id == original_id, TransactionBenefit.rule_id.is_not(None))
            .group_by(TransactionBenefit.rule_id))]
        for totals in sets.values():
            totals.given.setdefault(original_id, (keys, given))
    for it in refund_items:
        left[it.line_no] = left.get(it.line_no, 0) - it.qty
    if any(qty > 0 for qty in left.values()):
        return
    for totals in sets.values():
        keys, given = totals.given.pop(original_id, (None, []))
        for rule_id, points, fen in given:
            _count(totals, refund.member_id, rule_id, keys, -1)
            budget = totals.budgets[rule_id]
            budget[0] = max(budget[0] - max(points, 0), 0)
            budget[1] = max(budget[1] - max(fen, 0), 0)


def _replay_referral(session: Session, known: _Known, sets: dict, compiled: dict, referral_rules: dict,
                     referred: Member, txn: Transaction, store: Store, lines, local: datetime,
                     history: _History, windows, tier_codes, groups) -> None:
    """The referral event at a referred member's purchase, for each set whose referral
    rules have not all paid for this member."""
    referrer = known.members.get(referred.referrer_id)
    if referrer is None:
        return
    facts_of_referred = ReferredFacts(id=referred.id, joined_on=referred.joined_on,
                                      purchase_count=history.count_before,
                                      first_purchase=history.count_before == 0)
    referrer_history = known.histories[referrer.id]
    referrer_facts = _facts_then(referrer, referrer_history, txn.business_date, windows,
                                 _tier_then(known, referrer, txn, tier_codes), groups)
    day = local.date()
    referrals = sum(1 for joined in known.referred_joined.get(referrer.id, ()) if joined <= day)
    referrer_facts = _with_referrals(referrer_facts, referrals)
    keys = period_keys(day, membership_anchor(referrer))
    for name, totals in sets.items():
        paid = totals.referral_paid[referred.id]
        if referral_rules[name] <= paid:
            continue
        budgets = {rid: BudgetUsage(points=p, fen=f) for rid, (p, f) in totals.budgets.items()}
        ctx = EvaluationContext(event="referral", member=referrer_facts, local_time=local, store_code=store.code,
                                store_kind=store.kind, payment_method=txn.payment_method, lines=lines,
                                points_payment_fen=txn.points_redeemed_fen,
                                usage=_usage_then(totals, referrer.id, keys), budget_used=budgets,
                                referred=facts_of_referred, paid_rules=frozenset(paid))
        result = evaluate(compiled[name], ctx)
        if not result.effects:
            continue
        _add_effects(totals, result, referrer.id, referral=True)
        for applied in result.applied:
            totals.rules[applied.rule_id].purchases += 1
            paid.add(applied.rule_id)
            _count(totals, referrer.id, applied.rule_id, keys, +1)
            budget = totals.budgets[applied.rule_id]
            budget[0] += max(applied.points, 0)
            budget[1] += max(applied.fen, 0)


def _with_referrals(facts: MemberFacts, count: int) -> MemberFacts:
    return replace(facts, referral_count=count)
