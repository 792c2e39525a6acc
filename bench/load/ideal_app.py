"""The idealised purchase, the issue's ceiling: the statements wxcrm's till makes for a member's
one-item purchase (the same SQL, on the same tables), in SQLAlchemy Core, with no auth, no
validation, no rules and no ORM. Where the bare app measures one locked ledger write, this
measures what the purchase's own writes cost the database and the driver, so the gap between it
and wxcrm is what wxcrm's Python adds. A diagnostic that bench/load/run.sh runs beside the others
(the table's `ideal` row), not an app: it earns 1 point per yuan whatever the rules say. Its SQL
copies the till's statements as issue 11's fifth pass left them: a change to what a sale sends
changes it too (the slow log, `long_query_time=0`, shows both).

    gunicorn -w 4 -b 127.0.0.1:5612 bench.load.ideal_app:app   (WXCRM_DATABASE_URL set)
"""
from __future__ import annotations

import hashlib
import json
import os
from datetime import date, datetime, timedelta, timezone

from flask import Flask, jsonify, request
from sqlalchemy import create_engine, text

app = Flask(__name__)
engine = create_engine(os.environ["WXCRM_DATABASE_URL"], pool_size=2, pool_pre_ping=False)

REVISION = text("SELECT reference_revision.token FROM reference_revision WHERE reference_revision.id = 1")
MEMBER = text(
    "SELECT json_array(members.id, members.card_no, members.openid, members.phone, members.status, members.tier_id,"
    " members.tier_until, members.birthday, members.gender, members.district, members.group_id, members.joined_on,"
    " members.expires_on, members.referrer_id, members.followed, members.marketing_consent, members.coupons_held,"
    " ledger_accounts.id, ledger_accounts.balance)"
    " FROM members LEFT OUTER JOIN ledger_accounts ON ledger_accounts.member_id = members.id"
    " AND ledger_accounts.kind = 'points' WHERE members.card_no = :card FOR UPDATE")
FACTS = text(   # as wxcrm's since issue 11's fifth pass: the open lots read once, the balance from MEMBER
    "SELECT json_array(coalesce(sum(CASE WHEN (transactions.kind = 'purchase') THEN 1 ELSE 0 END), 0),"
    " coalesce(sum(CASE WHEN (transactions.business_date > :year_start AND transactions.business_date <= :today)"
    " THEN CASE WHEN (transactions.kind = 'refund') THEN -transactions.payable_fen ELSE transactions.payable_fen END"
    " ELSE 0 END), 0),"
    " (SELECT count(members.id) FROM members WHERE members.referrer_id = :member),"
    " (SELECT json_array(coalesce(sum(CASE WHEN (points_lots.available_from <= :today) THEN points_lots.remaining"
    "  ELSE 0 END), 0), coalesce(sum(CASE WHEN (points_lots.available_from > :today) THEN points_lots.remaining"
    "  ELSE 0 END), 0)) FROM points_lots"
    "  WHERE points_lots.account_id = :account AND points_lots.remaining > 0 AND points_lots.expires_on >= :today),"
    " (SELECT rule_usage.count FROM rule_usage WHERE rule_usage.member_id = :member AND rule_usage.rule_id = 1"
    "  AND rule_usage.`period` = 'month' AND rule_usage.period_key = :month))"
    " FROM transactions WHERE transactions.member_id = :member")
SALE = text(
    "INSERT INTO transactions (kind, store_id, member_id, staff_id, original_id, payment_method, total_fen,"
    " discount_fen, points_redeemed_fen, payable_fen, points_earned, points_redeemed, points_shortfall, receipt,"
    " business_date, created_at, recorded_at) VALUES ('purchase', 1, :member, NULL, NULL, :method, :total, 0, 0,"
    " :total, 0, 0, 0, '{}', :today, :at, :at)")
LINE = text(
    "INSERT INTO transaction_items (transaction_id, line_no, sku, category, qty, unit_price_fen, amount_fen,"
    " discount_fen, refunded_qty) VALUES (:txn, :line_no, :sku, :category, :qty, :price, :amount, 0, 0)")
BENEFIT = text(
    "INSERT INTO transaction_benefits (transaction_id, kind, rule_id, rule_version, rule_name, points, amount_fen,"
    " text_zh, text_en) VALUES (:txn, 'points', NULL, NULL, 'ideal', :points, 0, :zh, :en)")
