"""Item 5: a tier and a membership year bought at the till, with stored value or money."""
from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest

from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.members.models import Member, Tier


@pytest.fixture
def shop(make, cashier_api, frozen_now):
    frozen_now(datetime(2026, 11, 23, 6, 0))
    make.tier("normal", 1)
    gold = make.tier("gold", 2, threshold_fen=800_000)
    gold.price_fen, gold.term_months = 19_900, 12
    make.typed_card_spends("S001")   # these tests spend stored value with a typed card number (issue 12's store setting)
    db.session.commit()
    return make


def buy(api, member, method="stored_value", tier="gold"):
    return api.post("/memberships", {"store_code": "S001", "member": {"member_id": member.id}, "tier": tier,
                                     "method": method}, key=str(uuid.uuid4()))


def test_a_member_buys_a_gold_year_with_stored_value(shop, cashier_api):
    member = shop.member(expires_on=date(2027, 3, 1))
    cashier_api.post("/topups", {"store_code": "S001", "member": {"member_id": member.id}, "amount_fen": 30_000,
                                 "method": "cash"}, key=str(uuid.uuid4()))
    r = buy(cashier_api, member)
    assert r.status_code == 201, r.json
    assert (r.json["tier"], r.json["price_fen"], r.json["expires_on"]) == ("gold", 19_900, "2028-03-01")
    db.session.expire_all()
    m = db.session.get(Member, member.id)
    assert (db.session.get(Tier, m.tier_id).code, m.expires_on, m.tier_until) == \
        ("gold", date(2028, 3, 1), date(2028, 3, 1))
    assert ledger.balance(db.session, member.id, "stored_value") == 10_100
    assert ledger.audit(db.session) == []


def test_paid_in_cash_and_refused_without_enough_stored_value_or_a_price(shop, cashier_api):
    member = shop.member()
    assert buy(cashier_api, member, method="cash").status_code == 201
    poor = shop.member()
    r = buy(cashier_api, poor)
    assert r.status_code == 422 and r.json["code"] == "insufficient_stored_value"
    r = buy(cashier_api, poor, method="cash", tier="normal")
    assert r.status_code == 422 and r.json["code"] == "tier_not_for_sale"


def test_stored_value_pays_for_a_membership_only_with_the_member_at_the_till(make, cashier_api, frozen_now, app):
    """Spending stored value needs the member's presence (the cards issue), as a sale's
    stored-value tender does: a typed card number at a store that does not allow it is
    refused and nothing moves; the member's dynamic code pays, once."""
    from wxcrm.cards import codes
    from wxcrm.config import settings_for
    frozen_now(datetime(2026, 11, 23, 6, 0))
    make.tier("normal", 1)
    gold = make.tier("gold", 2, threshold_fen=800_000)
    gold.price_fen, gold.term_months = 19_900, 12
    db.session.commit()
    member = make.member()
    cashier_api.post("/topups", {"store_code": "S001", "member": {"member_id": member.id}, "amount_fen": 50_000,
                                 "method": "cash"}, key=str(uuid.uuid4()))
    r = buy(cashier_api, member)                          # typed card number: S001 does not allow it to spend
    assert r.status_code == 403 and r.json["code"] == "presence_required", r.json
    assert r.json["code"] == "presence_required"
    db.session.expire_all()
    assert ledger.balance(db.session, member.id, "stored_value") == 50_000
    assert db.session.get(Member, member.id).tier_id != gold.id
    assert buy(cashier_api, member, method="cash").status_code == 201      # money at the counter needs no proof
    token = codes.issue_member_code(db.session, db.session.get(Member, member.id),
                                    secret=settings_for(app).member_code_secret,
                                    now=datetime(2026, 11, 23, 6, 0)).token
    db.session.commit()

    def by_code():
        return cashier_api.post("/memberships", {"store_code": "S001", "member": {"qr_token": token}, "tier": "gold",
                                                 "method": "stored_value"}, key=str(uuid.uuid4()))
    r = by_code()
    assert r.status_code == 201, r.json
    assert r.json["stored_value_fen"] == 50_000 - 19_900 and r.json["expires_on"] == "2028-11-23"
    again = by_code()                                      # the code paid once
    assert again.status_code == 403 and again.json["code"] == "member_code_used"
    assert ledger.balance(db.session, member.id, "stored_value") == 30_100
    assert ledger.audit(db.session) == []
