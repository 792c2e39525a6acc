"""Item 6 (refunding a top-up) and item 9 (loopholes other systems had)."""
from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.rules import storage as rules
from wxcrm.rules.catalogue import TEMPLATES


@pytest.fixture
def shop(make, cashier_api, manager_api, frozen_now):
    frozen_now(datetime(2026, 11, 23, 6, 0))
    make.base_rule()
    make.typed_card_spends("S001")   # these tests spend stored value with a typed card number (issue 12's store setting)
    for rule in TEMPLATES["topup_bonus_tiers"].rules() + TEMPLATES["first_topup_points"].rules(points=200):
        rules.create_rule(db.session, {**rule, "status": "active"})
    db.session.commit()
    return make


def top_up(api, member, fen):
    r = api.post("/topups", {"store_code": "S001", "member": {"member_id": member.id}, "amount_fen": fen,
                             "method": "cash"}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    return r.json


def refund(api, topup_id):
    return api.post(f"/topups/{topup_id}/refund", {}, key=str(uuid.uuid4()))


def pay_with_value(api, member, fen):
    r = api.post("/transactions", {"store_code": "S001", "member": {"card_no": member.card_no},
                                   "items": [{"sku": "T", "qty": 1, "unit_price_fen": fen}],
                                   "payment_method": "stored_value"}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    return r.json


def balances(member):
    db.session.expire_all()
    return (ledger.value_split(db.session, member.id), ledger.balance(db.session, member.id, "points"))


def test_an_unused_top_up_returns_its_principal_and_takes_back_bonus_and_points(shop, cashier_api, manager_api):
    member = shop.member()
    t = top_up(cashier_api, member, 50_000)          # 500 + 50 bonus, 200 first-top-up points
    assert (t["bonus_fen"], t["bonus_points"]) == (5_000, 200)
    r = refund(manager_api, t["id"])
    assert r.status_code == 201, r.json
    assert r.json["status"] == "refunded"
    assert r.json["refund"]["refund_fen"] == 50_000
    assert r.json["refund"]["bonus_taken_back_fen"] == 5_000 and r.json["refund"]["points_taken_back"] == 200
    assert balances(member) == (ledger.ValueSplit(0, 0), 0)
    assert ledger.audit(db.session) == []


def test_a_partly_used_top_up_pays_for_the_bonus_already_spent(shop, cashier_api, manager_api):
    """README "Refunding a top-up": the member spent 100 yuan, principal first (the default):
    400 of principal and all 50 of bonus are left. The bonus left is taken back; the bonus
    already spent (none here) is charged; 400 goes back."""
    member = shop.member()
    t = top_up(cashier_api, member, 50_000)
    pay_with_value(cashier_api, member, 10_000)
    r = refund(manager_api, t["id"]).json
    assert (r["refund"]["refund_fen"], r["refund"]["bonus_taken_back_fen"], r["refund"]["bonus_spent_fen"]) == \
        (40_000, 5_000, 0)
    assert balances(member)[0] == ledger.ValueSplit(0, 0)


def test_bonus_spent_first_is_charged_against_the_refund(shop, cashier_api, manager_api, configure):
    configure(STORED_VALUE_SPEND_ORDER="bonus_first")
    member = shop.member()
    t = top_up(cashier_api, member, 50_000)
    pay_with_value(cashier_api, member, 8_000)        # 50 bonus + 30 principal
    r = refund(manager_api, t["id"]).json
    # 470 principal left, 50 of bonus already enjoyed: 420 back
    assert (r["refund"]["principal_left_fen"], r["refund"]["bonus_spent_fen"], r["refund"]["refund_fen"]) == \
        (47_000, 5_000, 42_000)
    assert ledger.audit(db.session) == []


def test_bonus_points_already_spent_are_charged_at_the_point_value(shop, cashier_api, manager_api):
    member = shop.member()
    t = top_up(cashier_api, member, 10_000)           # no bonus value, 200 first-top-up points
    r = cashier_api.post("/transactions", {"store_code": "S001", "member": {"card_no": member.card_no},
                                           "items": [{"sku": "T", "qty": 1, "unit_price_fen": 1_000}],
                                           "points_to_use": 200}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    back = refund(manager_api, t["id"]).json["refund"]
    assert back["points_shortfall"] == 200 - 8 and back["refund_fen"] == 10_000 - 192   # 8 earned points remained
    assert ledger.audit(db.session) == []


def test_a_top_up_is_refunded_once_and_only_by_a_manager(shop, cashier_api, manager_api):
    member = shop.member()
    t = top_up(cashier_api, member, 10_000)
    assert refund(cashier_api, t["id"]).status_code == 403
    assert refund(manager_api, t["id"]).status_code == 201
    again = refund(manager_api, t["id"])
    assert again.status_code == 422 and again.json["code"] == "already_refunded"


# ---------------------------------------------------------------- item 9: loopholes

def test_a_top_up_cannot_be_paid_with_stored_value(shop, cashier_api):
    member = shop.member()
    top_up(cashier_api, member, 10_000)
    r = cashier_api.post("/topups", {"store_code": "S001", "member": {"member_id": member.id}, "amount_fen": 5_000,
                                     "method": "stored_value"}, key=str(uuid.uuid4()))
    assert r.status_code == 422
    assert balances(member)[0].total == 10_000


def test_a_bonus_is_not_kept_after_its_top_up_is_refunded(shop, cashier_api, manager_api):
    member = shop.member()
    t = top_up(cashier_api, member, 100_000)          # 1000 + 150 bonus
    r = refund(manager_api, t["id"]).json
    assert r["refund"]["bonus_taken_back_fen"] == 15_000
    assert balances(member)[0] == ledger.ValueSplit(0, 0)


def test_a_refund_goes_to_the_member_whatever_card_they_hold_now(shop, cashier_api, manager_api):
    """Stored value belongs to the member's account, not to a card number: a purchase paid
    from a card since replaced (or expired) is refunded onto the account the current card shows."""
    member = shop.member()
    top_up(cashier_api, member, 10_000)
    sold = pay_with_value(cashier_api, member, 6_000)
    from wxcrm.members.models import Member
    db.session.get(Member, member.id).card_no = "8800999900001111"     # the card was replaced
    db.session.commit()
    r = manager_api.post(f"/transactions/{sold['id']}/refund", {}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    assert balances(member)[0].total == 10_000
