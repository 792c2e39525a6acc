"""Evaluate a compiled rule set against one event: pure, no database, no clock of its own.

How a rule set decides, in order:

1. **Candidates**: the live rules of the event whose scope (store, store kind, tier,
   group account) and validity (dates, weekdays, hours) admit this event.
2. **Walk** the candidates in evaluation order (priority high to low, ties by lower
   id). A rule the member has used up (``limits.per_day`` / ``per_month`` / ``per_year``
   / ``per_membership_year`` / ``lifetime``), whose total budget is spent, or that has
   already paid for this referred member (``ctx.paid_rules``, referral) is passed over. A rule whose conditions
   hold *matches*; a matched rule with ``stop`` ends the walk: no lower rule runs.
3. **Exclusive groups**: of the matched rules sharing an ``exclusive_group`` only the
   best applies. Best is the one worth most to the member on its own: the discount and
   stored value it gives in fen, plus its points times the point value
   (``WXCRM_POINT_VALUE_FEN``), with budgets applied; a multiplier is valued on the
   points the other matched rules earn, once the groups without multipliers are
   settled. Ties go to the rule earlier in evaluation order. ``stop`` acts when a rule
   matches, whether or not it then wins its group.
4. **Pay out** the remaining rules: see ``payout`` for the order (discounts, then points
   on what is left to pay, multipliers, bonuses, the rest).

``evaluate(..., trace=True)`` walks every rule of the set the slow, explainable way and
says for each why it applied or not, in English and in Chinese; tests hold both ways to
the same answer.

The caller applies ``result.effects`` and, in the same transaction and under a lock,
adds ``result.applied`` to the member's limit counters and the rules' budgets. The
engine's budget cap works on the usage it was given; the lock is what makes it hold
under concurrent purchases.
"""
from __future__ import annotations

from typing import NamedTuple

from wxcrm.rules.compiler import CompiledRule, CompiledRuleSet
from wxcrm.rules.context import EvaluationContext
from wxcrm.rules.effects import Effect
from wxcrm.rules.explain import why_not
from wxcrm.rules.facts import FactSnapshot
from wxcrm.rules.payout import AppliedRule, applied_rules, earned_points, pay_out, worth_alone
from wxcrm.rules.wording import EVENTS_ZH, RULE_STATUSES_ZH

# Why a rule did or did not apply, in the simulator's trace.
OUTCOMES = (
    "applied",          # gave at least one effect
    "no_effect",        # matched but had nothing to give (0 points on a tiny basket)
    "lost_exclusive",   # matched, but a better rule of its exclusive group applied
    "not_matched",      # a condition failed
    "out_of_scope",     # another store, store kind, tier or group account
    "outside_validity",  # before from, after to, wrong weekday or hour
    "limit_reached",    # the member used it up, or its budget is spent
    "after_stop",       # a higher matched rule said stop
    "other_event",
    "not_live",         # draft, paused or archived
)


_POINTS_ACTIONS = frozenset({"earn_points", "multiply_points", "bonus_points"})


class RuleTrace(NamedTuple):
    rule_id: int
    rule_version: int
    rule_name: str
    outcome: str          # one of OUTCOMES
    reason: str = ""      # for people: which condition failed and why (English)
    reason_zh: str = ""   # the same, in the console's Chinese

    @property
    def matched(self) -> bool:
        return self.outcome in ("applied", "no_effect", "lost_exclusive")


class EvaluationResult:
    """The effects of one event, and (simulating) the trace of every rule."""
    __slots__ = ("effects", "trace", "_rules", "_held_by", "_applied")

    def __init__(self, effects: tuple[Effect, ...] = (), trace: tuple[RuleTrace, ...] | None = None,
                 *, rules: list[CompiledRule] = (), held_by: tuple[CompiledRule, ...] = ()):
        self.effects = effects
        self.trace = trace
        self._rules = rules
        self._held_by = held_by
        self._applied = None

    @property
    def applied(self) -> tuple[AppliedRule, ...]:
        """The rules (and versions) that gave something, in evaluation order, with the
        points and fen each gave: what checkout records and adds to limits and budgets.
        Worked out from the effects when first asked for."""
        if self._applied is None:
            self._applied = applied_rules(self._rules, self.effects, self._held_by)
        return self._applied

    @property
    def points(self) -> int:
        return sum(e.points for e in self.effects if e.kind == "points")

    @property
    def discount_fen(self) -> int:
        return sum(e.amount_fen for e in self.effects if e.kind == "discount")

    def __repr__(self) -> str:
        return f"EvaluationResult(effects={self.effects!r}, applied={self.applied!r})"


NOTHING = EvaluationResult()


def evaluate(compiled: CompiledRuleSet, ctx: EvaluationContext, *,
             trace: bool = False) -> EvaluationResult:
    s = FactSnapshot(ctx)
    if trace:
        return _evaluate_explained(compiled, s)
    index = compiled.by_event.get(ctx.event)
    if index is None:
        return NOTHING
    matched = _walk(index.candidates(s), s)
    if not matched:
        return NOTHING
    winners, _ = keep_best_of_groups(matched, s, compiled.point_value_fen)
    effects, held_by = pay_out(winners, s)
    return EvaluationResult(effects, rules=winners, held_by=held_by)


def _walk(candidates: tuple[tuple, ...], s: FactSnapshot) -> list[CompiledRule]:
    """The matched rules, in evaluation order, up to the first that says stop."""
    usage = s.ctx.usage
    budgets = s.ctx.budget_used
    paid = s.ctx.paid_rules
    matched = []
    for predicate, limits, stop, rule in candidates:
        if paid and rule.id in paid:
            continue                            # a referral rule pays once per referred member
        if limits is not None:
            used, spent = usage.get(rule.id), budgets.get(rule.id)
            if (used is not None or spent is not None) and limits.used_up(used, spent):
                continue
        if predicate is None or predicate(s):
            matched.append(rule)
            if stop:
                break
    return matched


