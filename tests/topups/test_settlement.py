"""Items 7 and 8: money taken at one owner's store and spent at another's is settled
between them, per month, with closed months frozen; the outstanding liability; a closed
membership's unspent principal is owed back."""
from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest

from wxcrm.benefits.privacy import close_membership
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.rules import storage as rules
from wxcrm.rules.catalogue import TEMPLATES
from wxcrm.timeutil import Clock
from wxcrm.topups import settlement


@pytest.fixture
def owners(make, admin_api, frozen_now, settings):
    frozen_now(datetime(2026, 10, 20, 4, 0))          # 20 October, noon in Shanghai
    make.store("S001")                                # the brand's
    make.store("F001", kind="franchise")
    make.typed_card_spends("S001")                    # stored value spent with a typed card number
    make.typed_card_spends("F001")
    settlement.create_franchisee(db.session, code="FR1", name="加盟商甲", store_codes=("F001",))
    for rule in TEMPLATES["topup_bonus_tiers"].rules():
        rules.create_rule(db.session, {**rule, "status": "active"})
    db.session.commit()
    return admin_api


def top_up(api, member, store, fen):
    r = api.post("/topups", {"store_code": store, "member": {"member_id": member.id}, "amount_fen": fen,
                             "method": "cash"}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    return r.json


def spend(api, member, store, fen):
    r = api.post("/transactions", {"store_code": store, "member": {"card_no": member.card_no},
                                   "items": [{"sku": "T", "qty": 1, "unit_price_fen": fen}],
                                   "payment_method": "stored_value"}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    return r.json


def test_value_taken_by_a_franchisee_and_spent_at_the_brand_is_owed_to_the_brand(owners, make, settings):
    member = make.member()
    top_up(owners, member, "F001", 50_000)                       # 500 + 50 bonus, money with the franchisee
    sale = spend(owners, member, "S001", 52_000)                 # 500 principal + 20 bonus at the brand's store
    lines = settlement.settlement_lines(db.session, "2026-10", settings)
    assert [(x["debtor_name"], x["creditor_name"], x["principal_fen"], x["bonus_fen"]) for x in lines] == \
        [("加盟商甲", "wxcrm", 50_000, 0)]                          # the brand funds the bonus it was paid in
    assert lines[0]["transactions"] == [sale["id"]]
    assert lines[0]["stores"] == [{"issued_at": "F001", "sold_at": "S001", "principal_fen": 50_000, "bonus_fen": 0}]
    totals = settlement.owner_totals(lines)
    assert sum(t["receivable_fen"] for t in totals.values()) == sum(t["payable_fen"] for t in totals.values())


def test_the_issuer_funds_the_bonus_when_the_setting_says_so(owners, make, settings, configure):
    settings = configure(STORED_VALUE_BONUS_FUNDED_BY="issuer")
    member = make.member()
    top_up(owners, member, "F001", 50_000)
    spend(owners, member, "S001", 52_000)
    [line] = settlement.settlement_lines(db.session, "2026-10", settings)
    assert (line["principal_fen"], line["bonus_fen"]) == (50_000, 2_000)


def test_a_closed_month_does_not_change_and_a_late_refund_falls_into_the_next(owners, make, settings, frozen_now):
    member = make.member()
    top_up(owners, member, "F001", 10_000)
    sale = spend(owners, member, "S001", 6_000)
    frozen_now(datetime(2026, 11, 2, 2, 0))
    settlement.close_period(db.session, "2026-10", settings, now=datetime(2026, 11, 2, 2, 0), staff_id=None)
    db.session.commit()
    r = owners.post(f"/transactions/{sale['id']}/refund", {}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    october = settlement.settlement_lines(db.session, "2026-10", settings)
    november = settlement.settlement_lines(db.session, "2026-11", settings)
    assert [x["principal_fen"] for x in october] == [6_000]
    assert [(x["debtor_name"], x["principal_fen"]) for x in november] == [("加盟商甲", -6_000)]


def test_a_month_closes_only_when_over_and_in_order(owners, settings):
    from wxcrm.errors import DomainError
    with pytest.raises(DomainError):
        settlement.close_period(db.session, "2026-10", settings, now=datetime(2026, 10, 25), staff_id=None)


def test_the_exports_hold_the_lines(owners, make, settings):
    member = make.member()
    top_up(owners, member, "F001", 10_000)
    spend(owners, member, "S001", 6_000)
    lines = settlement.settlement_lines(db.session, "2026-10", settings)
    assert "加盟商甲,wxcrm,60.00,0.00,60.00" in settlement.export_csv(lines)
    from io import BytesIO

    from openpyxl import load_workbook
    sheet = load_workbook(BytesIO(settlement.export_xlsx(lines, "2026-10"))).active
    assert [c.value for c in sheet[2]][:5] == ["加盟商甲", "wxcrm", 60, 0, 60]


def test_the_liability_as_at_a_date_per_owner_and_store(owners, make, settings, frozen_now):
    member = make.member()
    top_up(owners, member, "F001", 50_000)
    top_up(owners, member, "S001", 10_000)
    frozen_now(datetime(2026, 10, 22, 4, 0))
    spend(owners, member, "S001", 20_000)                        # principal first: F001's lot first
    before = settlement.liability(db.session, date(2026, 10, 21), settings)
    after = settlement.liability(db.session, date(2026, 10, 22), settings)
    assert [(r["store_code"], r["principal_fen"], r["bonus_fen"]) for r in before] == \
        [("S001", 10_000, 0), ("F001", 50_000, 5_000)]
    assert [(r["store_code"], r["principal_fen"], r["bonus_fen"]) for r in after] == \
        [("S001", 10_000, 0), ("F001", 30_000, 5_000)]


def test_closing_the_membership_owes_back_the_unspent_principal_and_ends_the_bonus(owners, make, settings):
    member = make.member()
    top_up(owners, member, "S001", 50_000)
    spend(owners, member, "S001", 10_000)
    closure = close_membership(db.session, member, clock=Clock.now(settings.tz), settings=settings)
    db.session.commit()
    assert (closure.stored_value_fen, closure.refund_status) == (40_000, "requested")
    assert ledger.value_split(db.session, member.id) == ledger.ValueSplit(0, 0)
    assert ledger.audit(db.session) == []


def test_the_console_page_shows_liability_and_settlement_and_exports(owners, make, client, settings):
    member = make.member()
    top_up(owners, member, "F001", 10_000)
    spend(owners, member, "S001", 6_000)
    admin = make.staff("admin", username="fin1", password="fin-pass-1234")
    client.post("/login", data={"username": "fin1", "password": "fin-pass-1234"})
    page = client.get("/console/stored-value/?period=2026-10&lang=zh_CN")
    assert page.status_code == 200, admin
    text = page.get_data(as_text=True)
    assert "加盟商甲" in text and "¥60.00" in text and "未使用储值（负债）" in text
    assert client.get("/console/stored-value/export.csv?period=2026-10").status_code == 200
    xlsx = client.get("/console/stored-value/export.xlsx?period=2026-10")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"


def test_the_cli_prints_the_liability_and_the_settlement(owners, make, app):
    member = make.member()
    top_up(owners, member, "F001", 10_000)
    spend(owners, member, "S001", 6_000)
    runner = app.test_cli_runner()
    out = runner.invoke(args=["wxcrm", "stored-value-liability"])
    assert out.exit_code == 0 and "F001" in out.output and "principal 40.00" in out.output, out.output
    out = runner.invoke(args=["wxcrm", "settlement", "--period", "2026-10"])
    assert out.exit_code == 0 and "加盟商甲 owes wxcrm: 6000 fen" in out.output, out.output


def test_a_membership_bought_at_the_brand_with_a_franchisees_stored_value_is_owed_to_the_brand(owners, make,
                                                                                               settings):
    from wxcrm.members.models import Tier
    make.tier("normal", 1)
    gold = make.tier("gold", 2)
    gold.price_fen = 19_900
    db.session.commit()
    member = make.member()
    top_up(owners, member, "F001", 30_000)                       # no bonus under 500: money with the franchisee
    r = owners.post("/memberships", {"store_code": "S001", "member": {"member_id": member.id}, "tier": "gold",
                                     "method": "stored_value"}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    lines = settlement.settlement_lines(db.session, "2026-10", settings)
    assert [(x["debtor_name"], x["creditor_name"], x["principal_fen"], x["transactions"], x["memberships"])
            for x in lines] == [("加盟商甲", "wxcrm", 19_900, [], [r.json["id"]])]
    assert "19900" not in settlement.export_csv(lines) and "199.00" in settlement.export_csv(lines)
    assert db.session.get(Tier, gold.id).price_fen == 19_900
