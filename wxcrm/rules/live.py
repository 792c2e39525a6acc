"""The compiled rule sets: the live one, compiled once per revision per worker, and the
ones simulation and the backtest build from drafts."""
from __future__ import annotations

import threading
import weakref

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxcrm.members.models import Tier
from wxcrm.rules.compiler import CompiledRuleSet, compile_rules
from wxcrm.rules.models import Rule
from wxcrm.rules.storage import revision, rule_json

UNSAVED_ID_BASE = 1_000_000_000   # ids for unsaved draft rules: no stored rule has one

_lock = threading.Lock()
_compiled: dict = {}              # (database url, revision, point value) -> CompiledRuleSet
_counted: "weakref.WeakKeyDictionary[CompiledRuleSet, dict]" = weakref.WeakKeyDictionary()


def live_rule_set(session: Session, *, point_value_fen: int) -> CompiledRuleSet:
    """The active rules, compiled once per revision per worker (one indexed read per call)."""
    global _compiled
    key = (str(session.get_bind().url), revision(session), point_value_fen)
    compiled = _compiled.get(key)
    if compiled is None:
        rules = [rule_json(r) for r in session.scalars(select(Rule).where(Rule.status == "active"))]
        compiled = compile_rules(rules, point_value_fen=point_value_fen, tier_names=tier_names(session))
        with _lock:
            # Keep one compiled set per database: an older revision is never asked for again.
            _compiled = {k: v for k, v in _compiled.items() if k[0] != key[0]}
            _compiled[key] = compiled
    return compiled


def draft_rule_set(rules: list[dict], *, point_value_fen: int, include_drafts: bool = True,
                   tier_names: dict[str, tuple[str, str]] | None = None) -> CompiledRuleSet:
    """A rule set from outside (simulation, backtest): validated, drafts taking part."""
    numbered = []
    for i, r in enumerate(rules):
        r = dict(r)
        r.setdefault("id", UNSAVED_ID_BASE + i)
        r.setdefault("version", 1)
        r.setdefault("status", "draft")
        numbered.append(r)
    live = ("active", "draft") if include_drafts else ("active",)
    return compile_rules(numbered, live_statuses=live, point_value_fen=point_value_fen, validate=True,
                         tier_names=tier_names)


def tier_names(session: Session) -> dict[str, tuple[str, str]]:
    """Tier code -> (Chinese, English) name, looked up when a rule set is compiled (a tier
    renamed later shows under its new name from the next rule change or restart)."""
    return {t.code: (t.name, t.name_en or t.name) for t in session.scalars(select(Tier))}


def proposed_rule_set(session: Session, *, point_value_fen: int) -> CompiledRuleSet:
    """The rule set as it would be if every draft went live (beside the active rules)."""
    rows = session.scalars(select(Rule).where(Rule.status.in_(("active", "draft"))))
    return compile_rules([rule_json(r) for r in rows], live_statuses=("active", "draft"),
                         tier_names=tier_names(session), point_value_fen=point_value_fen)


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
        with _lock:
            _counted[compiled] = per_event
    return per_event.get(event, ([], []))
