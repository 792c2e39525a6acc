"""Issue 16: the coupons, stored value and settlement reports, the pivot's coupon and stored
value measures, and the segment filter, each checked against a plain SQL query written here
over the raw tables (never the report code run twice)."""
from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import text

from wxcrm.analytics import reports, rollup, standard
from wxcrm.analytics.reports import Filters
from wxcrm.campaigns import service as campaigns
from wxcrm.extensions import db
from wxcrm.rules import storage as rules
from wxcrm.rules.catalogue import TEMPLATES
from wxcrm.topups import settlement

from .conftest import TODAY

OCT = Filters(date(2026, 9, 1), date(2026, 11, 30))


def sql(query: str, **params):
    return db.session.execute(text(query), params).all()


def key():
    return str(uuid.uuid4())


@pytest.fixture
def money(make, admin_api, frozen_now, settings):
    """A brand store and a franchise store; members topping up at one and spending at the
    other, with coupons issued and some used, over two months."""
    frozen_now(datetime(2026, 10, 5, 4, 0))
    make.store("S001")
    make.store("F001", kind="franchise")
    make.typed_card_spends("S001")
    make.typed_card_spends("F001")
    settlement.create_franchisee(db.session, code="FR1", name="加盟商甲", store_codes=("F001",))
    for rule in TEMPLATES["topup_bonus_tiers"].rules():
        rules.create_rule(db.session, {**rule, "status": "active"})
    db.session.commit()
    api = admin_api
    r = api.post("/coupon-templates", {"code": "CASH20", "type": "cash", "title_zh": "20元代金券",
                                       "face_value_fen": 2000, "min_spend_fen": 5000, "valid_days": 60})
    assert r.status_code == 201, r.json
    members = [make.member(gender="female" if i % 2 else "male") for i in range(4)]
    sales = []
    for day, hour in ((5, 4), (20, 6), (3, 2)):
        month = 10 if day != 3 else 11
        frozen_now(datetime(2026, month, day, hour, 0))
        for i, m in enumerate(members):
            store, other = ("F001", "S001") if i % 2 else ("S001", "F001")
            r = api.post("/topups", {"store_code": store, "member": {"member_id": m.id}, "amount_fen": 20_000 + i * 100,
                                     "method": "cash"}, key=key())
            assert r.status_code == 201, r.json
            coupon = api.post("/coupons", {"template": "CASH20", "member": {"card_no": m.card_no},
                                           "reason": "test"}, key=key())
            assert coupon.status_code == 201, coupon.json
            body = {"store_code": other, "member": {"card_no": m.card_no},
                    "items": [{"sku": "T", "category": "tea", "qty": 1, "unit_price_fen": 9_000 + i * 500}],
                    "payment_method": "stored_value"}
            if i != 3:
                body["coupon_codes"] = [coupon.json["code"]]
            r = api.post("/transactions", body, key=key())
            assert r.status_code == 201, r.json
            sales.append(r.json)
    r = api.post(f"/transactions/{sales[0]['id']}/refund", {}, key=key())   # gives its coupon back, its value too
    assert r.status_code == 201, r.json
    db.session.commit()
    rollup.roll_up(db.session, settings, lag_seconds=0)
    db.session.commit()
    return {"members": members, "settings": settings}


