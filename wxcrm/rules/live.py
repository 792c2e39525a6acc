"""The compiled rule sets: the live one, compiled once per revision per worker, and the
ones simulation and the backtest build from drafts.

Rules read from the database are validated like rules from outside: storage validates on
save, but a row changed behind its back (by hand, or by an attacker with database access)
must not reach the code generator. A rule that fails is left out with a logged error and the
others keep working. Each rule's JSON is validated once per worker (keyed by its content),
so a new revision re-checks only what changed and a purchase never validates anything.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import weakref
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxcrm.members.cache import reference_stamp
from wxcrm.members.models import Tier
from wxcrm.rules.compiler import CompiledRuleSet, compile_rule, compile_rules
from wxcrm.rules.models import Rule, RuleStatusChange, RuleVersion
from wxcrm.rules.schema import InvalidRule, validate_rule
from wxcrm.rules.storage import revision, rule_json

log = logging.getLogger(__name__)

UNSAVED_ID_BASE = 1_000_000_000   # ids for unsaved draft rules: no stored rule has one

_lock = threading.Lock()
_compiled: dict = {}              # (database url, revision, point value) -> CompiledRuleSet
_by_reference: dict = {}          # (database url, reference token, point value) -> CompiledRuleSet
_counted: "weakref.WeakKeyDictionary[CompiledRuleSet, dict]" = weakref.WeakKeyDictionary()
_at_moment: dict = {}            # (database url, ((rule id, version), ...), point value) -> CompiledRuleSet
_checked: dict[str, bool] = {}    # sha256 of a stored rule's JSON -> it validates and compiles
_CHECKED_MAX = 20_000


def trusted_rules(rules: list[dict]) -> list[dict]:
    """The stored rules that validate; each other one is logged and left out."""
    kept = []
    for rule in rules:
        digest = hashlib.sha256(json.dumps(rule, sort_keys=True, default=str).encode()).hexdigest()
        ok = _checked.get(digest)
        if ok is None:
            try:
                validate_rule(rule, require_identity=True)
                compile_rule(rule)
                ok = True
            except InvalidRule as exc:
                ok = False
                log.error("stored rule %s version %s is invalid (changed outside wxcrm?) and is left out: %s",
                          rule.get("id"), rule.get("version"), "; ".join(map(str, exc.problems))[:500])
            except Exception as exc:  # noqa: BLE001 - whatever a tampered row makes the compiler do
                ok = False
                log.error("stored rule %s version %s cannot be compiled and is left out: %r",
                          rule.get("id"), rule.get("version"), exc)
            with _lock:
                if len(_checked) >= _CHECKED_MAX:
                    _checked.clear()
                _checked[digest] = ok
        if ok:
            kept.append(rule)
    return kept


def live_rule_set(session: Session, *, point_value_fen: int) -> CompiledRuleSet:
    """The active rules, compiled once per revision per worker. A request checks only the
    reference token (``members.cache``: one read per transaction, shared with the token,
    store and tier caches); the rules' own revision is read when that token moves (a
    change to rules, tiers, stores or staff), and the set recompiled only if the rules changed."""
    global _compiled, _by_reference
    url, token = reference_stamp(session)
    ref_key = (url, token, point_value_fen)
    compiled = _by_reference.get(ref_key)
    if compiled is not None:
        return compiled
    key = (url, revision(session), point_value_fen)
    compiled = _compiled.get(key)
    if compiled is None:
        rules = trusted_rules([rule_json(r) for r in session.scalars(select(Rule).where(Rule.status == "active"))])
        compiled = compile_rules(rules, point_value_fen=point_value_fen, tier_names=tier_names(session))
        with _lock:
            # Keep one compiled set per database: an older revision is never asked for again.
            _compiled = {k: v for k, v in _compiled.items() if k[0] != key[0]}
            _compiled[key] = compiled
    with _lock:
        _by_reference = {k: v for k, v in _by_reference.items() if k[0] != url}
        _by_reference[ref_key] = compiled
    return compiled


def rule_set_at(session: Session, moment: datetime, *, point_value_fen: int) -> CompiledRuleSet:
    """The rules in force at ``moment`` (naive UTC): each rule that was active then, in the
    version it had then (``RuleStatusChange`` and ``RuleVersion.created_at``). A purchase
    claimed after the sale is credited by these (scan-to-earn), not by the rules of the
    claim's moment. Claims are rare: this reads the two small tables each time and compiles
    a set only when it is not the live one (kept per worker, a few at a time)."""
    global _at_moment
    versions: dict[int, RuleVersion] = {}
    for v in session.scalars(select(RuleVersion).where(RuleVersion.created_at <= moment)):
        if v.rule_id not in versions or v.version > versions[v.rule_id].version:
            versions[v.rule_id] = v
    status: dict[int, tuple[datetime, int, str]] = {}
    for change in session.scalars(select(RuleStatusChange).where(RuleStatusChange.changed_at <= moment)):
        seen = status.get(change.rule_id)
        if seen is None or (change.changed_at, change.id) > seen[:2]:
            status[change.rule_id] = (change.changed_at, change.id, change.status)
    in_force = sorted((rule_id, v.version) for rule_id, v in versions.items()
                      if rule_id in status and status[rule_id][2] == "active")
    live = live_rule_set(session, point_value_fen=point_value_fen)
    if in_force == sorted((r.id, r.version) for r in live.rules if r.status in live.live_statuses):
        return live
    url = str(session.get_bind().url)
    key = (url, tuple(in_force), point_value_fen)
    compiled = _at_moment.get(key)
    if compiled is None:
        rows = [{**versions[rule_id].definition, "id": rule_id, "version": version, "status": "active"}
                for rule_id, version in in_force]
        compiled = compile_rules(trusted_rules(rows), point_value_fen=point_value_fen,
                                 tier_names=tier_names(session))
        with _lock:
            if len(_at_moment) >= 16:
                _at_moment = {}
            _at_moment[key] = compiled
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
    return compile_rules(trusted_rules([rule_json(r) for r in rows]), live_statuses=("active", "draft"),
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
