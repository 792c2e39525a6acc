"""Issue 9, item 8: tiers follow rolling 12-month net spend. Up at once after the purchase
that crosses a threshold; down only at the end of the month in which the spend fell below
(the daily `tiers` job, or `flask wxcrm tiers`); a tier set by staff holds until its date;
a card in a group account gets the higher of its own tier and the group's."""
from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest

from wxcrm.benefits import tiers
from wxcrm.config import settings_for
from wxcrm.extensions import db
from wxcrm.jobs.registry import JOBS
from wxcrm.jobs.tasks import run_tier_review
from wxcrm.members import service as members
from wxcrm.members.models import Member


@pytest.fixture
def shop(make, client, frozen_now):
    frozen_now(datetime(2026, 11, 10, 6, 0))
    make.store("S001")
    make.tier("normal", 1)
    make.tier("silver", 2, threshold_fen=200_000)
    make.tier("gold", 3, threshold_fen=800_000)
    token = make.token("admin")

    def buy(member, fen):
        r = client.post("/api/v1/transactions", json={
            "store_code": "S001", "member": {"member_id": member.id},
            "items": [{"sku": "GFT", "qty": 1, "unit_price_fen": fen}]},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())})
        assert r.status_code == 201, r.json
        return r.json

    def refund(receipt):
        r = client.post(f"/api/v1/transactions/{receipt['id']}/refund", json={},
                        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())})
        assert r.status_code == 201, r.json
        return r.json

    return type("Shop", (), {"buy": staticmethod(buy), "refund": staticmethod(refund), "make": make})


def tier_of(member) -> str:
    db.session.expire_all()
    m = db.session.get(Member, member.id)
    return m.tier.code if m.tier else None


def review(today: date) -> dict:
    from flask import current_app
    return run_tier_review(db.session, settings_for(current_app), today=today)


def test_the_purchase_that_crosses_a_threshold_raises_the_tier_at_once(shop):
    member = shop.make.member()
    assert tier_of(member) == "normal"
    shop.buy(member, 150_000)
    assert tier_of(member) == "normal"
    receipt = shop.buy(member, 60_000)                     # 2,100 yuan in 12 months
    assert tier_of(member) == "silver"
    (line,) = [line for line in receipt["receipt_lines"] if line["kind"] == "tier"]
    assert line["text"] == "会员等级升至silver" and line["text_en"] == "Tier raised to silver"
    (change,) = members.member_history(db.session, member.id)
    assert (change.field, change.old_value, change.new_value, change.source, change.transaction_id) == (
        "tier", "normal", "silver", "spend", receipt["id"])


def test_a_refund_lowers_the_tier_only_at_the_end_of_the_month(shop, frozen_now):
    member = shop.make.member()
    receipt = shop.buy(member, 250_000)
    assert tier_of(member) == "silver"
    shop.refund(receipt)
    assert tier_of(member) == "silver"                     # not on the spot
    assert review(date(2026, 11, 30))["changed"] == 0      # October's end: nothing to lower
    report = review(date(2026, 12, 1))                     # November is over
    assert report["month_ends"] == ["2026-11-30"] and report["changed"] == 1
    assert tier_of(member) == "normal"
    change = members.member_history(db.session, member.id)[0]
    assert change.source == "month_end" and "below" in change.reason
    assert review(date(2026, 12, 2))["changed"] == 0       # each month end once


def test_the_spend_counts_a_rolling_twelve_months(shop, frozen_now):
    member = shop.make.member()
    shop.buy(member, 250_000)                              # 10 November 2026
    review(date(2027, 10, 1))
    assert tier_of(member) == "silver"                     # still inside 12 months at the end of September
    review(date(2027, 12, 1))
    assert tier_of(member) == "normal"                     # fell out during November 2027


def test_a_tier_set_by_staff_holds_until_its_date(shop, frozen_now):
    member = shop.make.member()
    members.change_member(db.session, member, {"tier": "gold", "tier_until": date(2027, 1, 15)}, staff_id=None,
                          reason="apology", today=date(2026, 11, 10))
    db.session.commit()
    review(date(2026, 12, 1))
    review(date(2027, 1, 1))
    assert tier_of(member) == "gold"
    report = review(date(2027, 1, 16))                     # the hold ended on the 15th
    assert report["holds_ended"] == 1 and tier_of(member) == "normal"
    assert db.session.get(Member, member.id).tier_until is None


def test_a_card_in_a_group_gets_the_higher_of_its_own_and_the_groups_tier(shop):
    members.create_group(db.session, code="G-ACME", name="ACME")
    db.session.commit()
    alice = shop.make.member(group_code="G-ACME")
    bob = shop.make.member(group_code="G-ACME")
    loner = shop.make.member()
    shop.buy(alice, 150_000)
    assert (tier_of(alice), tier_of(bob)) == ("normal", "normal")
    shop.buy(bob, 60_000)                                  # the group: 2,100 yuan
    assert (tier_of(alice), tier_of(bob), tier_of(loner)) == ("silver", "silver", "normal")
    assert members.member_history(db.session, alice.id)[0].source == "group"
    assert tiers.group_spend(db.session, db.session.get(Member, alice.id).group_id,
                             today=date(2026, 11, 10)) == 210_000
    shop.buy(alice, 700_000)                               # alice alone reaches gold
    assert (tier_of(alice), tier_of(bob)) == ("gold", "gold")   # and so does the group


def test_the_tiers_job_is_registered_and_runs_by_hand(shop, app):
    assert any(job.id == "tiers" and job.func == "wxcrm.jobs.daily:tiers" for job in JOBS)
    result = app.test_cli_runner().invoke(args=["wxcrm", "tiers", "--date", "2026-12-01"])
    assert result.exit_code == 0, result.output
    assert "2026-11-30" in result.output