def test_coupons_issued_and_redeemed_agree_with_sql(money):
    f = Filters(OCT.start, OCT.end, settings=money["settings"])
    rows = list(standard.get("coupons").rows(db.session, f, "month"))
    got = {(r[0], r[2], r[3], r[4]) for r in rows}
    issued = dict(sql("SELECT DATE_FORMAT(issued_at, '%Y-%m'), COUNT(*) FROM coupons GROUP BY 1")
                  if db.session.get_bind().dialect.name == "mysql" else
                  sql("SELECT strftime('%Y-%m', issued_at), COUNT(*) FROM coupons GROUP BY 1"))
    used = {m: (n, int(d)) for m, n, d in (
        sql("SELECT DATE_FORMAT(used_at, '%Y-%m'), COUNT(*), SUM(discount_fen) FROM coupons "
            "WHERE status = 'used' GROUP BY 1") if db.session.get_bind().dialect.name == "mysql" else
        sql("SELECT strftime('%Y-%m', used_at), COUNT(*), SUM(discount_fen) FROM coupons WHERE status = 'used' "
            "GROUP BY 1"))}
    assert got == {(m, issued.get(m, 0), *used.get(m, (0, 0))) for m in set(issued) | set(used)}
    used_now = sql("SELECT COUNT(*) FROM coupons WHERE status = 'used'")[0][0]
    assert sum(r[3] for r in rows) == used_now > 0
    assert sql("SELECT COUNT(*) FROM coupons WHERE restored_at IS NOT NULL")[0][0] == 1   # the refund gave one back
    # At one store only: the coupons used there.
    s001 = sql("SELECT id FROM stores WHERE code = 'S001'")[0][0]
    at_one = list(standard.get("coupons").rows(db.session, Filters(OCT.start, OCT.end, (s001,),
                                                                   settings=money["settings"]), "month"))
    assert sum(r[3] for r in at_one) == sql("SELECT COUNT(*) FROM coupons WHERE status = 'used' AND used_store_id = :s",
                                            s=s001)[0][0]


def test_stored_value_topped_up_spent_and_outstanding_agree_with_sql(money):
    rows = list(standard.get("stored_value").rows(db.session, OCT, "month"))
    topped = sql("SELECT SUM(amount_fen) FROM topups WHERE status = 'paid'")[0][0]
    assert sum(r[2] for r in rows) == topped
    credits, debits = sql("""SELECT SUM(CASE WHEN e.amount > 0 THEN e.amount ELSE 0 END),
                                    SUM(CASE WHEN e.amount < 0 THEN -e.amount ELSE 0 END)
                             FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
                             WHERE a.kind = 'stored_value'""")[0]
    assert (sum(r[3] for r in rows), sum(r[4] for r in rows)) == (credits, debits)
    # What is left after the last period is what the accounts hold.
    assert rows[-1][5] == sql("SELECT SUM(balance) FROM ledger_accounts WHERE kind = 'stored_value'")[0][0]


def test_settlement_between_the_brand_and_its_franchisee_agrees_with_sql(money):
    f = Filters(OCT.start, OCT.end, settings=money["settings"])
    rows = list(standard.get("settlement").rows(db.session, f, "month"))
    got = defaultdict(lambda: [0, 0])
    for month, _debtor, _creditor, issued, sold, principal, bonus, _total in rows:
        got[(month, issued.split()[0], sold.split()[0])][0] += principal
        got[(month, issued.split()[0], sold.split()[0])][1] += bonus
    # Spent at a store of another owner: the principal is owed by the owner of the top-up's
    # store; the bonus by the brand (it funds bonuses), so only to a franchise store.
    month_expr = "DATE_FORMAT(e.created_at, '%Y-%m')" if db.session.get_bind().dialect.name == "mysql" \
        else "strftime('%Y-%m', e.created_at)"
    expected = {(m, i, s): [-int(p), -int(b) if kind == "franchise" else 0] for m, i, s, kind, p, b in sql(f"""
        SELECT {month_expr}, si.code, ss.code, ss.kind, SUM(mv.principal), SUM(mv.bonus)
        FROM stored_value_movements mv JOIN ledger_entries e ON e.id = mv.entry_id
        JOIN stored_value_lots l ON l.id = mv.lot_id JOIN transactions t ON t.id = e.transaction_id
        JOIN stores si ON si.id = l.store_id JOIN stores ss ON ss.id = t.store_id
        WHERE e.cause IN ('purchase', 'refund') AND si.kind <> ss.kind GROUP BY 1, 2, 3, 4""")}
    assert dict(got) == {k: v for k, v in expected.items() if v != [0, 0]}
    assert len(got) >= 2


