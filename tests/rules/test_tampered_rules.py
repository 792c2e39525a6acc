"""A rule row changed in the database (not through the API, which validates) never reaches the
code generator: it is left out with a logged error, and the other rules keep working."""
from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm.attributes import flag_modified

from wxcrm.extensions import db
from wxcrm.rules import storage
from wxcrm.rules.codegen import UnsafeRule, generate_predicate
from wxcrm.rules.compiler import compile_rules
from wxcrm.rules.conditions import Leaf, parse_condition
from wxcrm.rules.live import live_rule_set
from wxcrm.rules.models import RuleVersion
from wxcrm.rules.schema import InvalidRule

EARN = {"name": "每元两分", "event": "purchase", "priority": 10, "status": "active",
        "actions": [{"type": "earn_points", "rate": 2}]}
TEA = {"name": "茶叶满百加分", "event": "purchase", "priority": 5, "status": "active",
       "conditions": {"fact": "basket.total_fen", "op": ">=", "value": 10000},
       "actions": [{"type": "bonus_points", "points": 50}]}

INJECTIONS = [
    {"fact": "basket.total_fen", "op": "> 0 or (lambda: 1)() or 0 <", "value": 1},
    {"fact": "basket.total_fen", "op": "in", "value": 1},
    {"fact": "member.spend_fen", "op": ">=", "value": 1, "window_days": "30) or (1"},
    {"fact": "no.such.fact", "op": "==", "value": 1},
]


def _tamper(rule_id: int, **changes) -> None:
    row = db.session.scalar(select(RuleVersion).where(RuleVersion.rule_id == rule_id))
    row.definition = {**row.definition, **changes}
    flag_modified(row, "definition")
    storage._bump_revision(db.session)
    db.session.commit()


@pytest.mark.parametrize("condition", INJECTIONS)
def test_a_tampered_row_is_left_out_with_an_error_and_the_others_keep_working(app, condition, caplog):
    good = storage.create_rule(db.session, EARN)
    bad = storage.create_rule(db.session, TEA)
    db.session.commit()
    _tamper(bad.id, conditions=condition)
    with caplog.at_level(logging.ERROR, logger="wxcrm.rules.live"):
        compiled = live_rule_set(db.session, point_value_fen=1)
    assert [r.id for r in compiled.rules] == [good.id]
    assert any(f"stored rule {bad.id}" in rec.getMessage() for rec in caplog.records)


def test_a_tampered_action_type_or_hours_are_refused_too(app, caplog):
    good = storage.create_rule(db.session, EARN)
    bad = storage.create_rule(db.session, {**TEA, "name": f"x{uuid.uuid4().hex[:4]}"})
    db.session.commit()
    _tamper(bad.id, actions=[{"type": "__import__('os').system('true')"}])
    assert [r.id for r in live_rule_set(db.session, point_value_fen=1).rules] == [good.id]
    _tamper(bad.id, actions=TEA["actions"], validity={"hours": [{"from": "10:00", "to": "11:00"}]})
    assert sorted(r.id for r in live_rule_set(db.session, point_value_fen=1).rules) == sorted([good.id, bad.id])


def test_the_code_generator_itself_refuses_anything_off_its_allow_lists():
    leaf = parse_condition({"fact": "basket.total_fen", "op": ">=", "value": 1})
    for op in ("> 0 or 1 <", "is", "in"):
        forged = Leaf(leaf.spec, op, leaf.value, None, None, "conditions")
        with pytest.raises(UnsafeRule):
            generate_predicate(forged, ())
    with pytest.raises(UnsafeRule):
        generate_predicate(True and leaf, (("0) or (1", 10),))
    # and compiling an unvalidated rule set reports it instead of running it
    with pytest.raises(InvalidRule):
        compile_rules([{**TEA, "id": 1, "version": 1, "conditions": INJECTIONS[0]}])
