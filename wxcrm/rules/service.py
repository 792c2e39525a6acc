"""Rules in the database, and the seam between the till and the pure engine.

Storage: a rule is a row plus immutable versions; every change bumps one revision
counter, and each worker compiles the live rule set once per revision.

Evaluation: the caller holds the member's row lock; ``purchase_effects`` loads the
member's facts (a few queries), the rules' limit counters and budgets (budget rows
locked), asks the engine, and ``record_usage`` adds what applied to the counters in
the same transaction. Until any purchase rule is live, a purchase earns the one
configured rate (WXCRM_POINTS_PER_YUAN).
"""
from __future__ import annotations

import threading
import uuid
import weakref
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from wxcrm.checkout.models import Transaction
from wxcrm.errors import DomainError, NotFound
from wxcrm.ledger import service as ledger
from wxcrm.members.models import GroupAccount, Member, Tier
from wxcrm.money import fen_to_yuan_str, points_for_amount
from wxcrm.rules.compiler import CompiledRuleSet, compile_rules
from wxcrm.rules.context import BasketLine, BudgetUsage, EvaluationContext, MemberFacts, RuleUsage as Usage
from wxcrm.rules.effects import Effect
from wxcrm.rules.engine import EvaluationResult, evaluate
from wxcrm.rules.models import RULE_STATUSES, Rule, RuleBudget, RuleSetState, RuleUsage, RuleVersion
from wxcrm.rules.schema import validate_rule
from wxcrm.sqlutil import insert_missing

UNSAVED_ID_BASE = 1_000_000_000


# ---------------------------------------------------------------- storage

def _bump_revision(session: Session) -> None:
    insert_missing(session, RuleSetState, "id", id=1, revision=0, token="")
    session.execute(update(RuleSetState).where(RuleSetState.id == 1).values(
        revision=RuleSetState.revision + 1, token=uuid.uuid4().hex))


def rule_json(rule: Rule, version: RuleVersion | None = None) -> dict:
    """The rule as the engine, the API and export see it: definition + id, version, status."""
    version = version or _version(rule, rule.current_version)
    return {**version.definition, "id": rule.id, "version": version.version, "status": rule.status}


def _version(rule: Rule, number: int) -> RuleVersion:
    return next(v for v in rule.versions if v.version == number)


def _definition(data: dict) -> tuple[dict, str]:
    """Validate a rule as given by a person; return its stored definition and status."""
    status = data.get("status", "draft")
    body = {k: v for k, v in data.items() if k not in ("id", "version")}
    validate_rule(body)
    return {k: v for k, v in body.items() if k != "status"}, status


def create_rule(session: Session, data: dict, *, staff_id: int | None = None) -> Rule:
    definition, status = _definition(data)
    rule = Rule(name=definition["name"], event=definition["event"], status=status,
                priority=definition.get("priority", 0), current_version=1, created_by=staff_id)
    session.add(rule)
    session.flush()
    session.add(RuleVersion(rule_id=rule.id, version=1, definition=definition, created_by=staff_id))
    _bump_revision(session)
    session.flush()
    return rule


def update_rule(session: Session, rule_id: int, data: dict, *, staff_id: int | None = None) -> Rule:
    """An edit makes a new version; the old one stays, named by the transactions that used it."""
    rule = get_rule(session, rule_id, lock=True)
    definition, status = _definition({"status": rule.status, **data})
    if definition == _version(rule, rule.current_version).definition and status == rule.status:
        return rule  # nothing changed: no new version
    if definition != _version(rule, rule.current_version).definition:
        rule.current_version += 1
        session.add(RuleVersion(rule_id=rule.id, version=rule.current_version, definition=definition,
                                created_by=staff_id))
    rule.name, rule.event, rule.status = definition["name"], definition["event"], status
    rule.priority = definition.get("priority", 0)
    _bump_revision(session)
    session.flush()
    session.refresh(rule)
    return rule


