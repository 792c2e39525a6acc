"""Issue 9, items 1-4 at the till: the base earning is a visible rule that nothing switches
off by the way; referral rules that wait for a qualifying purchase; lower rates and no
points; limits per year and per membership year."""
from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest

from wxcrm import create_app
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.rules import storage as rules
from wxcrm.rules.models import ReferralPayout, Rule


@pytest.fixture
def shop(make, client, frozen_now):
    frozen_now(datetime(2026, 11, 23, 6, 0))           # Monday 14:00 in Shanghai
    make.store("S001")
    make.store("F001", kind="franchise")
    token = make.token("admin")
    return type("Shop", (), {"token": token, "client": client, "make": make})


def buy(shop, member, fen, store="S001", **extra):
    body = {"store_code": store, "member": {"member_id": member.id},
            "items": [{"sku": "TEA-001", "category": "tea", "qty": 1, "unit_price_fen": fen}], **extra}
    r = shop.client.post("/api/v1/transactions", json=body,
                         headers={"Authorization": f"Bearer {shop.token}", "Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 201, r.json
    return r.json


def live(rule: dict) -> Rule:
    saved = rules.create_rule(db.session, {**rule, "status": "active"})
    db.session.commit()
    return saved


def balance(member) -> int:
    db.session.expire_all()
    return ledger.balance(db.session, member.id, "points")


# ---------------------------------------------------------------- item 1

def test_a_vip_discount_going_live_leaves_everyone_else_earning(shop):
    shop.make.base_rule()
    shop.make.tier("normal", 1)
    shop.make.tier("vip", 2, threshold_fen=100_000_000)
    member = shop.make.member(tier_code="normal")
    assert buy(shop, member, 10_000)["points_earned"] == 100
    live({"name": "VIP 95折", "event": "purchase", "scope": {"tiers": ["vip"]},
          "actions": [{"type": "discount_percent", "pct": 5}]})
    assert buy(shop, member, 10_000)["points_earned"] == 100       # still earning, nothing switched off
    vip = shop.make.member(tier_code="vip")
    receipt = buy(shop, vip, 10_000)
    assert receipt["discount_fen"] == 500 and receipt["points_earned"] == 95


def test_without_an_earning_rule_a_purchase_earns_nothing(shop):
    member = shop.make.member()
    assert buy(shop, member, 10_000)["points_earned"] == 0
    assert rules.earning_rules(db.session) == []
    added = rules.ensure_base_earning(db.session)
    db.session.commit()
    assert added is not None and rules.ensure_base_earning(db.session) is None
    assert buy(shop, member, 10_000)["points_earned"] == 100


def test_a_new_install_starts_with_the_base_earning_rule_live(tmp_path):
    url = f"sqlite:///{tmp_path}/fresh.sqlite3"
    fresh = create_app({"DATABASE_URL": url, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x"})
    with fresh.app_context():
        r = fresh.test_cli_runner().invoke(args=["wxcrm", "init-db"])
        assert r.exit_code == 0, r.output
        assert "purchases earn points by rule" in r.output
        (base,) = rules.earning_rules(db.session)
        assert base.status == "active" and rules.rule_json(base)["actions"] == [
            {"type": "earn_points", "rate": 1, "per_yuan": 1}]
        db.session.remove()


# ---------------------------------------------------------------- item 2

FIRST_PURCHASE_50 = {"name": "推荐首单满50", "name_en": "Referral: first purchase of 50 yuan", "event": "referral",
                     "conditions": {"all": [{"fact": "referred.first_purchase", "op": "==", "value": True},
                                            {"fact": "basket.total_fen", "op": ">=", "value": 5000}]},
                     "actions": [{"type": "bonus_points", "points": 300}]}
WITHIN_30_DAYS = {"name": "推荐30天内消费", "name_en": "Referral: a purchase within 30 days", "event": "referral",
                  "conditions": {"all": [{"fact": "referred.tenure_days", "op": "<=", "value": 30},
                                         {"fact": "basket.total_fen", "op": ">=", "value": 1}]},
                  "actions": [{"type": "bonus_points", "points": 100}]}


def test_the_referrer_gets_300_points_when_the_first_purchase_is_at_least_50_yuan(shop):
    first_50 = live(FIRST_PURCHASE_50)
    referrer = shop.make.member()
    referred = shop.make.member(referrer_id=referrer.id, today=date(2026, 11, 20))
    buy(shop, referred, 6_000)
    assert balance(referrer) == 300
    (paid,) = db.session.scalars(db.select(ReferralPayout)).all()
    assert (paid.rule_id, paid.referred_id, paid.referrer_id, paid.points) == (first_50.id, referred.id,
                                                                               referrer.id, 300)
    buy(shop, referred, 6_000)                                   # paid once, whatever follows
    assert balance(referrer) == 300


def test_a_small_first_purchase_never_qualifies_and_each_rule_pays_once(shop):
    live(FIRST_PURCHASE_50)
    live(WITHIN_30_DAYS)
    referrer = shop.make.member()
    referred = shop.make.member(referrer_id=referrer.id, today=date(2026, 11, 20))
    buy(shop, referred, 4_000)                                   # first purchase, 40 yuan: only the 30-day rule
    assert balance(referrer) == 100
    buy(shop, referred, 9_000)                                   # not the first any more
    assert balance(referrer) == 100


def test_a_referral_rule_without_conditions_still_pays_at_signup(shop):
    live({"name": "推荐有礼", "event": "referral", "actions": [{"type": "bonus_points", "points": 500}]})
    referrer = shop.make.member()
    r = shop.client.post("/api/v1/members", json={"phone": "13800000077", "referrer_id": referrer.id,
                                                  "privacy_consent": True},
                         headers={"Authorization": f"Bearer {shop.token}"})
    assert r.status_code == 201
    assert balance(referrer) == 500
    from wxcrm.members.models import Member
    referred = db.session.get(Member, r.json["id"])
    buy(shop, referred, 9_000)
    assert balance(referrer) == 500


# ---------------------------------------------------------------- item 3

def test_franchise_stores_earn_half_with_a_line_naming_the_rule_and_a_refund_adds_up(shop):
    shop.make.base_rule()
    live({"name": "加盟店积分减半", "name_en": "Half points at franchise stores", "event": "purchase",
          "scope": {"store_kinds": ["franchise"]}, "actions": [{"type": "multiply_points", "pct": 50}]})
    member = shop.make.member()
    receipt = buy(shop, member, 1_500, store="F001")
    assert receipt["points_earned"] == 7
    points = [(line["rule"], line["points"]) for line in receipt["receipt_lines"] if line["kind"] == "points"]
    assert points == [("消费积分", 15), ("加盟店积分减半", -8)]
    assert balance(member) == 7
    entries = ledger.entries_page(db.session, member.id, "points")
    assert sorted(e.amount for e in entries) == [-8, 15]
    refund = shop.client.post(f"/api/v1/transactions/{receipt['id']}/refund", json={},
                              headers={"Authorization": f"Bearer {shop.token}", "Idempotency-Key": str(uuid.uuid4())})
    assert refund.status_code == 201 and refund.json["points_earned"] == -7
    assert balance(member) == 0
    assert ledger.audit(db.session) == []


def test_staff_purchases_earn_nothing_with_a_receipt_line_naming_the_rule(shop):
    shop.make.base_rule()
    live({"name": "加倍", "event": "purchase", "actions": [{"type": "multiply_points", "pct": 200}]})
    from wxcrm.members import service
    service.create_group(db.session, code="STAFF", name="员工")
    db.session.commit()
    live({"name": "员工消费不积分", "name_en": "Staff purchases earn no points", "event": "purchase",
          "scope": {"groups": ["STAFF"]}, "actions": [{"type": "no_points"}]})
    staff_member = shop.make.member(group_code="STAFF")
    receipt = buy(shop, staff_member, 10_000)
    assert receipt["points_earned"] == 0 and balance(staff_member) == 0
    (line,) = [line for line in receipt["receipt_lines"] if line["kind"] == "no_points"]
    assert line["rule"] == "员工消费不积分" and "不积分" in line["text"]
    assert buy(shop, shop.make.member(), 10_000)["points_earned"] == 200


# ---------------------------------------------------------------- item 4

def test_a_once_a_year_gift_comes_back_in_the_new_calendar_year(shop, frozen_now):
    live({"name": "年度礼", "event": "purchase", "limits": {"per_year": 1},
          "actions": [{"type": "bonus_points", "points": 50}]})
    member = shop.make.member()
    assert buy(shop, member, 100)["points_earned"] == 50
    frozen_now(datetime(2026, 12, 31, 15, 59))      # 23:59 on 31 December in Shanghai
    assert buy(shop, member, 100)["points_earned"] == 0
    frozen_now(datetime(2026, 12, 31, 16, 0))       # midnight: 2027 in Shanghai, still 2026 in UTC
    assert buy(shop, member, 100)["points_earned"] == 50


def test_a_once_per_membership_year_gift_follows_the_expiry_anniversary(shop, frozen_now):
    live({"name": "会员年礼", "event": "purchase", "limits": {"per_membership_year": 1},
          "actions": [{"type": "bonus_points", "points": 50}]})
    member = shop.make.member(expires_on=date(2027, 12, 10))
    assert buy(shop, member, 100)["points_earned"] == 50
    frozen_now(datetime(2026, 12, 9, 6, 0))
    assert buy(shop, member, 100)["points_earned"] == 0
    frozen_now(datetime(2026, 12, 10, 6, 0))        # the anniversary of the expiry date
    assert buy(shop, member, 100)["points_earned"] == 50


def test_limits_of_several_rules_and_periods_hold_at_the_till(shop, frozen_now):
    """Issue 11: the till reads every limited rule's counters of the current periods in its
    member's facts query (no query of their own); each limit still holds."""
    live({"name": "每日两次", "event": "purchase", "limits": {"per_day": 2, "lifetime": 3},
          "actions": [{"type": "bonus_points", "points": 10}]})
    live({"name": "每月一次", "event": "purchase", "limits": {"per_month": 1},
          "actions": [{"type": "bonus_points", "points": 100}]})
    live({"name": "每月两次", "event": "purchase", "limits": {"per_month": 2},      # the same period again
          "actions": [{"type": "bonus_points", "points": 1000}]})
    member = shop.make.member()
    assert [buy(shop, member, 100)["points_earned"] for _ in range(3)] == [1110, 1010, 0]   # twice a day
    frozen_now(datetime(2026, 11, 24, 6, 0))
    assert [buy(shop, member, 100)["points_earned"] for _ in range(2)] == [10, 0]           # three in all
    frozen_now(datetime(2026, 12, 1, 6, 0))
    assert buy(shop, member, 100)["points_earned"] == 1100                                  # a new month
    assert buy(shop, shop.make.member(), 100)["points_earned"] == 1110                      # another member's own


def test_a_rule_that_sets_a_tier_names_it_on_the_receipt(shop):
    """Issue 9, item 12: no raw tier code on a receipt."""
    gold = shop.make.tier("gold", 3, threshold_fen=10**9)
    gold.name, gold.name_en = "金卡", "Gold"
    shop.make.tier("normal", 1)
    db.session.commit()
    live({"name": "大单升金卡", "event": "purchase", "actions": [{"type": "set_tier", "tier": "gold"}]})
    receipt = buy(shop, shop.make.member(tier_code="normal"), 10_000)
    (line,) = [line for line in receipt["receipt_lines"] if line["kind"] == "set_tier"]
    assert line["text"] == "大单升金卡：会员等级调整为金卡" and line["text_en"].endswith("tier set to Gold")
