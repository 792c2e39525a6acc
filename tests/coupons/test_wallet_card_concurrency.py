"""Coupons in the WeChat card wallet under concurrency (MariaDB: real row locks): one wallet
coupon rung up at two tills at once is redeemed once and queued for consuming once, and two
dispatchers draining at once consume it in WeChat once."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import func, select

from tests.conftest import mysql_only, post_sale
from tests.coupons.test_wallet_card import add_to_wallet, send_and_approve
from wxcrm import timeutil
from wxcrm.config import settings_for
from wxcrm.coupons.card_models import CouponCardCode
from wxcrm.extensions import db
from wxcrm.jobs.outbox import drain
from wxcrm.messages.models import OutboxMessage


@mysql_only
def test_two_tills_and_two_dispatchers_consume_a_wallet_coupon_once(app, make, standin, configure, client,
                                                                     marketer_api):
    configure(WECHAT_CARD_ENABLED=True)
    requests.post(f"{standin.url}/standin/cards/review-mode", json={"manual": True})
    make.base_rule()
    member = make.member(openid="o-cwc")
    s1, s2 = make.store("S001"), make.store("S002")
    tills = [make.token("cashier", s1), make.token("cashier", s2)]
    assert marketer_api.post("/coupon-templates", {"code": "CASH20", "type": "cash", "title_zh": "20元代金券",
                                                   "face_value_fen": 2000, "valid_days": 30}).status_code == 201
    code = marketer_api.post("/coupons", {"template": "CASH20", "member": {"card_no": member.card_no},
                                          "reason": "welcome"}, key=str(uuid.uuid4())).json["code"]
    send_and_approve(client, make, standin)
    assert add_to_wallet(client, standin, member, code)["errMsg"] == "addCard:ok"
    assert db.session.scalar(select(func.count()).select_from(CouponCardCode)) == 1

    def ring(i):
        return post_sale(app, tills[i], {"store_code": f"S00{i + 1}", "member": {"card_no": member.card_no},
                                         "coupon_codes": [code],
                                         "items": [{"sku": "T", "qty": 1, "unit_price_fen": 5000}]}, str(uuid.uuid4()))

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(ring, range(2)))
    assert sorted(status for status, _ in results) == [201, 409], results
    db.session.expire_all()
    [row] = db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "wallet_coupon_consume"))

    settings = settings_for(app)
    now = timeutil.utcnow()

    def dispatch(_):
        with app.app_context():
            try:
                return str(drain(db.session, settings, now=now))
            finally:
                db.session.remove()

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(dispatch, range(2)))
    db.session.expire_all()
    assert db.session.get(OutboxMessage, row.id).status == "sent"
    assert len(standin.calls("/card/code/consume")) == 1
