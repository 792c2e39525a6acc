"""The database going away under the till (a restart, a fail-over), on MariaDB.

The pool pings a connection only when it sat idle (``config.IDLE_PING_SECONDS``), not on
every checkout (issue 11: a round trip per request). So a connection the server dropped
while it was in steady use fails its request, and the till must get an answer it can act
on: a 503 with Retry-After, nothing written, and the same sale retried with the same
Idempotency-Key goes through once. A connection idle longer than that is pinged and
replaced before the request uses it: the request never sees the loss.
"""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from tests.conftest import Api, mysql_only
from wxcrm.extensions import db
from wxcrm.sales.models import Transaction

pytestmark = mysql_only


def kill_pooled_connections() -> int:
    """The server ends every other connection to this database (the app's pool: the tests
    run one at a time), as a restart would."""
    db.session.remove()
    killer = create_engine(db.engine.url, poolclass=NullPool)
    with killer.connect() as conn:
        ids = conn.execute(text("SELECT ID FROM information_schema.PROCESSLIST"
                                " WHERE DB = DATABASE() AND ID <> CONNECTION_ID()")).scalars().all()
        for connection_id in ids:
            conn.execute(text(f"KILL {int(connection_id)}"))
    killer.dispose()
    return len(ids)


@pytest.fixture
def cashier(client, make):
    store = make.store("S001")
    member = make.member()
    api = Api(client, make.token("cashier", store))
    warm = api.post("/transactions", sale(member.card_no), key=str(uuid.uuid4()))
    assert warm.status_code == 201, warm.get_json()
    return api, member.card_no


def sale(card: str) -> dict:
    return {"store_code": "S001", "member": {"card_no": card},
            "items": [{"sku": "TEA-001", "qty": 1, "unit_price_fen": 1800}]}


def sales() -> int:
    db.session.remove()
    return db.session.scalar(select(func.count(Transaction.id)))


def test_a_connection_lost_in_steady_use_is_a_503_the_till_retries_once(cashier):
    api, card = cashier
    before = sales()
    assert kill_pooled_connections() >= 1
    key = str(uuid.uuid4())

    lost = api.post("/transactions", sale(card), key=key)
    assert lost.status_code == 503, lost.get_json()
    assert lost.get_json()["code"] == "database_unavailable"
    assert lost.headers["Retry-After"] == "1"
    assert sales() == before     # nothing written

    retried = api.post("/transactions", sale(card), key=key)   # the pool let the dead connections go
    assert retried.status_code == 201, retried.get_json()
    again = api.post("/transactions", sale(card), key=key)
    assert again.status_code == 201 and again.get_json()["id"] == retried.get_json()["id"]
    assert sales() == before + 1


def test_a_connection_lost_while_idle_is_replaced_before_use_and_the_others_with_it(cashier, monkeypatch):
    from wxcrm import config
    api, card = cashier
    held = [db.engine.connect() for _ in range(3)]
    for conn in held:
        conn.close()
    before = sales()
    kill_pooled_connections()
    monkeypatch.setattr(config, "IDLE_PING_SECONDS", -1.0)   # the next checkout counts as idle: pinged

    res = api.post("/transactions", sale(card), key=str(uuid.uuid4()))
    assert res.status_code == 201, res.get_json()
    monkeypatch.setattr(config, "IDLE_PING_SECONDS", 1e9)    # no more pings: the rest must be new ones
    for _ in range(3):
        assert api.post("/transactions", sale(card), key=str(uuid.uuid4())).status_code == 201
    assert sales() == before + 4
