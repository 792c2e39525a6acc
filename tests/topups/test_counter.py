"""Item 1 and 3: a cashier tops up a member's card; the `topup` rules give the bonus,
principal and bonus kept apart."""
from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.messages.models import OutboxMessage
from wxcrm.rules import storage as rules
from wxcrm.rules.catalogue import TEMPLATES


@pytest.fixture
def shop(make, cashier_api, frozen_now):
    frozen_now(datetime(2026, 11, 23, 6, 0))
    make.typed_card_spends("S001")   # these tests spend stored value with a typed card number (issue 12's store setting)
    return make


def live(*rule_dicts):
    for rule in rule_dicts:
        rules.create_rule(db.session, {**rule, "status": "active"})
    db.session.commit()


def top_up(api, member, fen, method="cash", store="S001", key=None):
    return api.post("/topups", {"store_code": store, "member": {"member_id": member.id}, "amount_fen": fen,
                                "method": method}, key=key or str(uuid.uuid4()))


def test_a_500_yuan_top_up_gets_50_bonus_kept_apart_from_the_principal(shop, cashier_api, admin_api):
    live(*TEMPLATES["topup_bonus_tiers"].rules())
    member = shop.member(openid="o-topup")
    r = top_up(cashier_api, member, 50_000)
    assert r.status_code == 201, r.json
    body = r.json
    assert (body["principal_fen"], body["bonus_fen"], body["stored_value_fen"]) == (50_000, 5_000, 55_000)
    assert (body["stored_value_principal_fen"], body["stored_value_bonus_fen"]) == (50_000, 5_000)
    assert [line["kind"] for line in body["receipt_lines"]] == ["topup", "stored_value_bonus", "balance"]
    shown = admin_api.get(f"/members/{member.id}").json
    assert (shown["stored_value_fen"], shown["stored_value_principal_fen"], shown["stored_value_bonus_fen"]) == \
        (55_000, 50_000, 5_000)
    assert db.session.query(OutboxMessage).filter_by(purpose="topup_done").count() == 1
    assert ledger.audit(db.session) == []


def test_the_best_step_applies_once(shop, cashier_api):
    live(*TEMPLATES["topup_bonus_tiers"].rules())
    member = shop.member()
    assert top_up(cashier_api, member, 100_000).json["bonus_fen"] == 15_000
    assert top_up(cashier_api, member, 49_900).json["bonus_fen"] == 0


def test_first_top_up_only(shop, cashier_api):
    live(*TEMPLATES["first_topup_points"].rules(points=200))
    member = shop.member()
    assert top_up(cashier_api, member, 10_000).json["bonus_points"] == 200
    assert top_up(cashier_api, member, 10_000).json["bonus_points"] == 0


def test_a_bonus_rule_per_store_kind(shop, cashier_api, make):
    live({"name": "加盟店充值送", "event": "topup", "scope": {"store_kinds": ["franchise"]},
          "actions": [{"type": "bonus_stored_value", "pct": 10}]})
    member = shop.member()
    assert top_up(cashier_api, member, 10_000).json["bonus_fen"] == 0


def test_the_same_key_credits_once(shop, cashier_api):
    member = shop.member()
    key = str(uuid.uuid4())
    first = top_up(cashier_api, member, 10_000, key=key)
    again = top_up(cashier_api, member, 10_000, key=key)
    assert first.status_code == again.status_code == 201 and first.json == again.json
    assert ledger.balance(db.session, member.id, "stored_value") == 10_000


@pytest.mark.parametrize("fen, method, code", [
    (10_000, "stored_value", None),        # schema: stored value never pays for stored value
    (50, "cash", "topup_too_small"),
    (500_001, "cash", "stored_value_cap"),
])
def test_what_a_top_up_refuses(shop, cashier_api, fen, method, code):
    member = shop.member()
    r = top_up(cashier_api, member, fen, method=method)
    assert r.status_code == 422
    if code:
        assert r.json["code"] == code
    assert ledger.balance(db.session, member.id, "stored_value") == 0


