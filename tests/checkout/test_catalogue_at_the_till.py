"""The seed catalogue, each template live and tried end to end through the till API
(and, for the membership-expiry templates, the daily job that runs them)."""
from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest

from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.members.models import Member
from wxcrm.rules import storage as rules
from wxcrm.rules.catalogue import TEMPLATES

TODAY = date(2026, 11, 23)  # a Monday; 14:00 in Shanghai is 06:00 UTC


@pytest.fixture
def shop(make, client, frozen_now):
    """A store, a cashier's API, and the till's clock fixed at 2026-11-23 14:00 Shanghai."""
    frozen_now(datetime(2026, 11, 23, 6, 0))
    store = make.store("S001")
    franchise = make.store("F001", kind="franchise")
    make.typed_card_spends("S001")   # these sales name the member by id and spend: the store allows it
    token = make.token("cashier", store)
    manager_token = make.token("manager", store)
    admin = make.staff("admin")
    return type("Shop", (), {"store": store, "franchise": franchise, "token": token, "admin": admin,
                             "manager_token": manager_token,
                             "client": client, "make": make})


def go_live(*templates: tuple[str, dict]) -> None:
    for key, params in templates:
        for rule in TEMPLATES[key].rules(**params):
            rules.create_rule(db.session, {**rule, "status": "active"})
    db.session.commit()


