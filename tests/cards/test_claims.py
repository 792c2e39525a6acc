"""Issue 12, item 7: scan-to-earn. A purchase without a member prints a claim QR; the
customer who scans it gets that purchase's points once, within the claim's hours, less what
a refund took back; a refunded purchase gives nothing."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import mysql_only
from wxcrm.cards.models import PurchaseClaim
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger

NOW = datetime(2026, 11, 23, 6, 0, 0)


def as_member(client, member):
    with client.session_transaction() as s:
        s["openid"], s["member_id"], s["oauth_scope"] = member.openid, member.id, "snsapi_base"


def walk_in(api, fen=10_000, qty=1, store="S001"):
    r = api.post("/transactions", {"store_code": store, "items": [
        {"sku": "TEA-001", "category": "tea", "qty": qty, "unit_price_fen": fen}]}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    return r.json


@pytest.fixture
def shop(cashier_api, make, frozen_now):
    frozen_now(NOW)
    make.base_rule()
    return cashier_api


def test_a_purchase_without_a_member_answers_a_claim_qr_and_the_receipt_prints_it(shop, client, make):
    sale = walk_in(shop)
    assert sale["claim_token"] and sale["claim_qr_url"].endswith(f"/h5/claim/{sale['claim_token']}")
    cashier = make.staff("cashier", store=_store())
    client.post("/login", data={"username": cashier.username, "password": "password123"})
    page = client.get(f"/cashier/receipt/{sale['id']}").get_data(as_text=True)
    assert 'data-testid="claim-qr"' in page


def _store():
    from wxcrm.members.models import Store
    return db.session.scalar(select(Store).where(Store.code == "S001"))


def test_a_member_claims_a_receipt_once_and_nobody_else_can(shop, client, make, app):
    sale = walk_in(shop, fen=12_345)
    first = make.member(openid="o-claim-1")
    second = make.member(openid="o-claim-2")
    as_member(client, first)
    assert 'data-testid="claim-button"' in client.get(f"/h5/claim/{sale['claim_token']}").get_data(as_text=True)
    r = client.post(f"/h5/claim/{sale['claim_token']}")
    assert r.status_code == 302
    assert ledger.balance(db.session, first.id, "points") == 123          # 1 point a yuan, as at the till
    assert client.post(f"/h5/claim/{sale['claim_token']}").status_code == 200   # again: refused, nothing more
    other = app.test_client()
    as_member(other, second)
    page = other.post(f"/h5/claim/{sale['claim_token']}").get_data(as_text=True)
    assert "already claimed" in page or "已被领取" in page
    db.session.expire_all()
    assert ledger.balance(db.session, first.id, "points") == 123
    assert ledger.balance(db.session, second.id, "points") == 0
    assert ledger.audit(db.session) == []


def test_a_claim_expires_after_the_setting(shop, client, make, frozen_now):
    sale = walk_in(shop)
    member = make.member(openid="o-late")
    as_member(client, member)
    frozen_now(NOW + timedelta(hours=24))
    page = client.post(f"/h5/claim/{sale['claim_token']}").get_data(as_text=True)
    assert ledger.balance(db.session, member.id, "points") == 0
    assert 'data-testid="claim-button"' not in page


def test_a_refunded_purchase_gives_nothing_and_a_partial_refund_gives_less(shop, manager_api, client, make):
    whole = walk_in(shop, fen=5_000, qty=2)
    part = walk_in(shop, fen=5_000, qty=2)
    assert manager_api.post(f"/transactions/{whole['id']}/refund", {}, key=str(uuid.uuid4())).status_code == 201
    assert manager_api.post(f"/transactions/{part['id']}/refund", {"items": [{"line_no": 1, "qty": 1}]},
                            key=str(uuid.uuid4())).status_code == 201
    member = make.member(openid="o-refunded")
    as_member(client, member)
    client.post(f"/h5/claim/{whole['claim_token']}")
    assert ledger.balance(db.session, member.id, "points") == 0
    client.post(f"/h5/claim/{part['claim_token']}")
    assert ledger.balance(db.session, member.id, "points") == 50


def test_a_member_claims_at_most_two_receipts_of_one_store_a_day(shop, client, make):
    sales = [walk_in(shop, fen=1_000) for _ in range(3)]
    member = make.member(openid="o-greedy")
    as_member(client, member)
    for sale in sales:
        client.post(f"/h5/claim/{sale['claim_token']}")
    assert ledger.balance(db.session, member.id, "points") == 20
    claimed = db.session.scalars(select(PurchaseClaim).where(PurchaseClaim.member_id == member.id)).all()
    assert len(claimed) == 2


@mysql_only
def test_two_members_claiming_one_receipt_at_once_are_credited_once(app, make, cashier_api):
    make.base_rule()
    sale = walk_in(cashier_api, fen=20_000)
    people = [make.member(openid=f"o-race-{i}") for i in range(6)]

    def claim(member_id, openid):
        with app.app_context(), app.test_client() as c:
            with c.session_transaction() as s:
                s["openid"], s["member_id"], s["oauth_scope"] = openid, member_id, "snsapi_base"
            return c.post(f"/h5/claim/{sale['claim_token']}").status_code

    with ThreadPoolExecutor(6) as pool:
        who = [(m.id, m.openid) for m in people + people[:1]]      # one member twice, five others
        list(pool.map(lambda w: claim(*w), who))
    db.session.expire_all()
    balances = [ledger.balance(db.session, m.id, "points") for m in people]
    assert sorted(balances) == [0, 0, 0, 0, 0, 200]
    assert ledger.audit(db.session) == []
