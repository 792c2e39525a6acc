"""Issue 12, item 11 against the stand-in: the wallet member card is created, added by a
member (custom code = their card number), activated from WeChat's form with their points,
and a purchase updates the wallet's points once, even when the first update call fails."""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from wxcrm import timeutil
from wxcrm.cards import wallet
from wxcrm.cards.models import WalletMember
from wxcrm.config import settings_for
from wxcrm.extensions import db
from wxcrm.jobs.outbox import drain
from wxcrm.ledger import service as ledger
from wxcrm.messages.models import OutboxMessage
from wxcrm.wechat.adapter.client import wechat_client


def test_the_wallet_card_is_made_activated_and_kept_in_step_once(app, make, standin, configure, cashier_api):
    configure(WECHAT_CARD_ENABLED=True)
    settings = settings_for(app)
    make.base_rule()
    member = make.member(openid="o-wallet")
    member.followed = True
    db.session.commit()
    standin.follow("o-wallet")
    cashier_api.post("/transactions", {"store_code": "S001", "member": {"card_no": member.card_no},
                                       "items": [{"sku": "G", "qty": 1, "unit_price_fen": 10_000}]},
                     key=str(uuid.uuid4()))                                     # 100 points before the wallet
    assert app.test_cli_runner().invoke(args=["wxcrm", "wechat-card"]).exit_code == 0
    card = wallet.wallet_card(db.session)
    [created] = standin.calls("/card/create")
    assert created["body"]["card"]["member_card"]["base_info"]["use_custom_code"] is True
    assert standin.calls("/card/membercard/activateuserform/set")

    standin.push("user_get_card", "o-wallet", card_id=card.card_id, code=member.card_no)
    assert db.session.get(WalletMember, member.id).code == member.card_no
    standin.push("submit_membercard_user_info", "o-wallet", card_id=card.card_id, code=member.card_no,
                 info={"USER_FORM_INFO_FLAG_MOBILE": member.phone})
    [activated] = [c for c in standin.calls("/card/membercard/activate") if c["path"] == "/card/membercard/activate"]
    assert activated["body"]["membership_number"] == member.card_no and activated["body"]["init_bonus"] == 100

    cashier_api.post("/transactions", {"store_code": "S001", "member": {"card_no": member.card_no},
                                       "items": [{"sku": "G", "qty": 1, "unit_price_fen": 5_000}]},
                     key=str(uuid.uuid4()))                                     # +50
    [row] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "wallet_card_sync")).all()
    assert row.channel == "card" and row.payload["bonus"] == 150
    standin.fail_next(1, errcode=-1, path="/card/membercard/updateuser")          # WeChat is busy once
    now = timeutil.utcnow()
    drain(db.session, settings, now=now)
    drain(db.session, settings, now=now + timedelta(minutes=5))                   # the retry
    updates = standin.calls("/card/membercard/updateuser")
    assert [u["body"]["bonus"] for u in updates] == [150]
    db.session.expire_all()
    assert db.session.get(OutboxMessage, row.id).status == "sent"
    assert ledger.balance(db.session, member.id, "points") == 150
    client = wechat_client(settings, db.engine)
    assert client.card.get_code(member.card_no, card_id=card.card_id, check_consume=False)["card"]["card_id"] \
        == card.card_id
    standin.push("user_del_card", "o-wallet", card_id=card.card_id, code=member.card_no)
    db.session.expire_all()
    assert db.session.get(WalletMember, member.id).removed_at is not None


def test_with_the_wallet_card_off_a_purchase_queues_nothing_for_it(make, cashier_api):
    make.base_rule()
    member = make.member(openid="o-nowallet")
    cashier_api.post("/transactions", {"store_code": "S001", "member": {"card_no": member.card_no},
                                       "items": [{"sku": "G", "qty": 1, "unit_price_fen": 5_000}]},
                     key=str(uuid.uuid4()))
    assert not db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "wallet_card_sync")).all()


