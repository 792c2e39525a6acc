"""What the rules have already given: per-member limit counters (per business day, month,
calendar year, membership year and lifetime) and per-rule budgets. Read before an evaluation; written in the same
transaction as the benefits, under row locks, so limits and budgets hold under
concurrent purchases. Flushes, never commits."""
from __future__ import annotations

from datetime import date

from sqlalchemy import and_, bindparam, case, or_, select, update
from sqlalchemy.orm import Session

from wxcrm.rules.compiler import CompiledRuleSet
from wxcrm.rules.context import BudgetUsage, UsageCounts
from wxcrm.rules.engine import EvaluationResult
from wxcrm.rules.facts import birthday_in_year
from wxcrm.rules.models import RuleBudget, RuleUsage
from wxcrm.sqlutil import add_to_counters, insert_missing
from wxcrm.sqlutil import connection as sql_connection


def membership_anchor(member) -> date:
    """The date a member's membership years run from: the anniversary of their expiry
    date (a member without one: of the day they joined)."""
    return member.expires_on or member.joined_on


def membership_year_start(today: date, anchor: date) -> date:
    """The first day of the membership year ``today`` is in: the latest anniversary of
    ``anchor`` on or before today (29 February counts on the 28th in common years)."""
    start = birthday_in_year(anchor, today.year)
    return start if start <= today else birthday_in_year(anchor, today.year - 1)


def period_keys(today: date, anchor: date | None = None) -> dict[str, str]:
    """The counters' keys for a business date: day, month, calendar year (all in the
    merchant's time zone), membership year (its first day) and lifetime."""
    return {"day": today.isoformat(), "month": today.strftime("%Y-%m"), "year": today.strftime("%Y"),
            "myear": membership_year_start(today, anchor or today).isoformat(), "life": "-"}


_USAGE_TABLE = RuleUsage.__table__
_USAGE_KEY = ("rule_id", "member_id", "period", "period_key")     # rule_usage's unique key
_USAGE = (select(_USAGE_TABLE.c.rule_id, _USAGE_TABLE.c.period, _USAGE_TABLE.c.period_key, _USAGE_TABLE.c.count)
          .where(_USAGE_TABLE.c.member_id == bindparam("member_id"),
                 _USAGE_TABLE.c.rule_id.in_(bindparam("rule_ids", expanding=True))))   # built once (issue 11)


# A limit's field -> the counter's period, as ``period_keys`` names them.
_LIMIT_PERIODS = (("per_day", "day"), ("per_month", "month"), ("per_year", "year"),
                  ("per_membership_year", "myear"), ("lifetime", "life"))


def limit_counters(compiled: CompiledRuleSet, rule_ids: list[int]) -> tuple[tuple[int, str], ...]:
    """(rule id, period) of every counter the rules' limits test: only the periods each
    rule limits (``Limits.used_up`` and ``why_not`` look at no other)."""
    out = []
    for rule_id in rule_ids:
        limits = compiled.rule(rule_id).limits
        out.extend((rule_id, period) for field, period in _LIMIT_PERIODS if getattr(limits, field) is not None)
    return tuple(out)


def counter_columns(counters: tuple[tuple[int, str], ...], member_id) -> list:
    """Per counter, a scalar subquery of its count in the current period (NULL when the
    member has none), for a caller that asks them in one query with other facts (the
    till). The period keys are the bound parameters ``key_day``, ``key_month``, ...
    (``counter_params``)."""
    return [select(_USAGE_TABLE.c.count).where(
        _USAGE_TABLE.c.member_id == member_id, _USAGE_TABLE.c.rule_id == rule_id,
        _USAGE_TABLE.c.period == period, _USAGE_TABLE.c.period_key == bindparam(f"key_{period}"))
        .scalar_subquery() for rule_id, period in counters]


def counter_params(counters: tuple[tuple[int, str], ...], today: date, anchor: date | None) -> dict[str, str]:
    keys = period_keys(today, anchor)
    return {f"key_{period}": keys[period] for _, period in counters}


