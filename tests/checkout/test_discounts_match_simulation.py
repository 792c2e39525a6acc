"""The till and the simulator spread a discount over the basket's lines with one rule
(``wxcrm.money.spread``, applied by the engine): what the receipt records per line is what
the simulation shows, whatever the basket."""
from __future__ import annotations

import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Api
from wxcrm.extensions import db
from wxcrm.rules import storage as rules
from wxcrm.sales.models import TransactionItem

DISCOUNTS = [
    {"name": "茶饮九折", "event": "purchase", "status": "active", "priority": 30,
     "actions": [{"type": "discount_percent", "pct": 10, "on": {"categories": ["tea"]}}]},
    {"name": "满额立减", "event": "purchase", "status": "active", "priority": 20,
     "actions": [{"type": "discount_fixed", "amount_fen": 31}]},
    {"name": "蛋糕每件减", "event": "purchase", "status": "active", "priority": 10,
     "actions": [{"type": "discount_fixed", "amount_fen": 7, "per_item": True, "on": {"skus": ["CAKE"]}}]},
]
ITEM = st.fixed_dictionaries({
    "sku": st.sampled_from(["TEA", "CAKE", "MUG"]), "category": st.sampled_from(["tea", "bakery", "merch"]),
    "qty": st.integers(1, 4), "unit_price_fen": st.integers(1, 5000)})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(basket=st.lists(ITEM, min_size=1, max_size=6))
def test_the_receipt_records_per_line_what_the_simulation_shows(client, make, basket):
    if not db.session.scalar(db.select(rules.Rule.id).limit(1)):
        for rule in DISCOUNTS:
            rules.create_rule(db.session, rule)
        db.session.commit()
    store = make.store(f"S{uuid.uuid4().hex[:6].upper()}")
    till = Api(client, make.token("cashier", store))
    marketer = Api(client, make.token("marketer"))
    member = make.member()
    simulated = marketer.post("/rules/simulate", json={"member_id": member.id, "store_code": store.code,
                                                       "items": basket})
    assert simulated.status_code == 200, simulated.get_json()
    expected: dict[int, int] = {}
    for effect in simulated.get_json()["effects"]:
        for share in effect["line_discounts"]:
            expected[share["line_no"]] = expected.get(share["line_no"], 0) + share["amount_fen"]

    sale = till.post("/transactions", key=str(uuid.uuid4()),
                     json={"store_code": store.code, "member": {"member_id": member.id}, "items": basket})
    assert sale.status_code == 201, sale.get_json()
    recorded = {it.line_no: it.discount_fen for it in db.session.scalars(
        db.select(TransactionItem).where(TransactionItem.transaction_id == sale.get_json()["id"]))}
    assert {n: f for n, f in recorded.items() if f} == expected
    assert sum(recorded.values()) == sale.get_json()["discount_fen"] == simulated.get_json()["totals"]["discount_fen"]