def set_status(session: Session, rule_id: int, status: str) -> Rule:
    if status not in RULE_STATUSES:
        raise DomainError(f"status must be one of {', '.join(RULE_STATUSES)}", code="invalid_status",
                          fields={"status": "invalid"})
    rule = get_rule(session, rule_id, lock=True)
    if rule.status != status:
        rule.status = status
        _bump_revision(session)
        session.flush()
    return rule


def archive_rule(session: Session, rule_id: int) -> Rule:
    """Rules are never deleted: transactions name them. Archiving takes one out of play."""
    return set_status(session, rule_id, "archived")


def get_rule(session: Session, rule_id: int, *, lock: bool = False) -> Rule:
    q = select(Rule).where(Rule.id == rule_id)
    rule = session.scalar(q.with_for_update() if lock else q)
    if rule is None:
        raise NotFound(f"no rule {rule_id}", code="rule_not_found")
    return rule


def list_rules(session: Session, *, status: str | None = None, event: str | None = None,
               include_archived: bool = False) -> list[Rule]:
    q = select(Rule)
    if status:
        q = q.where(Rule.status == status)
    elif not include_archived:
        q = q.where(Rule.status != "archived")
    if event:
        q = q.where(Rule.event == event)
    return list(session.scalars(q.order_by(Rule.priority.desc(), Rule.id)))


def export_rules(session: Session) -> list[dict]:
    return [rule_json(r) for r in list_rules(session, include_archived=True)]


def import_rules(session: Session, rules: list[dict], *, staff_id: int | None = None) -> dict:
    """Import a rule set: a rule with an ``id`` that exists is updated (a new version if
    changed), any other is created. All are validated first; one bad rule imports nothing."""
    from wxcrm.rules.schema import validate_rule_set
    validate_rule_set([{k: v for k, v in r.items() if k not in ("id", "version")} for r in rules],
                      require_identity=False)
    created = updated = 0
    for data in rules:
        existing = session.get(Rule, data["id"]) if isinstance(data.get("id"), int) else None
        if existing is not None:
            before = (existing.current_version, existing.status)
            update_rule(session, existing.id, data, staff_id=staff_id)
            updated += (existing.current_version, existing.status) != before
        else:
            create_rule(session, data, staff_id=staff_id)
            created += 1
    return {"created": created, "updated": updated}


# ---------------------------------------------------------------- the compiled live set

@dataclass
class _Cache:
    lock: threading.Lock = field(default_factory=threading.Lock)
    by_key: dict = field(default_factory=dict)


_cache = _Cache()


def revision(session: Session) -> tuple[int, str]:
    row = session.execute(select(RuleSetState.revision, RuleSetState.token).where(RuleSetState.id == 1)).first()
    return (row[0], row[1]) if row else (0, "")


def live_rule_set(session: Session, *, point_value_fen: int = 1) -> CompiledRuleSet:
    """The active rules, compiled once per revision per worker (one indexed read per call)."""
    key = (str(session.get_bind().url), revision(session), point_value_fen)
    compiled = _cache.by_key.get(key)
    if compiled is None:
        rules = [rule_json(r) for r in session.scalars(select(Rule).where(Rule.status == "active"))]
        compiled = compile_rules(rules, point_value_fen=point_value_fen)
        with _cache.lock:
            _cache.by_key = {k: v for k, v in _cache.by_key.items() if k[0] != key[0]}
            _cache.by_key[key] = compiled
    return compiled


def draft_rule_set(rules: list[dict], *, point_value_fen: int = 1, include_drafts: bool = True) -> CompiledRuleSet:
    """A rule set from outside (simulation, backtest): validated, drafts taking part."""
    numbered = []
    for i, r in enumerate(rules):
        r = dict(r)
        r.setdefault("id", UNSAVED_ID_BASE + i)  # unsaved rules: ids no stored rule has
        r.setdefault("version", 1)
        r.setdefault("status", "draft")
        numbered.append(r)
    live = ("active", "draft") if include_drafts else ("active",)
    return compile_rules(numbered, live_statuses=live, point_value_fen=point_value_fen, validate=True)


_counted: "weakref.WeakKeyDictionary[CompiledRuleSet, dict]" = weakref.WeakKeyDictionary()


