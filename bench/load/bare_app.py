"""The physical baseline: the least a purchase must do on the same database. One locked read of
a balance, one ledger insert, one balance update, commit; JSON in, JSON out. No auth, no
validation, no rules: a ceiling to measure wxcrm's till against, not an app.

    gunicorn -w 4 -b 127.0.0.1:5611 bench.load.bare_app:app   (WXCRM_DATABASE_URL set)
"""
from __future__ import annotations

import os
from datetime import datetime, timezone

from flask import Flask, jsonify, request
from sqlalchemy import create_engine, text

app = Flask(__name__)
engine = create_engine(os.environ["WXCRM_DATABASE_URL"], pool_size=2, pool_pre_ping=False)

LOCK = text("SELECT balance FROM bare_accounts WHERE id = :id FOR UPDATE")
ENTRY = text("INSERT INTO bare_entries (account_id, amount, balance_after, cause, created_at)"
             " VALUES (:id, :amount, :after, 'purchase', :at)")
MOVE = text("UPDATE bare_accounts SET balance = :after WHERE id = :id")


@app.post("/purchase")
def purchase():
    body = request.get_json()
    account, amount = int(body["account"]), int(body["points"])
    with engine.begin() as conn:
        balance = conn.execute(LOCK, {"id": account}).scalar_one()
        after = balance + amount
        conn.execute(ENTRY, {"id": account, "amount": amount, "after": after,
                             "at": datetime.now(timezone.utc).replace(tzinfo=None)})
        conn.execute(MOVE, {"id": account, "after": after})
    return jsonify({"account": account, "balance": after}), 201