def test_the_wallet_card_shows_tier_coupons_and_stored_value_and_the_job_keeps_them_in_step(
        app, make, standin, configure, cashier_api, marketer_api):
    """The card face shows what the card page shows: points, and the member fields tier,
    coupons held and stored value (in yuan). A top-up and a coupon change no points at the
    till: the wallet-card-sync job finds the card showing old values and queues one update
    with all of them, once (a second run queues nothing)."""
    configure(WECHAT_CARD_ENABLED=True)
    settings = settings_for(app)
    make.base_rule()
    gold = make.tier("gold", rank=2, threshold_fen=10**9)
    gold.name = "金卡会员"
    member = make.member(openid="o-wallet-fields")
    member.tier_id = gold.id
    db.session.commit()
    standin.follow("o-wallet-fields")
    assert app.test_cli_runner().invoke(args=["wxcrm", "wechat-card"]).exit_code == 0
    card = wallet.wallet_card(db.session)
    body = standin.calls("/card/create")[-1]["body"]["card"]["member_card"]
    assert body["custom_field1"]["name_type"] == "FIELD_NAME_TYPE_LEVEL"
    assert body["custom_field2"]["name_type"] == "FIELD_NAME_TYPE_COUPON"
    assert body["custom_field3"]["name"] == "储值" and body["supply_balance"] is False
    standin.push("user_get_card", "o-wallet-fields", card_id=card.card_id, code=member.card_no)
    standin.push("submit_membercard_user_info", "o-wallet-fields", card_id=card.card_id, code=member.card_no,
                 info={"USER_FORM_INFO_FLAG_MOBILE": member.phone})
    activated = [c for c in standin.calls("/card/membercard/activate")][-1]["body"]
    assert (activated["init_custom_field_value1"], activated["init_custom_field_value2"],
            activated["init_custom_field_value3"]) == ("金卡会员", "0", "0.00")

    r = cashier_api.post("/topups", {"store_code": "S001", "member": {"member_id": member.id}, "amount_fen": 12_345,
                                     "method": "cash"}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json
    r = marketer_api.post("/coupon-templates", {"code": "CASH20", "type": "cash", "title_zh": "20元代金券",
                                                "title_en": "20 yuan voucher", "face_value_fen": 2000,
                                                "min_spend_fen": 5000, "valid_days": 30})
    assert r.status_code == 201, r.json
    r = marketer_api.post("/coupons", {"template": "CASH20", "member": {"card_no": member.card_no},
                                       "reason": "welcome"}, key=str(uuid.uuid4()))
    assert r.status_code == 201, r.json

    card_no = member.card_no
    from wxcrm.jobs.registry import BY_ID
    BY_ID["wallet-card-sync"].resolve()(app)
    BY_ID["wallet-card-sync"].resolve()(app)                      # nothing changed since: nothing more
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "wallet_card_sync")).all()
    assert len(rows) == 1
    drain(db.session, settings, now=timeutil.utcnow())
    [update] = standin.calls("/card/membercard/updateuser")
    assert (update["body"]["bonus"], update["body"]["custom_field_value1"], update["body"]["custom_field_value2"],
            update["body"]["custom_field_value3"]) == (0, "金卡会员", "1", "123.45")
    import requests
    [shown] = [c for c in requests.get(f"{standin.url}/standin/cards").json()["codes"] if c["code"] == card_no]
    assert (shown["custom_field_value1"], shown["custom_field_value2"], shown["custom_field_value3"]) == \
        ("金卡会员", "1", "123.45")


