"""Many tills at once (MariaDB: real row locks)."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from tests.conftest import mysql_only, post_sale
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.sales.models import Transaction


@mysql_only
def test_twenty_tills_spending_one_members_points_never_overdraw(app, make):
    store = make.store("S001")
    make.typed_card_spends("S001")   # twenty tills, one card number: the store lets a typed card spend
    token = make.token("cashier", store)
    make.base_rule()
    member = make.member()
    post_sale(app, token, {"store_code": "S001", "member": {"card_no": member.card_no},
                       "items": [{"sku": "G", "qty": 1, "unit_price_fen": 100000}]}, str(uuid.uuid4()))  # 1000 pts
    spend = {"store_code": "S001", "member": {"card_no": member.card_no},
             "items": [{"sku": "C", "qty": 1, "unit_price_fen": 20000}], "points_to_use": 150}
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: post_sale(app, token, spend, str(uuid.uuid4())), range(20)))
    ok = [r for r in results if r[0] == 201]
    refused = [r for r in results if r[0] == 422]
    assert len(ok) + len(refused) == 20, results
    assert all(body["code"] == "insufficient_points" for _, body in refused)
    # 1000 points cover six spends of 150; each spend also earns 198 points (on 198.50
    # yuan left to pay), spendable by later purchases, so more than six can succeed. Every
    # acknowledged spend is in the balance exactly once, and nothing else is.
    db.session.expire_all()
    assert 6 <= len(ok)
    assert ledger.balance(db.session, member.id, "points") == 1000 + len(ok) * (198 - 150)
    assert ledger.audit(db.session) == []


@mysql_only
def test_twenty_tills_posting_the_same_key_create_one_transaction(app, make):
    store = make.store("S001")
    token = make.token("cashier", store)
    make.base_rule()
    member = make.member()
    body = {"store_code": "S001", "member": {"card_no": member.card_no},
            "items": [{"sku": "T", "qty": 1, "unit_price_fen": 5000}]}
    key = str(uuid.uuid4())
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: post_sale(app, token, body, key), range(20)))
    assert {status for status, _ in results} == {201}, results
    assert len({b["id"] for _, b in results}) == 1
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Transaction.id))) == 1
    assert ledger.balance(db.session, member.id, "points") == 50
    assert ledger.audit(db.session) == []
