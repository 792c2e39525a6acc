"""Issue 14, item 6 against the stand-in: a template becomes a WeChat card coupon (reviewed by
WeChat), a member adds a coupon to the WeChat card wallet through the H5 wallet's signed
``wx.addCard`` entry, the till redeems it without waiting on WeChat and the outbox consumes
it in the wallet (retried with back-off, once whatever repeats), and the wallet's events
(got, deleted, consumed with WeChat's own tools, review) move wxcrm as a CRM should."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from wxcrm import timeutil
from wxcrm.config import settings_for
from wxcrm.coupons import wallet_card
from wxcrm.coupons.card_models import CouponCard, CouponCardCode
from wxcrm.coupons.models import Coupon
from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.jobs.outbox import drain
from wxcrm.messages.models import OutboxMessage


@pytest.fixture(autouse=True)
def base_earning(make):
    return make.base_rule()


def login(client, person):
    assert client.post("/login", data={"username": person.username, "password": "password123"}).status_code == 302


def as_member(client, member):
    with client.session_transaction() as s:
        s["openid"], s["member_id"], s["oauth_scope"] = member.openid, member.id, "snsapi_base"


def control(standin, path: str, body: dict) -> requests.Response:
    return requests.post(f"{standin.url}/standin/{path}", json=body)


@pytest.fixture
def wallet(app, standin, configure, make, marketer_api, client):
    """Card wallet on; WeChat reviews by hand; a template CASH20 and a member holding one."""
    configure(WECHAT_CARD_ENABLED=True)
    control(standin, "cards/review-mode", {"manual": True})
    member = make.member(openid="o-cw")
    member.followed = True
    db.session.commit()
    standin.follow("o-cw")
    assert marketer_api.post("/coupon-templates", {"code": "CASH20", "type": "cash", "title_zh": "20元代金券",
                                                   "face_value_fen": 2000, "valid_days": 30}).status_code == 201
    code = marketer_api.post("/coupons", {"template": "CASH20", "member": {"card_no": member.card_no},
                                          "reason": "welcome"}, key=str(uuid.uuid4())).json["code"]
    return member, code


def send_and_approve(client, make, standin) -> CouponCard:
    login(client, make.staff("marketer"))
    assert client.post("/console/coupons/CASH20/wechat-card").status_code == 302
    card = db.session.scalar(select(CouponCard))
    assert card.status == "pending"
    page = client.get("/console/coupons/CASH20").get_data(as_text=True)
    assert "审核中" in page or "In WeChat's review" in page
    assert control(standin, "cards/review", {"card_id": card.card_id, "pass": True}).json()["status"] == 200
    db.session.expire_all()
    assert db.session.scalar(select(CouponCard)).status == "approved"
    return db.session.scalar(select(CouponCard))


def add_to_wallet(client, standin, member, code) -> dict:
    as_member(client, member)
    entry = client.get(f"/h5/coupons/{code}/wechat-card")
    assert entry.status_code == 200, entry.get_data(as_text=True)
    return control(standin, "add-card", {"openid": member.openid, "cardList": [entry.json]}).json()


def sale_with(cashier_api, member, code):
    r = cashier_api.post("/transactions", {"store_code": "S001", "member": {"card_no": member.card_no},
                                           "coupon_codes": [code],
                                           "items": [{"sku": "G", "qty": 1, "unit_price_fen": 10_000}]},
                         key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    return r.json


def test_added_redeemed_at_the_till_and_consumed_in_the_wallet_once(app, wallet, client, make, standin, cashier_api):
    member, code = wallet
    card = send_and_approve(client, make, standin)
    [created] = standin.calls("/card/create")
    body = created["body"]["card"]
    assert body["card_type"] == "CASH" and body["cash"]["reduce_cost"] == 2000
    assert body["cash"]["base_info"]["use_custom_code"] is True
    assert body["cash"]["base_info"]["date_info"] == {"type": "DATE_TYPE_FIX_TERM", "fixed_term": 30,
                                                      "fixed_begin_term": 0}
    page = client.get("/console/coupons/").get_data(as_text=True)
    assert "已通过" in page or "Approved by WeChat" in page

    as_member(client, member)
    assert 'data-testid="coupon-wallet-add"' in client.get("/h5/coupons").get_data(as_text=True)
    entry = client.get(f"/h5/coupons/{code}/wechat-card").json
    ext = json.loads(entry["cardExt"])
    assert (entry["cardId"], ext["code"], ext["openid"]) == (card.card_id, code, "o-cw")
    forged = {"cardId": entry["cardId"], "cardExt": json.dumps({**ext, "signature": "0" * 40})}
    assert control(standin, "add-card", {"openid": "o-cw", "cardList": [forged]}).status_code == 409
    added = control(standin, "add-card", {"openid": "o-cw", "cardList": [entry]}).json()
    assert added["errMsg"] == "addCard:ok" and added["pushed"][0]["status"] == 200
    assert control(standin, "add-card", {"openid": "o-cw", "cardList": [entry]}).json()["errMsg"].startswith(
        "addCard:fail")                                                  # the nonce, and the code, are used
    row = db.session.get(CouponCardCode, db.session.scalar(select(Coupon.id).where(Coupon.code == code)))
    assert row is not None and row.card_id == card.card_id
    assert 'data-testid="coupon-in-wallet"' in client.get("/h5/coupons").get_data(as_text=True)

    sale_with(cashier_api, member, code)
    assert standin.calls("/card/code/consume") == []                      # the sale did not wait on WeChat
    [queued] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "wallet_coupon_consume"))
    assert queued.channel == "card" and queued.status == "pending" and queued.payload["code"] == code
    login(client, make.staff("marketer"))
    outbox_page = client.get("/console/outbox/?status=pending").get_data(as_text=True)
    assert "卡包优惠券核销" in outbox_page or "Wallet coupon consumed" in outbox_page

    settings = settings_for(app)
    standin.fail_next(1, errcode=-1, path="/card/code/consume")            # WeChat is busy once
    now = timeutil.utcnow()
    drain(db.session, settings, now=now)
    db.session.expire_all()
    retried = db.session.get(OutboxMessage, queued.id)
    assert retried.status == "pending" and retried.attempts == 1 and retried.next_attempt_at > now
    drain(db.session, settings, now=now + timedelta(minutes=5))
    db.session.expire_all()
    assert db.session.get(OutboxMessage, queued.id).status == "sent"
    assert len(standin.calls("/card/code/consume")) == 1
    pushed = [p for p in standin.flush_jobs() if p["event"] == "user_consume_card"]
    assert [(p["code"], p["status"]) for p in pushed] == [(code, 200)]
    db.session.expire_all()
    assert db.session.get(CouponCardCode, row.coupon_id).consume_source == "FROM_API"

    # a repeat is harmless: queueing again finds the first row; WeChat's 40099 for a resend ends it as done
    assert wallet_card.queue_consumes(db.session, settings, [row.coupon_id], now=now) == 0
    again = db.session.get(OutboxMessage, queued.id)
    again.status, again.next_attempt_at = "pending", now
    db.session.commit()
    drain(db.session, settings, now=now + timedelta(minutes=10))
    db.session.expire_all()
    done = db.session.get(OutboxMessage, queued.id)
    assert (done.status, done.remote_id) == ("sent", "gone:40099")
    assert db.session.scalar(select(Coupon.status).where(Coupon.code == code)) == "used"


def test_a_coupon_deleted_from_the_wallet_stays_usable_and_nothing_is_consumed(wallet, client, make, standin,
                                                                                cashier_api):
    member, code = wallet
    card = send_and_approve(client, make, standin)
    add_to_wallet(client, standin, member, code)
    assert standin.push("user_del_card", "o-cw", card_id=card.card_id, code=code)["status"] == 200
    db.session.expire_all()
    assert db.session.scalar(select(Coupon.status).where(Coupon.code == code)) == "available"
    as_member(client, member)
    page = client.get("/h5/coupons").get_data(as_text=True)
    assert 'data-testid="coupon-removed-from-wallet"' in page and "coupon-wallet-add" not in page
    sale_with(cashier_api, member, code)
    assert not db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.purpose == "wallet_coupon_consume")).all()


def test_consumed_with_wechats_own_tools_the_coupon_is_used_once(wallet, client, make, standin, cashier_api):
    member, code = wallet
    card = send_and_approve(client, make, standin)
    add_to_wallet(client, standin, member, code)
    held = db.session.get(type(member), member.id).coupons_held
    assert standin.push("user_consume_card", "o-cw", card_id=card.card_id, code=code)["status"] == 200
    db.session.expire_all()
    coupon = db.session.scalar(select(Coupon).where(Coupon.code == code))
    assert coupon.status == "used" and coupon.used_transaction_id is None
    assert db.session.get(type(member), member.id).coupons_held == held - 1
    r = cashier_api.post("/transactions", {"store_code": "S001", "member": {"card_no": member.card_no},
                                           "coupon_codes": [code],
                                           "items": [{"sku": "G", "qty": 1, "unit_price_fen": 10_000}]},
                         key=str(uuid.uuid4()))
    assert r.status_code == 409 and r.json["code"] == "coupon_used"


def test_a_rejected_card_says_why_and_can_be_sent_again(wallet, client, make, standin):
    login(client, make.staff("marketer"))
    client.post("/console/coupons/CASH20/wechat-card")
    first = db.session.scalar(select(CouponCard)).card_id
    control(standin, "cards/review", {"card_id": first, "pass": False, "reason": "logo 不清晰"})
    db.session.expire_all()
    page = client.get("/console/coupons/CASH20").get_data(as_text=True)
    assert "logo 不清晰" in page and 'data-testid="wechat-card-send"' in page
    member, code = wallet
    as_member(client, member)
    assert client.get(f"/h5/coupons/{code}/wechat-card").status_code == 409   # not approved: no entry
    login(client, make.staff("marketer"))
    client.post("/console/coupons/CASH20/wechat-card")
    db.session.expire_all()
    again = db.session.scalar(select(CouponCard))
    assert again.card_id != first and again.status == "pending"


def test_what_wechat_would_refuse_is_said_before_calling_it(app, wallet, marketer_api):
    settings = settings_for(app)
    marketer_api.post("/coupon-templates", {"code": "LONG", "type": "percent", "percent_off": 20,
                                            "title_zh": "全场商品八折优惠券限时", "valid_days": 7})
    from wxcrm.coupons.service import template_by_code
    with pytest.raises(DomainError) as refused:
        wallet_card.card_body(template_by_code(db.session, "LONG"), settings, now=timeutil.utcnow())
    assert refused.value.code == "wechat_card_title"


def test_a_closed_membership_withdraws_its_wallet_coupons(app, wallet, client, make, standin):
    member, code = wallet
    send_and_approve(client, make, standin)
    add_to_wallet(client, standin, member, code)
    from wxcrm.benefits.privacy import close_membership
    settings = settings_for(app)
    close_membership(db.session, db.session.get(type(member), member.id), clock=timeutil.Clock.now(settings.tz),
                     settings=settings)
    db.session.commit()
    drain(db.session, settings, now=timeutil.utcnow())
    [call] = standin.calls("/card/code/unavailable")
    assert call["body"]["code"] == code
    assert db.session.scalar(select(CouponCardCode.openid)) == ""


def test_the_api_sends_a_template_and_reads_wechats_review(wallet, marketer_api, standin):
    assert marketer_api.get("/coupon-templates/CASH20/wechat-card").status_code == 404
    sent = marketer_api.post("/coupon-templates/CASH20/wechat-card")
    assert sent.status_code == 200 and sent.json["status"] == "pending" and sent.json["card_type"] == "CASH"
    control(standin, "cards/review", {"card_id": sent.json["card_id"], "pass": False, "reason": "标题不规范"})
    read = marketer_api.get("/coupon-templates/CASH20/wechat-card").json
    assert (read["status"], read["refuse_reason"]) == ("rejected", "标题不规范")
    assert marketer_api.post("/coupon-templates/CASH20/wechat-card").json["card_id"] != sent.json["card_id"]


def test_a_gift_handed_over_in_a_store_is_consumed_in_the_wallet_too(wallet, client, make, standin, marketer_api,
                                                                     cashier_api):
    member, _ = wallet
    assert marketer_api.post("/coupon-templates", {"code": "MUG", "type": "gift", "title_zh": "马克杯兑换券",
                                                   "item_sku": "MUG-001", "face_value_fen": 3900,
                                                   "valid_days": 30}).status_code == 201
    code = marketer_api.post("/coupons", {"template": "MUG", "member": {"card_no": member.card_no},
                                          "reason": "gift"}, key=str(uuid.uuid4())).json["code"]
    sent = marketer_api.post("/coupon-templates/MUG/wechat-card").json
    assert sent["card_type"] == "GIFT"
    control(standin, "cards/review", {"card_id": sent["card_id"], "pass": True})
    assert add_to_wallet(client, standin, member, code)["errMsg"] == "addCard:ok"
    assert cashier_api.post(f"/coupons/{code}/hand-over", {"store_code": "S001"}).status_code == 200
    [queued] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "wallet_coupon_consume"))
    assert (queued.payload["code"], queued.payload["card_id"]) == (code, sent["card_id"])