def counted_rules(compiled: CompiledRuleSet, event: str) -> tuple[list[int], list[int]]:
    """The event's rules with per-member limits, and those with budgets: worked out once
    per compiled set, not per purchase."""
    per_event = _counted.get(compiled)
    if per_event is None:
        per_event = {}
        for rule in compiled.rules:
            limited, budgeted = per_event.setdefault(rule.event, ([], []))
            if rule.limits is not None:
                limited.append(rule.id)
            if rule.budget_points is not None or rule.budget_fen is not None:
                budgeted.append(rule.id)
        with _cache.lock:
            _counted[compiled] = per_event
    return per_event.get(event, ([], []))


# ---------------------------------------------------------------- facts

def member_facts(session: Session, member: Member, *, today: date, compiled: CompiledRuleSet,
                 before: datetime | None = None) -> MemberFacts:
    """The member as the rules see them, before this event: a few aggregate queries."""
    windows = sorted(set(compiled.spend_windows) | set(compiled.purchase_windows))
    sign = case((Transaction.kind == "refund", -Transaction.payable_fen), else_=Transaction.payable_fen)
    is_purchase = case((Transaction.kind == "purchase", 1), else_=0)
    cols = [func.coalesce(func.sum(is_purchase), 0)]
    for days in windows:
        since = today - timedelta(days=days)
        cols.append(func.coalesce(func.sum(case((Transaction.business_date > since, is_purchase), else_=0)), 0))
        cols.append(func.coalesce(func.sum(case((Transaction.business_date > since, sign), else_=0)), 0))
    q = select(*cols).where(Transaction.member_id == member.id)
    if before is not None:
        q = q.where(Transaction.created_at < before)
    row = session.execute(q).one()
    purchases_in = {d: int(row[1 + 2 * i]) for i, d in enumerate(windows)}
    spend_in = {d: int(row[2 + 2 * i]) for i, d in enumerate(windows)}
    referrals = session.scalar(select(func.count(Member.id)).where(Member.referrer_id == member.id)) or 0
    tier = session.get(Tier, member.tier_id) if member.tier_id else None
    group = session.get(GroupAccount, member.group_id) if member.group_id else None
    return MemberFacts(
        id=member.id, joined_on=member.joined_on, tier=tier.code if tier else None, status=member.status,
        birthday=member.birthday, gender=member.gender, district=member.district,
        group=group.code if group else None, expires_on=member.expires_on, purchase_count=int(row[0]),
        purchases_in_window=purchases_in, spend_in_window_fen=spend_in, referral_count=referrals,
        points_balance=ledger.available_points(session, member.id, today))


def _period_keys(today: date) -> dict[str, str]:
    return {"day": today.isoformat(), "month": today.strftime("%Y-%m"), "life": "-"}


def usage_for(session: Session, member_id: int, rule_ids: list[int], today: date) -> dict[int, Usage]:
    if not rule_ids:
        return {}
    keys = _period_keys(today)
    rows = session.execute(select(RuleUsage.rule_id, RuleUsage.period, RuleUsage.period_key, RuleUsage.count)
                           .where(RuleUsage.member_id == member_id, RuleUsage.rule_id.in_(rule_ids))).all()
    counts: dict[int, dict[str, int]] = {}
    for rule_id, period, key, count in rows:
        if keys[period] == key:
            counts.setdefault(rule_id, {})[period] = count
    return {rid: Usage(today=c.get("day", 0), this_month=c.get("month", 0), lifetime=c.get("life", 0))
            for rid, c in counts.items()}


def lock_budgets(session: Session, rule_ids: list[int]) -> dict[int, BudgetUsage]:
    """Lock the budget rows of budgeted rules (in id order: no deadlocks) and read them."""
    if not rule_ids:
        return {}
    for rule_id in sorted(rule_ids):
        insert_missing(session, RuleBudget, "rule_id", rule_id=rule_id, points_used=0, fen_used=0)
    rows = session.scalars(select(RuleBudget).where(RuleBudget.rule_id.in_(rule_ids))
                           .order_by(RuleBudget.rule_id).with_for_update()
                           .execution_options(populate_existing=True))
    return {b.rule_id: BudgetUsage(points=b.points_used, fen=b.fen_used) for b in rows}


