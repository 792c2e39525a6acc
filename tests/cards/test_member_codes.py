"""Issue 12, items 1-4: the code a member shows, what the till does with it, proof of
presence for spending, and a lost card replaced."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import mysql_only
from wxcrm.cards import codes
from wxcrm.config import settings_for
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.members.models import MemberChange
from wxcrm.messages.models import OutboxMessage

NOW = datetime(2026, 11, 23, 6, 0, 0)


def as_member(client, member):
    with client.session_transaction() as s:
        s["openid"], s["member_id"], s["oauth_scope"] = member.openid, member.id, "snsapi_base"


def buy(api, member_ref, fen=10_000, points=0):
    body = {"store_code": "S001", "member": member_ref, "points_to_use": points,
            "items": [{"sku": "TEA-001", "category": "tea", "qty": 1, "unit_price_fen": fen}]}
    return api.post("/transactions", body, key=str(uuid.uuid4()))


@pytest.fixture
def shop(cashier_api, make, frozen_now):
    frozen_now(NOW)
    make.base_rule()
    make.tier("silver")
    member = make.member(openid="o-card", name="韩梅梅")
    buy(cashier_api, {"card_no": member.card_no}, fen=50_000)          # 500 points
    return member


def code_at(app, member, moment):
    return codes.issue_member_code(db.session, member, secret=settings_for(app).member_code_secret, now=moment).token


def test_the_card_page_shows_a_twenty_digit_code_that_the_till_looks_up(client, cashier_api, shop):
    as_member(client, shop)
    page = client.get("/h5/").get_data(as_text=True)
    assert 'data-testid="member-qr"' in page and 'data-testid="member-barcode"' in page
    assert shop.card_no not in page          # the card face masks the number
    body = client.get("/h5/card/code").json
    assert len(body["token"]) == 20 and body["token"].isdigit()
    assert body["expires_at"] == "2026-11-23T06:01:00Z" and body["qr_svg"].startswith("<svg")
    found = cashier_api.get(f"/members?qr_token={body['token']}")
    assert found.status_code == 200 and found.json[0]["id"] == shop.id
    again = cashier_api.get(f"/members?qr_token={body['token']}")       # looked up any number of times
    assert again.json[0]["id"] == shop.id


def test_a_member_code_pays_for_one_spending_sale_only(app, cashier_api, shop):
    token = code_at(app, shop, NOW)
    first = buy(cashier_api, {"qr_token": token}, points=100)
    assert first.status_code == 201, first.json
    second = buy(cashier_api, {"qr_token": token}, points=100)
    assert second.status_code == 403 and second.json["code"] == "member_code_used"
    earning = buy(cashier_api, {"qr_token": token})                   # earning needs no proof
    assert earning.status_code == 201
    assert ledger.balance(db.session, shop.id, "points") == 500 - 100 + 99 + 100


def test_an_expired_code_is_refused_as_expired_and_a_fresh_one_works(app, cashier_api, shop, frozen_now):
    token = code_at(app, shop, NOW)
    frozen_now(NOW + timedelta(seconds=79))
    assert buy(cashier_api, {"qr_token": token}).status_code == 201     # 60 s and a short grace
    frozen_now(NOW + timedelta(seconds=90))
    r = buy(cashier_api, {"qr_token": token}, points=10)
    assert r.status_code == 422 and r.json["code"] == "member_code_expired"
    r = cashier_api.get(f"/members?qr_token={token}")
    assert r.status_code == 422 and r.json["code"] == "member_code_expired"
    fresh = code_at(app, shop, NOW + timedelta(seconds=90))
    assert buy(cashier_api, {"qr_token": fresh}, points=10).status_code == 201


@pytest.mark.parametrize("forge", [
    lambda t: t[:-1] + str((int(t[-1]) + 1) % 10),       # a digit of the signature changed
    lambda t: t[:2] + str((int(t[2]) + 1) % 10) + t[3:],  # another member's id, same signature
    lambda t: "9" + t[1:],                                # nonsense layout
    lambda t: t[:19],                                     # too short
])
def test_a_forged_code_is_refused_as_forged(app, cashier_api, shop, forge):
    token = forge(code_at(app, shop, NOW))
    r = buy(cashier_api, {"qr_token": token}, points=10)
    assert r.status_code in (404, 422) and r.json["code"] in ("member_code_forged", "member_not_found"), r.json
    assert r.json["code"] == "member_code_forged" or len(token) != 20
    r = cashier_api.get(f"/members?qr_token={token}")
    assert r.status_code == 422 and r.json["code"] == "member_code_forged"


def test_a_typed_card_number_earns_but_does_not_spend_unless_the_store_allows_it(cashier_api, shop, make):
    r = buy(cashier_api, {"card_no": shop.card_no}, points=10)
    assert r.status_code == 403 and r.json["code"] == "presence_required"
    assert buy(cashier_api, {"card_no": shop.card_no}).status_code == 201
    make.typed_card_spends("S001")
    assert buy(cashier_api, {"card_no": shop.card_no}, points=10).status_code == 201


def test_a_lost_card_is_frozen_then_replaced_and_everything_moves_with_the_member(app, client, cashier_api, shop,
                                                                                   make, frozen_now):
    old_no, old_token = shop.card_no, code_at(app, shop, NOW)
    before = ledger.balance(db.session, shop.id, "points")
    assert cashier_api.get(f"/members?card_no={old_no}").json[0]["id"] == shop.id
    r = cashier_api.post(f"/members/{shop.id}/card/lost", {"reason": "phone stolen"})
    assert r.status_code == 200, r.json
    frozen = buy(cashier_api, {"qr_token": old_token}, points=10)
    assert frozen.status_code == 422 and frozen.json["code"] == "card_frozen"
    make.typed_card_spends("S001")
    assert buy(cashier_api, {"card_no": old_no}, points=10).json["code"] == "card_frozen"
    as_member(client, shop)
    assert client.get("/h5/card/code").status_code == 409
    assert 'data-testid="card-frozen"' in client.get("/h5/").get_data(as_text=True)

    r = cashier_api.post(f"/members/{shop.id}/card/replace", {"reason": "new card at the till"})
    assert r.status_code == 200 and r.json["card_no"] != old_no
    new_no = r.json["card_no"]
    assert r.json["points_balance"] == before and r.json["tier"] == shop.tier.code
    old = buy(cashier_api, {"card_no": old_no}, points=10)
    assert old.status_code == 422 and old.json["code"] == "card_replaced"
    replaced = buy(cashier_api, {"qr_token": old_token}, points=10)
    assert replaced.status_code == 422 and replaced.json["code"] == "member_code_replaced"
    assert buy(cashier_api, {"card_no": new_no}, points=10).status_code == 201
    assert buy(cashier_api, {"qr_token": code_at(app, shop, NOW)}, points=10).status_code == 201
    history = db.session.scalars(select(MemberChange).where(MemberChange.member_id == shop.id)
                                 .order_by(MemberChange.id)).all()
    steps = [(c.field, c.old_value, c.new_value, c.reason, c.staff_id is not None) for c in history
             if c.field.startswith("card")]
    assert steps == [("card_status", "active", "frozen", "phone stolen", True),
                     ("card_no", old_no, new_no, "new card at the till", True),
                     ("card_status", "frozen", "active", "new card issued", True)]
    assert ledger.audit(db.session) == []


def test_a_member_freezes_their_card_on_the_card_page_and_takes_a_new_number(client, shop):
    as_member(client, shop)
    old_no = shop.card_no
    assert client.post("/h5/card/lost", data={}).status_code == 200            # not ticked: asked again
    r = client.post("/h5/card/lost", data={"confirm": "yes"})
    assert r.status_code == 302
    assert "frozen-note" in client.get("/h5/card/lost").get_data(as_text=True)
    r = client.post("/h5/card/lost", data={"action": "replace"})
    assert r.status_code == 302
    db.session.expire_all()
    changes = db.session.scalars(select(MemberChange).where(MemberChange.member_id == shop.id)).all()
    assert {c.source for c in changes if c.field.startswith("card")} == {"member"}
    assert db.session.get(type(shop), shop.id).card_no != old_no


# ---------------------------------------------------------------- one-time presence codes

def sent_code(standin_or_none=None) -> str:
    row = db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "presence_code")
                             .order_by(OutboxMessage.id.desc())).first()
    return row.payload["source_fields"]["code"]


def test_a_presence_code_lets_a_typed_card_spend_once(cashier_api, shop):
    r = cashier_api.post("/members/presence-codes", {"card_no": shop.card_no})
    assert r.status_code == 202, r.json
    assert "code" not in r.json and r.json["channel"] in ("template", "sms")
    code = sent_code()
    ok = buy(cashier_api, {"card_no": shop.card_no, "presence_code": code}, points=10)
    assert ok.status_code == 201, ok.json
    again = buy(cashier_api, {"card_no": shop.card_no, "presence_code": code}, points=10)
    assert again.status_code == 403 and again.json["code"] == "presence_code_missing"


def test_a_presence_code_expires_after_five_minutes(cashier_api, shop, frozen_now):
    cashier_api.post("/members/presence-codes", {"card_no": shop.card_no})
    frozen_now(NOW + timedelta(minutes=5))
    r = buy(cashier_api, {"card_no": shop.card_no, "presence_code": sent_code()}, points=10)
    assert r.status_code == 403 and r.json["code"] == "presence_code_expired"


def test_five_wrong_presence_codes_lock_it_even_though_each_sale_rolls_back(cashier_api, shop):
    cashier_api.post("/members/presence-codes", {"card_no": shop.card_no})
    right = sent_code()
    wrong = f"{(int(right) + 1) % 10 ** 6:06d}"
    for _ in range(5):
        r = buy(cashier_api, {"card_no": shop.card_no, "presence_code": wrong}, points=10)
        assert r.status_code == 403 and r.json["code"] == "presence_code_wrong"
    r = buy(cashier_api, {"card_no": shop.card_no, "presence_code": right}, points=10)
    assert r.status_code == 403 and r.json["code"] == "presence_code_locked"


def test_presence_codes_are_never_shown_in_the_console_outbox(cashier_api, shop, client, make):
    cashier_api.post("/members/presence-codes", {"card_no": shop.card_no})
    code = sent_code()
    admin = make.staff("admin")
    client.post("/login", data={"username": admin.username, "password": "password123"})
    for status in ("pending", "sending", "sent", "parked"):
        page = client.get(f"/console/outbox/?status={status}").get_data(as_text=True)
        assert code not in page
    assert db.session.scalar(select(func.count(OutboxMessage.id)).where(
        OutboxMessage.purpose == "presence_code")) == 1


@mysql_only
def test_one_member_code_at_two_tills_at_once_pays_for_one_sale(app, make):
    from concurrent.futures import ThreadPoolExecutor

    from tests.conftest import post_sale
    store = make.store("S001")
    token = make.token("cashier", store)
    make.base_rule()
    member = make.member()
    post_sale(app, token, {"store_code": "S001", "member": {"card_no": member.card_no},
                           "items": [{"sku": "G", "qty": 1, "unit_price_fen": 100000}]}, str(uuid.uuid4()))
    code = make.code(member)
    spend = {"store_code": "S001", "member": {"qr_token": code}, "points_to_use": 100,
             "items": [{"sku": "C", "qty": 1, "unit_price_fen": 20000}]}
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: post_sale(app, token, spend, str(uuid.uuid4())), range(8)))
    assert sorted(status for status, _ in results) == [201] + [403] * 7, results
    assert {body["code"] for status, body in results if status == 403} == {"member_code_used"}
    db.session.expire_all()
    assert ledger.audit(db.session) == []
