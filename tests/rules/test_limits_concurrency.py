"""Limits and budgets hold under concurrent purchases (MariaDB row locks)."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from tests.conftest import mysql_only, post_sale
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.rules import storage as rules
from wxcrm.sales.models import TransactionBenefit


def _post(app, token, body):
    return post_sale(app, token, body, str(uuid.uuid4()))


@mysql_only
def test_a_once_a_day_bonus_is_given_once_to_a_member_buying_at_twenty_tills(app, make):
    store = make.store("S001")
    token = make.token("cashier", store)
    rule = rules.create_rule(db.session, {"name": "每日首单", "event": "purchase", "status": "active",
                                          "actions": [{"type": "bonus_points", "points": 50}],
                                          "limits": {"per_day": 1}})
    db.session.commit()
    m = make.member()
    body = {"store_code": "S001", "member": {"member_id": m.id}, "items": [{"sku": "A", "qty": 1, "unit_price_fen": 100}]}
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: _post(app, token, body), range(20)))
    assert {s for s, _ in results} == {201}
    db.session.expire_all()
    given = db.session.scalar(select(func.count(TransactionBenefit.id)).where(TransactionBenefit.rule_id == rule.id))
    assert given == 1
    assert ledger.balance(db.session, m.id, "points") == 50


@mysql_only
def test_a_rules_points_budget_is_never_exceeded_by_many_members_at_once(app, make):
    store = make.store("S001")
    token = make.token("cashier", store)
    rule = rules.create_rule(db.session, {"name": "限量加赠", "event": "purchase", "status": "active",
                                          "actions": [{"type": "bonus_points", "points": 30}],
                                          "limits": {"budget_points": 200}})
    db.session.commit()
    members = [make.member() for _ in range(20)]
    bodies = [{"store_code": "S001", "member": {"member_id": m.id},
               "items": [{"sku": "A", "qty": 1, "unit_price_fen": 100}]} for m in members]
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda b: _post(app, token, b), bodies))
    assert {s for s, _ in results} == {201}
    db.session.expire_all()
    total = db.session.scalar(select(func.coalesce(func.sum(TransactionBenefit.points), 0))
                              .where(TransactionBenefit.rule_id == rule.id))
    assert total <= 200 and total >= 180  # the budget caps the last grant
    assert ledger.audit(db.session) == []