def test_a_replaced_card_moves_the_wallet_cards_code_to_the_new_number(app, make, standin, configure, cashier_api):
    """The wallet card's code is the card number: a replacement queues card/code/update, a
    later points update goes to the new code, and a code change whose answer was lost (WeChat
    made it, wxcrm did not hear) counts as sent rather than failing for ever."""
    configure(WECHAT_CARD_ENABLED=True)
    settings = settings_for(app)
    make.base_rule()
    member = make.member(openid="o-wallet-replaced")
    standin.follow("o-wallet-replaced")
    assert app.test_cli_runner().invoke(args=["wxcrm", "wechat-card"]).exit_code == 0
    card = wallet.wallet_card(db.session)
    old = member.card_no
    standin.push("user_get_card", "o-wallet-replaced", card_id=card.card_id, code=old)
    standin.push("submit_membercard_user_info", "o-wallet-replaced", card_id=card.card_id, code=old,
                 info={"USER_FORM_INFO_FLAG_MOBILE": member.phone})
    assert cashier_api.get(f"/members?card_no={old}").status_code == 200          # the till looks the member up
    r = cashier_api.post(f"/members/{member.id}/card/replace", {"reason": "phone lost"})
    assert r.status_code == 200, r.json
    new = r.json["card_no"]
    [moved] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "wallet_card_code")).all()
    assert (moved.channel, moved.payload["code"], moved.payload["new_code"]) == ("card", old, new)
    assert db.session.get(WalletMember, member.id).code == new
    wechat_client(settings, db.engine).card.update_code(card.card_id, old, new)     # WeChat did it; the answer was lost
    drain(db.session, settings, now=timeutil.utcnow())
    db.session.expire_all()
    assert db.session.get(OutboxMessage, moved.id).status == "sent"
    cashier_api.post("/transactions", {"store_code": "S001", "member": {"card_no": new},
                                       "items": [{"sku": "G", "qty": 1, "unit_price_fen": 5_000}]},
                     key=str(uuid.uuid4()))
    drain(db.session, settings, now=timeutil.utcnow() + timedelta(seconds=1))
    [update] = standin.calls("/card/membercard/updateuser")
    assert update["body"]["code"] == new and update["body"]["bonus"] == 50


def test_a_follower_who_binds_their_membership_keeps_their_wallet_card_on_the_kept_number(
        app, make, standin, configure, cashier_api, client):
    """A follower added the wallet card (code: their follower card number), then bound their
    WeChat to the membership enrolled at the till: the wallet card becomes the kept member's,
    its code moves to the kept number, and it shows the kept member's points."""
    configure(WECHAT_CARD_ENABLED=True)
    settings = settings_for(app)
    make.base_rule()
    at_till = make.member(phone="13912345670", name="韩梅梅")
    cashier_api.post("/transactions", {"store_code": "S001", "member": {"card_no": at_till.card_no},
                                       "items": [{"sku": "G", "qty": 1, "unit_price_fen": 20_000}]},
                     key=str(uuid.uuid4()))                                   # 200 points at the till
    follower = make.member(openid="o-wallet-binder", phone=None)
    standin.follow("o-wallet-binder")
    assert app.test_cli_runner().invoke(args=["wxcrm", "wechat-card"]).exit_code == 0
    card = wallet.wallet_card(db.session)
    follower_no, kept_no = follower.card_no, at_till.card_no
    standin.push("user_get_card", "o-wallet-binder", card_id=card.card_id, code=follower_no)
    standin.push("submit_membercard_user_info", "o-wallet-binder", card_id=card.card_id, code=follower_no,
                 info={"USER_FORM_INFO_FLAG_MOBILE": "13912345670"})
    with client.session_transaction() as s:
        s["openid"], s["member_id"], s["oauth_scope"] = "o-wallet-binder", follower.id, "snsapi_base"
    client.post("/h5/bind", data={"action": "send", "phone": "13912345670"})
    code = db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "verify_phone")
                              .order_by(OutboxMessage.id.desc())).first().payload["source_fields"]["code"]
    assert client.post("/h5/bind", data={"action": "bind", "phone": "13912345670", "code": code}).status_code == 302
    db.session.expire_all()
    held = db.session.get(WalletMember, at_till.id)
    assert held is not None and held.code == kept_no and db.session.get(WalletMember, follower.id) is None
    drain(db.session, settings, now=timeutil.utcnow())
    import requests
    [shown] = [c for c in requests.get(f"{standin.url}/standin/cards").json()["codes"] if c["openid"] ==
               "o-wallet-binder"]
    assert (shown["code"], shown["bonus"]) == (kept_no, 200)
