"""The till's key goes in with its answer, after the work (issue 11): a repeat still writes
nothing and gets the first answer, also when its own work would be refused for being a repeat."""
from __future__ import annotations

import uuid

from sqlalchemy import func, select

from tests.checkout.test_statement_count import codes, purchase_body, till  # noqa: F401, F811  (fixtures)
from wxcrm.extensions import db
from wxcrm.idempotency import IdempotencyKey
from wxcrm.ledger import service as ledger
from wxcrm.sales.models import Transaction


def _counts():
    db.session.expire_all()
    return (db.session.scalar(select(func.count(Transaction.id))),
            db.session.scalar(select(func.count(IdempotencyKey.id))))


def test_a_repeated_spend_whose_code_already_paid_replays_the_first_receipt(till, codes):  # noqa: F811
    cashier, _, card = till
    key, body = str(uuid.uuid4()), purchase_body(card, 100, codes())
    first = cashier.post("/transactions", body, key=key)
    assert first.status_code == 201, first.get_json()
    before = _counts()
    again = cashier.post("/transactions", body, key=key)     # the code has paid: the work alone is refused
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert _counts() == before
    other = cashier.post("/transactions", purchase_body(card, 100, codes()), key=key)
    assert other.status_code == 409 and other.get_json()["code"] == "idempotency_key_reused"
    assert _counts() == before and ledger.audit(db.session) == []


def test_a_repeated_refund_replays_the_first(till, codes):  # noqa: F811
    cashier, manager, card = till
    sale = cashier.post("/transactions", purchase_body(card, 100, codes()), key=str(uuid.uuid4())).get_json()
    key = str(uuid.uuid4())
    first = manager.post(f"/transactions/{sale['id']}/refund", {}, key=key)
    assert first.status_code == 201, first.get_json()
    before = _counts()
    again = manager.post(f"/transactions/{sale['id']}/refund", {}, key=key)   # nothing left to refund
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert _counts() == before and ledger.audit(db.session) == []


def test_a_refused_sale_leaves_its_key_free(till):  # noqa: F811
    cashier, _, card = till
    key = str(uuid.uuid4())
    refused = cashier.post("/transactions", purchase_body(card, 100), key=key)   # a typed card may not spend
    assert 400 <= refused.status_code < 500 and refused.get_json()["code"] != "idempotency_key_reused"
    assert cashier.post("/transactions", purchase_body(card), key=key).status_code == 201
