"""Rules in the database: a rule is a row plus immutable versions, and every change bumps
one revision counter (with a fresh token) so each worker knows to recompile.

Flushes, never commits.
"""
from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from wxcrm import timeutil
from wxcrm.errors import DomainError, NotFound
from wxcrm.members.cache import bump_reference
from wxcrm.rules.catalogue import base_earning_rule
from wxcrm.rules.models import RULE_STATUSES, Rule, RuleSetState, RuleStatusChange, RuleVersion
from wxcrm.rules.schema import validate_rule, validate_rule_set
from wxcrm.sqlutil import insert_missing


def _bump_revision(session: Session) -> None:
    insert_missing(session, RuleSetState, "id", id=1, revision=0, token="")
    session.execute(update(RuleSetState).where(RuleSetState.id == 1).values(
        revision=RuleSetState.revision + 1, token=uuid.uuid4().hex))
    bump_reference(session)   # the workers' cached rule sets are checked by this one token


def _record_status(session: Session, rule_id: int, status: str) -> None:
    """The rule has ``status`` from now on (``live.rule_set_at`` reads these)."""
    session.add(RuleStatusChange(rule_id=rule_id, status=status, changed_at=timeutil.utcnow()))


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
    session.add(RuleVersion(rule_id=rule.id, version=1, definition=definition, created_by=staff_id,
                            created_at=timeutil.utcnow()))
    _record_status(session, rule.id, status)
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
                                created_by=staff_id, created_at=timeutil.utcnow()))
    if status != rule.status:
        _record_status(session, rule.id, status)
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
        _record_status(session, rule.id, status)
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


def revision(session: Session) -> tuple[int, str]:
    row = session.execute(select(RuleSetState.revision, RuleSetState.token).where(RuleSetState.id == 1)).first()
    return (row[0], row[1]) if row else (0, "")


def earning_rules(session: Session) -> list[Rule]:
    """The live purchase rules that earn points (an ``earn_points`` action): what the rules
    page shows under "what earns points". Empty: purchases earn no points."""
    return [rule for rule in list_rules(session, status="active", event="purchase")
            if any(a.get("type") == "earn_points" for a in rule_json(rule).get("actions", ()))]


def ensure_base_earning(session: Session, *, staff_id: int | None = None) -> Rule | None:
    """The first-run step: when no live purchase rule earns points, add the base earning
    rule (live) and return it; otherwise change nothing and return None."""
    if earning_rules(session):
        return None
    return create_rule(session, base_earning_rule(), staff_id=staff_id)
