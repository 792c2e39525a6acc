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
    assert 'data-testid="claim-refunded"' in client.get(f"/h5/claim/{part['claim_token']}").get_data(as_text=True)
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


def _bonus_rule(name: str, points: int, status: str = "active") -> dict:
    return {"name": name, "name_en": name, "event": "purchase", "status": status, "priority": 5,
            "actions": [{"type": "bonus_points", "points": points}]}


def test_a_claim_is_credited_by_the_rule_versions_in_force_at_the_sale(shop, client, make, frozen_now):
    """Item 7: "credits that purchase's points, by the rules as they were at the purchase".
    Between the sale and the claim the base rule triples its rate (a new version), a bonus
    rule live at the sale is paused and a new bonus rule goes live: the claim gets the
    version-1 rate and the paused bonus, not the new ones; a sale made after the change
    gets the new ones."""
    from wxcrm.rules import storage
    from wxcrm.rules.catalogue import base_earning_rule
    from wxcrm.sales.models import TransactionBenefit

    base = storage.list_rules(db.session, event="purchase")[0]
    paused_later = storage.create_rule(db.session, _bonus_rule("开业加赠", 7))
    db.session.commit()
    sale = walk_in(shop, fen=10_000)                               # 100 yuan at NOW

    frozen_now(NOW + timedelta(hours=1))
    storage.update_rule(db.session, base.id, base_earning_rule(rate=3))
    storage.set_status(db.session, paused_later.id, "paused")
    storage.create_rule(db.session, _bonus_rule("新品加赠", 50))
    db.session.commit()
    later = walk_in(shop, fen=10_000)                              # 100 yuan under the new rules

    frozen_now(NOW + timedelta(hours=2))
    member = make.member(openid="o-then")
    as_member(client, member)
    assert client.post(f"/h5/claim/{sale['claim_token']}").status_code == 302
    assert ledger.balance(db.session, member.id, "points") == 100 + 7
    given = {(b.rule_id, b.rule_version, b.points) for b in db.session.scalars(
        select(TransactionBenefit).where(TransactionBenefit.transaction_id == sale["id"]))}
    assert given == {(base.id, 1, 100), (paused_later.id, 1, 7)}

    client.post(f"/h5/claim/{later['claim_token']}")
    assert ledger.balance(db.session, member.id, "points") == 107 + 300 + 50
    assert ledger.audit(db.session) == []


def test_a_purchase_made_before_any_rule_earns_nothing_when_claimed(cashier_api, client, make, frozen_now):
    frozen_now(NOW)
    sale = walk_in(cashier_api, fen=10_000)
    frozen_now(NOW + timedelta(minutes=5))
    make.base_rule()
    member = make.member(openid="o-before-rules")
    as_member(client, member)
    client.post(f"/h5/claim/{sale['claim_token']}")
    assert ledger.balance(db.session, member.id, "points") == 0


def _refund(manager_api, sale_id, items=None):
    r = manager_api.post(f"/transactions/{sale_id}/refund", {"items": items} if items else {}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    return r.json


def test_a_partial_refund_after_a_claim_takes_back_its_share_of_the_claimed_points(shop, manager_api, client, make):
    """Item 7 with a refund after the claim: the member who claimed gives back the points of
    what is refunded, pro rata, and all of them when the rest is refunded."""
    sale = walk_in(shop, fen=2_500, qty=4)                 # 100 yuan: 100 points once claimed
    member = make.member(openid="o-claim-then-refund")
    as_member(client, member)
    client.post(f"/h5/claim/{sale['claim_token']}")
    assert ledger.balance(db.session, member.id, "points") == 100
    first = _refund(manager_api, sale["id"], [{"line_no": 1, "qty": 1}])
    assert first["member_id"] == member.id and first["points_earned"] == -25
    assert ledger.balance(db.session, member.id, "points") == 75
    _refund(manager_api, sale["id"])
    assert ledger.balance(db.session, member.id, "points") == 0
    assert ledger.audit(db.session) == []


def test_a_refund_before_the_claim_and_another_after_take_back_exactly_what_the_claim_gave(
        shop, manager_api, client, make):
    """A refund before the claim makes the claim give only on what is left (60 of 100 yuan:
    60 points); a refund after it takes back the claim's points in proportion to what was
    left at the claim (half of the 60 yuan: 30), and the last refund the rest (0 left)."""
    sale = walk_in(shop, fen=2_000, qty=5)                 # 100 yuan
    _refund(manager_api, sale["id"], [{"line_no": 1, "qty": 2}])      # 40 yuan back before the claim
    member = make.member(openid="o-refund-claim-refund")
    as_member(client, member)
    client.post(f"/h5/claim/{sale['claim_token']}")
    assert ledger.balance(db.session, member.id, "points") == 60
    assert db.session.scalar(select(PurchaseClaim.net_fen).where(PurchaseClaim.token == sale["claim_token"])) == 6_000
    middle = _refund(manager_api, sale["id"], [{"line_no": 1, "qty": 1}])
    assert middle["points_earned"] == -20
    assert ledger.balance(db.session, member.id, "points") == 40
    last = _refund(manager_api, sale["id"])
    assert last["points_earned"] == -40
    assert ledger.balance(db.session, member.id, "points") == 0
    assert ledger.audit(db.session) == []


@mysql_only
def test_a_claim_and_a_partial_refund_at_once_leave_the_member_the_points_of_what_was_kept(
        app, make, cashier_api, manager_api):
    """Whichever commits first (the claim, or the refund of a quarter of the purchase), the
    member ends with the points of the three quarters kept: never the whole, never less."""
    make.base_rule()
    member = make.member(openid="o-race-refund")
    manager_token = manager_api.token
    sales = [walk_in(cashier_api, fen=2_500, qty=4) for _ in range(2)]

    def claim(token):
        with app.app_context(), app.test_client() as c:
            with c.session_transaction() as s:
                s["openid"], s["member_id"], s["oauth_scope"] = member.openid, member.id, "snsapi_base"
            return c.post(f"/h5/claim/{token}").status_code

    def refund(sale_id):
        with app.app_context(), app.test_client() as c:
            return c.post(f"/api/v1/transactions/{sale_id}/refund", json={"items": [{"line_no": 1, "qty": 1}]},
                          headers={"Authorization": f"Bearer {manager_token}",
                                   "Idempotency-Key": str(uuid.uuid4())}).status_code

    for sale in sales:           # (a member claims at most two receipts of one store a day)
        with ThreadPoolExecutor(2) as pool:
            done = [pool.submit(claim, sale["claim_token"]), pool.submit(refund, sale["id"])]
            assert sorted(f.result() for f in done) == [201, 302]
    db.session.expire_all()
    assert ledger.balance(db.session, member.id, "points") == 2 * 75
    assert ledger.audit(db.session) == []