def record_usage(session: Session, member_id: int, result: EvaluationResult, compiled: CompiledRuleSet,
                 today: date) -> None:
    """Count what applied against the limits and budgets, in the caller's transaction."""
    keys = _period_keys(today)
    for applied in result.applied:
        rule = compiled.rule(applied.rule_id)
        if rule.limits is None:
            continue
        for period, key in keys.items():
            insert_missing(session, RuleUsage, "id", rule_id=applied.rule_id, member_id=member_id, period=period,
                           period_key=key, count=0)
            session.execute(update(RuleUsage).where(
                RuleUsage.rule_id == applied.rule_id, RuleUsage.member_id == member_id,
                RuleUsage.period == period, RuleUsage.period_key == key).values(count=RuleUsage.count + 1))
        if rule.budget_points is not None or rule.budget_fen is not None:
            session.execute(update(RuleBudget).where(RuleBudget.rule_id == applied.rule_id).values(
                points_used=RuleBudget.points_used + applied.points, fen_used=RuleBudget.fen_used + applied.fen))


# ---------------------------------------------------------------- the till's call

@dataclass
class PurchaseFacts:
    """What checkout knows about one purchase before asking the rules."""
    store_code: str
    store_kind: str
    payment_method: str
    lines: list[BasketLine]
    local_time: datetime            # merchant time zone
    member: Member | None = None
    points_payment_fen: int = 0     # the part paid with points earns nothing

    @property
    def total_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)


@dataclass
class PurchaseDecision:
    effects: list[Effect]
    result: EvaluationResult | None = None
    compiled: CompiledRuleSet | None = None


def purchase_effects(session: Session, facts: PurchaseFacts, *, points_per_yuan: int,
                     point_value_fen: int = 1) -> PurchaseDecision:
    """Effects for a member's purchase. The caller holds the member's row lock."""
    member = facts.member
    if member is None:
        return PurchaseDecision([])
    compiled = live_rule_set(session, point_value_fen=point_value_fen)
    if "purchase" not in compiled.by_event:
        return PurchaseDecision(_base_earn(facts, points_per_yuan))
    today = facts.local_time.date()
    limited, budgeted = counted_rules(compiled, "purchase")
    ctx = EvaluationContext(
        event="purchase", member=member_facts(session, member, today=today, compiled=compiled),
        local_time=facts.local_time, store_code=facts.store_code, store_kind=facts.store_kind,
        payment_method=facts.payment_method, lines=tuple(facts.lines),
        points_payment_fen=facts.points_payment_fen, usage=usage_for(session, member.id, limited, today),
        budget_used=lock_budgets(session, budgeted))
    result = evaluate(compiled, ctx)
    return PurchaseDecision(list(result.effects), result, compiled)


def _base_earn(facts: PurchaseFacts, points_per_yuan: int) -> list[Effect]:
    base = max(facts.total_fen - facts.points_payment_fen, 0)
    points = points_for_amount(base, points_per_yuan)
    if points <= 0:
        return []
    amount = fen_to_yuan_str(base)
    return [Effect(kind="points", rule_name="base_earn", points=points,
                   text_zh=f"消费 {amount} 元，每元 {points_per_yuan} 积分",
                   text_en=f"{points_per_yuan} point(s) per yuan on {amount} yuan spent")]


# ---------------------------------------------------------------- member events (no basket)

def run_member_event(session: Session, member: Member, event: str, *, local_time: datetime,
                     occasion, point_value_fen: int = 1, store_code: str | None = None,
                     store_kind: str | None = None, topup_amount_fen: int = 0) -> list[Effect]:
    """Evaluate a member event (referral, signup, birthday, membership_expiry, topup),
    apply its effects and count them against the limits, all in the caller's transaction.

    Locks the member's row first, like a purchase, so limit counters stay true.
    """
    from wxcrm.rules.apply import apply_member_effect

    session.execute(select(Member.id).where(Member.id == member.id).with_for_update())
    compiled = live_rule_set(session, point_value_fen=point_value_fen)
    if event not in compiled.by_event:
        return []
    today = local_time.date()
    limited, budgeted = counted_rules(compiled, event)
    ctx = EvaluationContext(
        event=event, member=member_facts(session, member, today=today, compiled=compiled), local_time=local_time,
        store_code=store_code, store_kind=store_kind, topup_amount_fen=topup_amount_fen,
        usage=usage_for(session, member.id, limited, today), budget_used=lock_budgets(session, budgeted))
    result = evaluate(compiled, ctx)
    for effect in result.effects:
        apply_member_effect(session, member, effect, occasion)
    record_usage(session, member.id, result, compiled, today)
    return list(result.effects)


