"""`flask wxcrm ...` commands, as an operator runs them."""
from __future__ import annotations

import uuid

from sqlalchemy import select

from wxcrm.extensions import db
from wxcrm.ledger.models import LedgerAccount


def test_store_staff_and_token_commands_make_a_working_till_login(app, client):
    runner = app.test_cli_runner()
    r = runner.invoke(args=["wxcrm", "store-create", "S010", "--name", "西湖店", "--kind", "franchise"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["wxcrm", "staff-create", "till10", "--role", "cashier", "--store", "S010",
                            "--password", "secret-pass-1"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["wxcrm", "token-create", "till10"])
    token = r.output.strip()
    assert r.exit_code == 0 and token.startswith("wxc_")
    body = {"store_code": "S010", "items": [{"sku": "A", "qty": 1, "unit_price_fen": 990}]}
    resp = client.post("/api/v1/transactions", json=body,
                       headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())})
    assert resp.status_code == 201


def test_bad_cli_input_is_a_clear_error(app):
    runner = app.test_cli_runner()
    r = runner.invoke(args=["wxcrm", "staff-create", "x1", "--role", "cashier", "--password", "secret-pass-1"])
    assert r.exit_code == 2 and "cashier belongs to a store" in r.output
    r = runner.invoke(args=["wxcrm", "token-create", "nobody"])
    assert r.exit_code == 2


def test_seed_demo_loads_a_shop_whose_ledgers_audit_clean(app):
    runner = app.test_cli_runner()
    r = runner.invoke(args=["wxcrm", "seed-demo", "--members", "40", "--days", "30"])
    assert r.exit_code == 0, r.output
    assert "admin" in r.output and "cashier1" in r.output
    r = runner.invoke(args=["wxcrm", "audit"])
    assert r.exit_code == 0 and "all balances match" in r.output
    assert db.session.scalar(select(db.func.sum(LedgerAccount.balance))) > 0
    again = runner.invoke(args=["wxcrm", "seed-demo", "--members", "40"])  # idempotent
    assert again.exit_code == 0


def test_audit_exits_1_and_names_the_account_that_differs(app, make):
    member = make.member()
    account = db.session.scalar(select(LedgerAccount).where(LedgerAccount.member_id == member.id,
                                                            LedgerAccount.kind == "points"))
    account.balance = 7
    db.session.commit()
    r = app.test_cli_runner().invoke(args=["wxcrm", "audit"])
    assert r.exit_code == 1
    assert f"account {account.id} member {member.id} points" in r.output


def test_the_demo_history_queues_no_wechat_notices(app):
    from wxcrm.messages.models import OutboxMessage
    assert app.test_cli_runner().invoke(args=["wxcrm", "seed-demo", "--members", "20", "--days", "10"]).exit_code == 0
    assert db.session.scalar(select(db.func.count(OutboxMessage.id))) == 0