def keep_best_of_groups(matched: list[CompiledRule], s: FactSnapshot,
                        point_value_fen: int) -> tuple[list[CompiledRule], dict[int, CompiledRule]]:
    """Drop all but the best matched rule of each exclusive group.

    ``matched`` is in evaluation order. Returns the rules kept (still in evaluation
    order) and, for each dropped rule id, the rule that beat it.
    """
    groups: dict[str, list[CompiledRule]] = {}
    grouped = 0
    for rule in matched:
        if rule.exclusive_group is not None:
            groups.setdefault(rule.exclusive_group, []).append(rule)
            grouped += 1
    if grouped == len(groups):                 # no group has two matched rules
        return matched, {}
    contested = [rules for rules in groups.values() if len(rules) > 1]
    beaten: dict[int, CompiledRule] = {}
    # Groups without multipliers are settled first, so that a multiplier is valued on
    # what the rules still standing earn.
    if len(contested) > 1:
        contested.sort(key=lambda rivals: any(rule.multiplies for rule in rivals))
    for rivals in contested:
        earned_elsewhere = 0
        if any(rule.multiplies for rule in rivals):
            standing = [rule for rule in matched if rule.id not in beaten and rule not in rivals]
            earned_elsewhere = earned_points(standing, s)
        # The rule worth most wins; on a tie the one first in evaluation order.
        best, best_worth = None, 0
        for rule in rivals:
            worth = worth_alone(rule, s, earned_elsewhere=earned_elsewhere,
                                point_value_fen=point_value_fen)
            if best is None or worth > best_worth:
                best, best_worth = rule, worth
        for rule in rivals:
            if rule is not best:
                beaten[rule.id] = best
    return [rule for rule in matched if rule.id not in beaten], beaten


# ---------------------------------------------------------------- the simulator's way

def _evaluate_explained(compiled: CompiledRuleSet, s: FactSnapshot) -> EvaluationResult:
    ctx = s.ctx
    notes: dict[int, tuple[str, str, str]] = {}      # rule id -> (outcome, English, Chinese)
    matched: list[CompiledRule] = []
    stopper: CompiledRule | None = None
    for rule in compiled.rules:
        if rule.status not in compiled.live_statuses:
            notes[rule.id] = ("not_live", f"status is {rule.status}",
                              f"状态为{RULE_STATUSES_ZH.get(rule.status, rule.status)}，未生效")
        elif rule.event != ctx.event:
            notes[rule.id] = ("other_event", f"runs on {rule.event} events",
                              f"只在{EVENTS_ZH.get(rule.event, rule.event)}事件时运行")
        elif stopper is not None:
            notes[rule.id] = ("after_stop", f"rule {stopper.id} ({stopper.name}) matched and stops "
                                            "lower rules",
                              f"规则 {stopper.id}（{stopper.name}）已匹配，并停止执行后面的规则")
        else:
            note = _why_rule_not(rule, s)
            if note is not None:
                notes[rule.id] = note
            else:
                matched.append(rule)
                if rule.stop:
                    stopper = rule
    winners, beaten = keep_best_of_groups(matched, s, compiled.point_value_fen)
    effects, held_by = pay_out(winners, s)
    result = EvaluationResult(effects, rules=winners, held_by=held_by)
    applied = {a.rule_id for a in result.applied}
    blocker = next((rule for rule in winners if rule.id in applied
                    and any(a.type == "no_points" for a in rule.actions)), None)
    for rule in matched:
        if rule.id in beaten:
            best = beaten[rule.id]
            notes[rule.id] = ("lost_exclusive", f"rule {best.id} ({best.name}) is worth more in "
                                                f"group {rule.exclusive_group}",
                              f"互斥组 {rule.exclusive_group} 中规则 {best.id}（{best.name}）对会员更有利")
        elif rule.id in applied:
            notes[rule.id] = ("applied", "", "")
        elif blocker is not None and any(a.type in _POINTS_ACTIONS for a in rule.actions):
            notes[rule.id] = ("no_effect", f"rule {blocker.id} ({blocker.name}) says this sale earns no points",
                              f"规则 {blocker.id}（{blocker.name}）规定本单不积分")
        else:
            notes[rule.id] = ("no_effect", "matched but had nothing to give", "已匹配，但没有可给予的内容")
    trace = tuple(RuleTrace(rule.id, rule.version, rule.name, *notes[rule.id])
                  for rule in compiled.rules)
    return EvaluationResult(effects, trace, rules=winners, held_by=held_by)


def _why_rule_not(rule: CompiledRule, s: FactSnapshot) -> tuple[str, str, str] | None:
    """(outcome, English reason, Chinese reason) of a rule that does not match, or None."""
    reasons = rule.scope.why_not(s)
    if reasons:
        return ("out_of_scope", *reasons)
    reasons = rule.validity.why_not(s)
    if reasons:
        return ("outside_validity", *reasons)
    if rule.id in s.ctx.paid_rules:
        referred = s.ctx.referred
        who = f"member {referred.id}" if referred else "this member"
        return ("limit_reached", f"already paid for the referral of {who}",
                f"已为推荐{'会员 ' + str(referred.id) if referred else '该会员'}发放过奖励（每位被推荐会员一次）")
    if rule.limits is not None:
        reasons = rule.limits.why_not(s.ctx.usage.get(rule.id), s.ctx.budget_used.get(rule.id))
        if reasons:
            return ("limit_reached", *reasons)
    if rule.condition is not True:
        reasons = why_not(rule.condition, s)
        if reasons:
            return ("not_matched", *reasons)
    return None
