"""Issue 12, item 5: a follower binds their WeChat to the membership they already had (phone
and a texted code), and staff merge two members of one person; balances move by ledger
entries that name the merge, and the audit stays clean."""
from __future__ import annotations

import uuid

from sqlalchemy import func, select

from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.ledger.models import LedgerEntry
from wxcrm.members.models import Member
from wxcrm.messages.models import OutboxMessage


def as_member(client, member):
    with client.session_transaction() as s:
        s["openid"], s["member_id"], s["oauth_scope"] = member.openid, member.id, "snsapi_base"


def texted_code() -> str:
    row = db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "verify_phone")
                             .order_by(OutboxMessage.id.desc())).first()
    assert row.channel == "sms"
    return row.payload["source_fields"]["code"]


def test_a_follower_binds_to_the_membership_enrolled_at_the_till(client, cashier_api, make):
    make.base_rule()
    at_till = make.member(phone="13912345678", name="韩梅梅")
    cashier_api.post("/transactions", {"store_code": "S001", "member": {"card_no": at_till.card_no},
                                       "items": [{"sku": "G", "qty": 1, "unit_price_fen": 20_000}]},
                     key=str(uuid.uuid4()))                                  # 200 points at the till
    follower = make.member(openid="o-binder", phone=None)
    ledger.earn_points(db.session, follower.id, 10, ledger.Cause("signup", ref="welcome"), today=at_till.joined_on,
                       expires_on=ledger.expiry_date(at_till.joined_on, 24))  # a welcome gift on following
    db.session.commit()
    as_member(client, follower)
    assert 'data-testid="bind-link"' in client.get("/h5/").get_data(as_text=True)
    client.post("/h5/bind", data={"action": "send", "phone": "13912345678"})
    code = texted_code()
    wrong = client.post("/h5/bind", data={"action": "bind", "phone": "13912345678", "code": "000000"
                                          if code != "000000" else "111111"})
    assert wrong.status_code == 200
    r = client.post("/h5/bind", data={"action": "bind", "phone": "13912345678", "code": code})
    assert r.status_code == 302
    db.session.expire_all()
    kept = db.session.get(Member, at_till.id)
    assert kept.openid == "o-binder" and kept.card_no == at_till.card_no
    assert db.session.scalar(select(func.count(Member.id)).where(Member.status != "closed")) == 1
    assert ledger.balance(db.session, kept.id, "points") == 210
    assert ledger.balance(db.session, follower.id, "points") == 0
    assert {e.cause for e in db.session.scalars(select(LedgerEntry).where(LedgerEntry.cause == "merge"))} == {"merge"}
    assert ledger.audit(db.session) == []
    assert 'data-testid="member-qr"' in client.get("/h5/").get_data(as_text=True)   # the session follows
    merged = cashier_api.post("/transactions", {"store_code": "S001", "member": {"card_no": follower.card_no},
                                                "items": [{"sku": "G", "qty": 1, "unit_price_fen": 100}]},
                              key=str(uuid.uuid4()))
    assert merged.status_code == 201 and merged.json["points_earned"] == 0   # the closed card earns nothing


def test_staff_merge_two_members_and_the_ledgers_say_so(admin_api, make):
    keep = make.member(phone="13900000001")
    away = make.member(phone="13900000002")
    today = keep.joined_on
    ledger.earn_points(db.session, away.id, 70, ledger.Cause("adjustment", ref="x"), today=today,
                       expires_on=ledger.expiry_date(today, 24))
    ledger.credit_value(db.session, away.id, 5_000, ledger.Cause("topup", ref="t1"))
    db.session.commit()
    r = admin_api.post(f"/members/{keep.id}/merge", {"card_no": away.card_no, "reason": "same person, two cards"})
    assert r.status_code == 200, r.json
    assert r.json["points_balance"] == 70 and r.json["stored_value_fen"] == 5_000
    entries = db.session.scalars(select(LedgerEntry).where(LedgerEntry.cause == "merge")).all()
    assert len(entries) == 4 and all(away.card_no in e.text_zh or keep.card_no in e.text_zh for e in entries)
    history = admin_api.get(f"/members/{keep.id}/history").json["changes"]
    assert history[0]["field"] == "merged" and history[0]["reason"] == "same person, two cards"
    assert ledger.audit(db.session) == []
    again = admin_api.post(f"/members/{keep.id}/merge", {"card_no": away.card_no, "reason": "again"})
    assert again.status_code == 422 and again.json["code"] == "member_closed"