def buy(shop, member, fen, store="S001", points_to_use=0, token=None):
    body = {"store_code": store, "member": {"member_id": member.id}, "points_to_use": points_to_use,
            "items": [{"sku": "TEA-001", "category": "tea", "qty": 1, "unit_price_fen": fen}]}
    if store != "S001":
        token = token or shop.make.token("admin")
    r = shop.client.post("/api/v1/transactions", json=body,
                         headers={"Authorization": f"Bearer {token or shop.token}",
                                  "Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 201, r.json
    return r.json


def points_lines(receipt):
    return [(line["rule"], line["points"]) for line in receipt["receipt_lines"] if line["kind"] == "points"]


def test_points_per_amount_spent(shop):
    go_live(("points_per_amount_spent", {"rate": 1, "per_yuan": 2}))
    m = shop.make.member()
    receipt = buy(shop, m, 12_345)  # 123.45 yuan: one point per 2 yuan, rounded down
    assert receipt["points_earned"] == 61
    assert points_lines(receipt) == [("消费积分", 61)]
    benefit = next(line for line in receipt["receipt_lines"] if line["kind"] == "points")
    assert benefit["rule_id"] and benefit["rule_version"] == 1


def test_birthday_extra_points(shop):
    go_live(("points_per_amount_spent", {}), ("birthday_extra_points", {}))
    birthday = shop.make.member(birthday=date(1990, 11, 2))
    other = shop.make.member(birthday=date(1990, 5, 2))
    assert buy(shop, birthday, 20_000)["points_earned"] == 400  # a birthday member buying 200 yuan: double
    assert buy(shop, other, 20_000)["points_earned"] == 200


def test_birthday_month_discount_once_a_month(shop):
    go_live(("points_per_amount_spent", {}), ("birthday_month_discount", {"pct_off": 10}))
    m = shop.make.member(birthday=date(1988, 11, 30))
    first = buy(shop, m, 20_000)
    assert first["discount_fen"] == 2_000 and first["payable_fen"] == 18_000
    assert first["points_earned"] == 180  # points on what is paid
    assert any(line["kind"] == "discount" and "生日" in line["text"] for line in first["receipt_lines"])
    second = buy(shop, m, 20_000)
    assert second["discount_fen"] == 0  # limited to once a month


def test_referral_bonus_on_the_referred_members_first_purchase(shop):
    go_live(("referral_bonus_points", {"points": 500}))
    referrer = shop.make.member()
    friend = shop.make.member(referrer_id=referrer.id)
    buy(shop, friend, 5_000)
    buy(shop, friend, 5_000)  # only the first purchase counts
    assert ledger.balance(db.session, referrer.id, "points") == 500
    entry = ledger.entries_page(db.session, referrer.id, "points")[0]
    assert entry.rule_id is not None and "推荐" in entry.text_zh


def test_double_points_in_a_time_window(shop, frozen_now):
    go_live(("points_per_amount_spent", {}),
            ("double_points_time_window", {"weekdays": (1,), "start": "10:00", "end": "15:00"}))
    m = shop.make.member()
    assert buy(shop, m, 10_000)["points_earned"] == 200  # Monday 14:00
    frozen_now(datetime(2026, 11, 23, 8, 30))  # 16:30 local
    assert buy(shop, m, 10_000)["points_earned"] == 100


def test_points_per_tier_and_per_store(shop):
    shop.make.tier("normal", 1)
    shop.make.tier("gold", 3)
    go_live(("points_per_tier_and_store", {"tier_rates": {"gold": 2}, "store_rates": {"S001": 3},
                                           "franchise_per_yuan": 2}))
    normal, gold = shop.make.member(tier_code="normal"), shop.make.member(tier_code="gold")
    assert buy(shop, normal, 10_000, store="F001")["points_earned"] == 50   # franchise: 1 per 2 yuan
    assert buy(shop, gold, 10_000, store="F001")["points_earned"] == 200    # gold tier beats it
    assert buy(shop, normal, 10_000)["points_earned"] == 300                # store S001's rate is best


def run_expiry(app, day: date):
    r = app.test_cli_runner().invoke(args=["wxcrm", "rules-run", "--event", "membership_expiry",
                                           "--date", day.isoformat()])
    assert r.exit_code == 0, r.output
    db.session.expire_all()


def test_renewal_cancellation_and_reset_at_membership_expiry(app, shop):
    go_live(("points_per_amount_spent", {}), ("free_renewal_on_spend", {"threshold_fen": 100_000, "months": 12}),
            ("renew_by_points", {"cost_points": 500, "months": 12}),
            ("cancel_on_low_spend", {"threshold_fen": 100_000}), ("reset_points_on_expiry", {}))
    big = shop.make.member(expires_on=TODAY)
    saver = shop.make.member(expires_on=TODAY)
    small = shop.make.member(expires_on=TODAY)
    buy(shop, big, 120_000)      # spent 1,200 yuan this year: renewed free
    buy(shop, saver, 60_000)     # 600 yuan but 600 points: renews with 500 points
    buy(shop, small, 30_000)     # 300 yuan, 300 points: cancelled
    run_expiry(app, TODAY)
    big, saver, small = (db.session.get(Member, m.id) for m in (big, saver, small))
    assert (big.status, big.expires_on) == ("active", date(2027, 11, 23))
    assert (saver.status, saver.expires_on) == ("active", date(2027, 11, 23))
    assert small.status == "cancelled"
    # the reset runs after whichever outcome applied
    assert [ledger.balance(db.session, m.id, "points") for m in (big, saver, small)] == [0, 0, 0]
    assert ledger.audit(db.session) == []
    run_expiry(app, TODAY)  # running the day again changes nothing
    assert db.session.get(Member, small.id).status == "cancelled"


def test_a_fully_refunded_purchase_gives_the_monthly_birthday_discount_back(shop):
    go_live(("points_per_amount_spent", {}), ("birthday_month_discount", {"pct_off": 10}))
    m = shop.make.member(birthday=date(1988, 11, 30))
    first = buy(shop, m, 20_000)
    assert first["discount_fen"] == 2_000
    r = shop.client.post(f"/api/v1/transactions/{first['id']}/refund", json={},
                         headers={"Authorization": f"Bearer {shop.manager_token}", "Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 201, r.json
    assert buy(shop, m, 20_000)["discount_fen"] == 2_000  # the once-a-month discount is free again
    assert buy(shop, m, 20_000)["discount_fen"] == 0