def test_the_cap_counts_what_is_already_on_the_card(shop, cashier_api):
    member = shop.member()
    assert top_up(cashier_api, member, 400_000).status_code == 201
    r = top_up(cashier_api, member, 100_001)
    assert r.status_code == 422 and r.json["code"] == "stored_value_cap"


def test_a_bonus_in_a_date_window_with_a_monthly_limit_and_a_budget(shop, cashier_api):
    live({"name": "双十一充值送", "event": "topup", "validity": {"from": "2026-11-01", "to": "2026-11-30"},
          "limits": {"per_month": 1, "budget_fen": 1_500},
          "actions": [{"type": "bonus_stored_value", "pct": 10}]})
    first, second = shop.member(), shop.member()
    assert top_up(cashier_api, first, 10_000).json["bonus_fen"] == 1_000
    assert top_up(cashier_api, first, 10_000).json["bonus_fen"] == 0          # once a month
    assert top_up(cashier_api, second, 10_000).json["bonus_fen"] == 500       # what the budget has left
    assert top_up(cashier_api, shop.member(), 10_000).json["bonus_fen"] == 0  # budget spent


def test_the_bonus_waits_for_its_window(shop, cashier_api):
    live({"name": "十二月充值送", "event": "topup", "validity": {"from": "2026-12-01", "to": "2026-12-31"},
          "actions": [{"type": "bonus_stored_value", "amount_fen": 2_000}]})
    assert top_up(cashier_api, shop.member(), 10_000).json["bonus_fen"] == 0


def test_the_backtest_replays_top_ups_through_a_draft(shop, cashier_api, settings):
    from datetime import date

    from wxcrm.rules.backtest import run_backtest
    from wxcrm.topups.service import topup_events
    member = shop.member()
    top_up(cashier_api, member, 50_000)
    top_up(cashier_api, member, 100_000)
    draft = TEMPLATES["topup_bonus_tiers"].rules()
    report = run_backtest(db.session, settings, days=30, today=date(2026, 11, 23), draft_rules=draft,
                          topups=topup_events(db.session, since=date(2026, 10, 25)))
    assert report["topups"] == 2
    assert (report["live"]["stored_value_fen"], report["draft"]["stored_value_fen"]) == (0, 20_000)
    assert report["difference"]["stored_value_fen"] == 20_000


def test_a_bonus_that_would_take_the_card_past_the_cap_refuses_the_top_up(shop, cashier_api, app):
    """The cap is on the balance (issue 13 item 8), so the bonus counts: a 1,000 yuan top-up
    with its 150 bonus onto a card holding 3,950 would hold 5,100, so the counter refuses it
    before taking the money, says how much still fits, and nothing of it stays."""
    live(*TEMPLATES["topup_bonus_tiers"].rules())
    member = shop.member()
    assert top_up(cashier_api, member, 380_000).json["stored_value_fen"] == 395_000     # 3,800 + 150 bonus
    r = top_up(cashier_api, member, 100_000)          # 1,000 alone fits (4,950); with its 150 bonus, 5,100
    assert r.status_code == 422 and r.json["code"] == "stored_value_cap_bonus", r.json
    assert "150.00" in r.json["detail"] and "1050.00" in r.json["detail"]
    assert ledger.balance(db.session, member.id, "stored_value") == 395_000            # nothing kept, bonus neither
    assert db.session.query(OutboxMessage).filter_by(purpose="topup_done").count() == 1   # the first one's only
    r = top_up(cashier_api, member, 99_900)          # 999 + 50 bonus: 5,000 - 1 fen
    assert r.status_code == 201 and r.json["stored_value_fen"] == 499_900, r.json
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        from wxcrm.errors import DomainError
        from wxcrm.web.labels import problem_text
        text = problem_text(DomainError("x", code="stored_value_cap_bonus",
                                        params={"cap": "5000.00", "bonus": "150.00", "room": "1050.00"}))
    assert "赠送" in text and "¥1050.00" in text
    assert ledger.audit(db.session) == []
