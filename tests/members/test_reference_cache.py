"""The workers' caches of tokens, staff, stores, tiers and rules (wxcrm.members.cache): a change
counts from the next request after its commit, and the caches stay bounded."""
from __future__ import annotations

import uuid

from sqlalchemy import select

from wxcrm.extensions import db
from wxcrm.members import cache
from wxcrm.members.models import ApiToken, Staff, Store
from wxcrm.timeutil import utcnow

SALE = {"store_code": "S001", "items": [{"sku": "TEA", "qty": 1, "unit_price_fen": 1800}]}


def sell(api):
    return api.post("/transactions", SALE, key=str(uuid.uuid4()))


def test_a_revoked_token_stops_at_the_next_request(cashier_api):
    assert sell(cashier_api).status_code == 201          # the token is now in this worker's cache
    for row in db.session.scalars(select(ApiToken)):
        row.revoked_at = utcnow()
    db.session.commit()
    assert sell(cashier_api).status_code == 401


def test_a_disabled_cashier_stops_at_the_next_request(cashier_api):
    assert sell(cashier_api).status_code == 201
    for person in db.session.scalars(select(Staff)):
        person.active = False
    db.session.commit()
    assert sell(cashier_api).status_code == 401


def test_a_closed_store_sells_nothing_from_the_next_request(cashier_api):
    assert sell(cashier_api).status_code == 201
    db.session.scalar(select(Store).where(Store.code == "S001")).active = False
    db.session.commit()
    res = sell(cashier_api)
    assert res.status_code == 422 and res.get_json()["code"] == "store_inactive"


def test_a_change_rolled_back_leaves_the_caches_as_they_were(cashier_api):
    assert sell(cashier_api).status_code == 201
    before = cache.reference_token(db.session)
    db.session.scalar(select(Store).where(Store.code == "S001")).active = False
    db.session.flush()
    db.session.rollback()
    assert cache.reference_token(db.session) == before
    assert sell(cashier_api).status_code == 201


def test_a_cache_keeps_at_most_its_size(app):
    small = cache.ReferenceCache("test", 3)
    for n in range(10):
        assert small.get(db.session, n, lambda s, n=n: n * n) == n * n
    assert len(small) == 3
    assert small.get(db.session, 9, lambda s: -1) == 81           # kept: the most recent
    assert small.get(db.session, 0, lambda s: -1) == -1           # evicted: the oldest