def usage_from_counters(counters: tuple[tuple[int, str], ...], values) -> dict[int, UsageCounts]:
    """``counter_columns``' values as ``usage_for`` answers: a rule with no counter in its
    current periods is left out."""
    counts: dict[int, dict[str, int]] = {}
    for (rule_id, period), count in zip(counters, values):
        if count is not None:
            counts.setdefault(rule_id, {})[period] = count
    return _usage_counts(counts)


def _usage_counts(counts: dict[int, dict[str, int]]) -> dict[int, UsageCounts]:
    """Per rule, its counters of the current periods (period name -> count) as the rules read them."""
    return {rid: UsageCounts(today=c.get("day", 0), this_month=c.get("month", 0), lifetime=c.get("life", 0),
                             this_year=c.get("year", 0), this_membership_year=c.get("myear", 0))
            for rid, c in counts.items()}


def usage_for(session: Session, member_id: int, rule_ids: list[int], today: date,
              anchor: date | None = None) -> dict[int, UsageCounts]:
    if not rule_ids:
        return {}
    keys = period_keys(today, anchor)
    rows = sql_connection(session).execute(_USAGE, {"member_id": member_id, "rule_ids": list(rule_ids)}).all()
    counts: dict[int, dict[str, int]] = {}
    for rule_id, period, key, count in rows:
        if keys[period] == key:
            counts.setdefault(rule_id, {})[period] = count
    return _usage_counts(counts)


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


def budgets_used(session: Session) -> dict[int, BudgetUsage]:
    """Every budget's use, unlocked (simulation)."""
    return {b.rule_id: BudgetUsage(points=b.points_used, fen=b.fen_used) for b in session.scalars(select(RuleBudget))}


def record_usage(session: Session, member_id: int, result: EvaluationResult, compiled: CompiledRuleSet,
                 today: date, anchor: date | None = None) -> None:
    """Count what applied against the limits and budgets, in the caller's transaction."""
    keys = period_keys(today, anchor)
    for applied in result.applied:
        rule = compiled.rule(applied.rule_id)
        if rule.limits is None:
            continue
        # every period's counter in one statement (issue 11: it was an insert and an update each)
        add_to_counters(session, RuleUsage, _USAGE_KEY, "count", [
            {"rule_id": applied.rule_id, "member_id": member_id, "period": period, "period_key": key}
            for period, key in keys.items()])
        if rule.budget_points is not None or rule.budget_fen is not None:
            session.execute(update(RuleBudget).where(RuleBudget.rule_id == applied.rule_id).values(
                points_used=RuleBudget.points_used + max(applied.points, 0),
                fen_used=RuleBudget.fen_used + max(applied.fen, 0)))


def release_usage(session: Session, member_id: int, business_date: date,
                  given: list[tuple[int, int, int]], anchor: date | None = None) -> None:
    """A purchase was refunded in full: what its rules gave (``given``: rule id, points,
    fen) no longer counts against their limits (a once-a-month birthday discount may be
    used again) nor their budgets."""
    keys = period_keys(business_date, anchor)
    if given:   # one statement for every rule's counters of every period
        session.execute(update(RuleUsage).where(
            RuleUsage.member_id == member_id, RuleUsage.rule_id.in_(sorted({g[0] for g in given})),
            or_(*(and_(RuleUsage.period == period, RuleUsage.period_key == key) for period, key in keys.items())),
            RuleUsage.count > 0).values(count=RuleUsage.count - 1))
    for rule_id, points, fen in given:
        points, fen = max(int(points or 0), 0), max(int(fen or 0), 0)
        session.execute(update(RuleBudget).where(RuleBudget.rule_id == rule_id).values(
            points_used=case((RuleBudget.points_used > points, RuleBudget.points_used - points), else_=0),
            fen_used=case((RuleBudget.fen_used > fen, RuleBudget.fen_used - fen), else_=0)))
    session.flush()