def proposed_rule_set(session: Session, *, point_value_fen: int = 1) -> CompiledRuleSet:
    """The rule set as it would be if every draft went live (beside the active rules)."""
    rows = session.scalars(select(Rule).where(Rule.status.in_(("active", "draft"))))
    return compile_rules([rule_json(r) for r in rows], live_statuses=("active", "draft"),
                         point_value_fen=point_value_fen)


def run_backtest(session: Session, *, days: int, today: date, tz, point_value_fen: int = 1,
                 draft_rules: list[dict] | None = None) -> dict:
    """Replay the last `days` of purchases through a draft set beside the live one."""
    from wxcrm.rules.backtest import backtest
    live = live_rule_set(session, point_value_fen=point_value_fen)
    draft = (draft_rule_set(draft_rules, point_value_fen=point_value_fen) if draft_rules is not None
             else proposed_rule_set(session, point_value_fen=point_value_fen))
    return backtest(session, live=live, draft=draft, days=days, today=today, tz=tz)


def reward_referral(session: Session, referred: Member, *, local_time: datetime, occasion,
                    point_value_fen: int = 1) -> list[Effect]:
    """The `referral` event for whoever referred `referred`: once per referred member,
    at signup through the referrer's QR code or at the referred member's first purchase,
    whichever comes first. The caller holds the referred member's row lock."""
    from wxcrm.rules.models import RuleEventRun
    if referred.referrer_id is None:
        return []
    done = session.scalar(select(RuleEventRun.id).where(RuleEventRun.event == "referral",
                                                        RuleEventRun.member_id == referred.id))
    if done is not None:
        return []
    claim = RuleEventRun(event="referral", business_date=referred.joined_on, member_id=referred.id, effects=0)
    session.add(claim)
    session.flush()
    referrer = session.get(Member, referred.referrer_id)
    if referrer is None or referrer.status != "active":
        return []
    effects = run_member_event(session, referrer, "referral", local_time=local_time, occasion=occasion,
                               point_value_fen=point_value_fen)
    claim.effects = len(effects)
    session.flush()
    return effects


def release_usage(session: Session, transaction_id: int, member_id: int, business_date: date) -> None:
    """A purchase was refunded in full: what its rules gave no longer counts against their
    limits (a once-a-month birthday discount may be used again) nor their budgets."""
    from wxcrm.checkout.models import TransactionBenefit
    given = session.execute(
        select(TransactionBenefit.rule_id, func.sum(TransactionBenefit.points), func.sum(TransactionBenefit.amount_fen))
        .where(TransactionBenefit.transaction_id == transaction_id, TransactionBenefit.rule_id.is_not(None))
        .group_by(TransactionBenefit.rule_id)).all()
    keys = _period_keys(business_date)
    for rule_id, points, fen in given:
        for period, key in keys.items():
            session.execute(update(RuleUsage).where(
                RuleUsage.rule_id == rule_id, RuleUsage.member_id == member_id, RuleUsage.period == period,
                RuleUsage.period_key == key, RuleUsage.count > 0).values(count=RuleUsage.count - 1))
        session.execute(update(RuleBudget).where(RuleBudget.rule_id == rule_id).values(
            points_used=case((RuleBudget.points_used > int(points or 0), RuleBudget.points_used - int(points or 0)), else_=0),
            fen_used=case((RuleBudget.fen_used > int(fen or 0), RuleBudget.fen_used - int(fen or 0)), else_=0)))
    session.flush()