def test_the_pivot_counts_coupons_redeemed_and_stored_value_paid_like_sql(money):
    cells = reports.pivot(db.session, OCT, "store", "month", "coupons")
    month_expr = "DATE_FORMAT(t.business_date, '%Y-%m')" if db.session.get_bind().dialect.name == "mysql" \
        else "strftime('%Y-%m', t.business_date)"
    expected = {(str(s), m): n for s, m, n in sql(f"""
        SELECT t.store_id, {month_expr}, COUNT(*) FROM coupons c JOIN transactions t ON t.id = c.used_transaction_id
        GROUP BY 1, 2""")}
    assert cells == expected and sum(cells.values()) > 0
    cells = reports.pivot(db.session, OCT, "gender", None, "stored_value")
    expected = {(g, ""): int(v) for g, v in sql("""
        SELECT m.gender, SUM(CASE WHEN t.kind = 'refund' THEN -p.amount_fen ELSE p.amount_fen END)
        FROM transaction_payments p JOIN transactions t ON t.id = p.transaction_id
        JOIN members m ON m.id = t.member_id WHERE p.method = 'stored_value' GROUP BY m.gender""")}
    assert cells == expected and all(v > 0 for v in cells.values())


def test_a_segment_filters_the_dashboard_to_its_members(shop, settings):
    seg = campaigns.save_segment(db.session, name="女性会员", filters=[{"field": "gender", "op": "in",
                                                                     "value": ["female"]}])
    db.session.commit()
    f = Filters(date(2025, 11, 20), TODAY - timedelta(days=1), segment_id=seg.id, settings=settings)
    spend, visits, members = sql("""
        SELECT SUM(CASE WHEN t.kind = 'refund' THEN -t.payable_fen ELSE t.payable_fen END),
               SUM(CASE WHEN t.kind = 'purchase' THEN 1 ELSE 0 END),
               COUNT(DISTINCT CASE WHEN t.kind = 'purchase' THEN t.member_id END)
        FROM transactions t JOIN members m ON m.id = t.member_id
        WHERE m.gender = 'female' AND m.status = 'active' AND t.business_date BETWEEN :a AND :b""",
                                 a=f.start, b=f.end)[0]
    got = reports.totals(db.session, f)
    assert (got["spend"], got["visits"], got["members"]) == (int(spend), int(visits), members)
    by_store = {str(s): int(v) for s, v in sql("""
        SELECT t.store_id, SUM(CASE WHEN t.kind = 'refund' THEN -t.payable_fen ELSE t.payable_fen END)
        FROM transactions t JOIN members m ON m.id = t.member_id
        WHERE m.gender = 'female' AND m.status = 'active' AND t.business_date BETWEEN :a AND :b
        GROUP BY t.store_id""", a=f.start, b=f.end)}
    assert {k: v["spend"] for k, v in reports.breakdown(db.session, f, "store").items()} == by_store
    qty = {c: int(q) for c, q in sql("""
        SELECT i.category, SUM(CASE WHEN t.kind = 'refund' THEN -i.qty ELSE i.qty END)
        FROM transaction_items i JOIN transactions t ON t.id = i.transaction_id JOIN members m ON m.id = t.member_id
        WHERE m.gender = 'female' AND m.status = 'active' AND t.business_date BETWEEN :a AND :b
        GROUP BY i.category""", a=f.start, b=f.end)}
    assert {k: v["qty"] for k, v in reports.breakdown(db.session, f, "category").items()} == qty
    hours = reports.breakdown(db.session, f, "hour")
    assert sum(v["visits"] for v in hours.values()) == visits
    assert reports.totals(db.session, Filters(f.start, f.end))["spend"] > got["spend"]   # the segment is a part