MOVE = text("UPDATE ledger_accounts SET balance = :after, updated_at = :at WHERE ledger_accounts.id = :account")
ENTRY = text(
    "INSERT INTO ledger_entries (account_id, amount, balance_after, cause, cause_id, transaction_id, rule_id,"
    " rule_version, staff_id, text_zh, text_en, created_at) VALUES (:account, :points, :after, 'purchase', :cause,"
    " :txn, NULL, NULL, NULL, :zh, :en, :at)")
LOT = text(
    "INSERT INTO points_lots (account_id, entry_id, points, remaining, available_from, expires_on, transaction_id,"
    " created_at) VALUES (:account, :entry, :points, :points, :today, :expires, :txn, :at)")
FINISH = text("UPDATE transactions SET points_earned = :points, receipt = :receipt WHERE transactions.id = :txn")
NOTICE = text(
    "INSERT INTO outbox_messages (purpose, channel, status, member_id, openid, phone, payload, `history`, dedup_key,"
    " reason, attempts, last_error, next_attempt_at, claimed_by, claimed_until, remote_id, content_key,"
    " mass_send_id, created_at, sent_at) VALUES ('points_changed', 'template', 'pending', :member, :openid, :phone,"
    " :payload, '[]', :dedup, '', 0, '', :at, NULL, NULL, '', NULL, NULL, :at, NULL)")
KEY = text("INSERT INTO idempotency_keys (scope, `key`, request_hash, status_code, response, created_at)"
           " VALUES ('ideal', :key, :hash, 201, :response, :at)")


@app.post("/api/v1/transactions")
def purchase():
    raw = request.get_data()
    body = json.loads(raw)
    item = body["items"][0]
    amount = int(item["unit_price_fen"]) * int(item.get("qty", 1))
    points = amount // 100
    at = datetime.now(timezone.utc).replace(tzinfo=None)
    today = date.today()
    zh, en = f"消费积分：+{points} 积分", f"Points on purchases: +{points} points"
    with engine.begin() as conn:
        conn.execute(REVISION).scalar_one()
        member = json.loads(conn.execute(MEMBER, {"card": body["member"]["card_no"]}).scalar_one())
        member_id, openid, phone, account, balance = member[0], member[2], member[3], member[17], member[18]
        json.loads(conn.execute(FACTS, {"member": member_id, "account": account, "today": today,
                                        "year_start": today - timedelta(days=365),
                                        "month": today.strftime("%Y-%m")}).scalar_one())
        txn = conn.execute(SALE, {"member": member_id, "method": body["payment_method"], "total": amount,
                                  "today": today, "at": at}).lastrowid
        conn.execute(LINE, {"txn": txn, "line_no": 1, "sku": item["sku"], "category": item.get("category"),
                            "qty": item.get("qty", 1), "price": item["unit_price_fen"], "amount": amount})
        conn.execute(BENEFIT, {"txn": txn, "points": points, "zh": zh, "en": en})
        after = balance + points
        conn.execute(MOVE, {"after": after, "at": at, "account": account})
        entry = conn.execute(ENTRY, {"account": account, "points": points, "after": after, "cause": str(txn),
                                     "txn": txn, "zh": zh, "en": en, "at": at}).lastrowid
        conn.execute(LOT, {"account": account, "entry": entry, "points": points, "today": today,
                           "expires": today + timedelta(days=730), "txn": txn, "at": at})
        receipt = {"id": txn, "member_id": member_id, "total_fen": amount, "points_earned": points,
                   "points_balance": after, "receipt_lines": [{"kind": "points", "text": zh, "text_en": en}]}
        receipt_json = json.dumps(receipt, ensure_ascii=False)     # as wxcrm's JSON columns
        conn.execute(FINISH, {"points": points, "receipt": receipt_json, "txn": txn})
        conn.execute(NOTICE, {"member": member_id, "openid": openid, "phone": phone, "at": at,
                              "dedup": f"ideal:{txn}:points",
                              "payload": json.dumps({"template_id": "TPL_POINTS_CHANGED", "change": points,
                                                     "balance": after}, ensure_ascii=False)})
        conn.execute(KEY, {"key": request.headers.get("Idempotency-Key", str(txn)),
                           "hash": hashlib.sha256(raw).hexdigest(), "response": receipt_json, "at": at})
    return jsonify(receipt), 201
