"""Item 2: a member tops up by WeChat Pay from the H5 page. Tests act as WeChat Pay with
wechatpy's signing: a verified notify credits once however often it comes; a forged,
amount-mismatched or other-merchant notify credits nothing; a late notify is confirmed
by the order-query job."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select
from wechatpy.pay.utils import calculate_signature, dict_to_xml

from tests.conftest import mysql_only
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.topups.models import Topup

PAY_KEY = "standin-pay-key-32-characters-xx"
MCH_ID = "1900000109"


@pytest.fixture
def paying(app, standin, standin_pay, configure, live_server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    configure(WECHAT_PAY_ENABLED=True, PUBLIC_URL=live_server.url)
    return standin


def as_member(client, member):
    with client.session_transaction() as s:
        s["openid"], s["member_id"], s["oauth_scope"] = member.openid, member.id, "snsapi_base"


def order(client, make, standin, fen=10_000, openid="o-h5-payer"):
    standin.follow(openid)
    member = make.member(openid=openid)
    as_member(client, member)
    r = client.post("/h5/topups", json={"amount_fen": fen})
    assert r.status_code == 201, r.get_json()
    return member, r.get_json()


def notify_body(out_trade_no, fee, *, key=PAY_KEY, mch_id=MCH_ID, appid="wx_demo_appid", **more) -> bytes:
    fields = {"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": appid, "mch_id": mch_id,
              "nonce_str": "n0nce", "openid": "o-h5-payer", "total_fee": str(fee), "out_trade_no": out_trade_no,
              "transaction_id": "4200000000000001", "time_end": "20261123140000", **more}
    return dict_to_xml(fields, calculate_signature(fields, key)).encode()


def send_notify(url, body) -> str:
    return requests.post(f"{url}/wechat/pay/notify", data=body, headers={"Content-Type": "text/xml"}).text


def stored(member) -> int:
    db.session.expire_all()
    return ledger.balance(db.session, member if isinstance(member, int) else member.id, "stored_value")


def test_the_h5_order_answers_jsapi_parameters_signed_for_weixinjsbridge(client, make, paying):
    member, body = order(client, make, paying)
    jsapi = body["jsapi"]
    assert jsapi["appId"] == "wx_demo_appid" and jsapi["package"].startswith("prepay_id=wx")
    signed = {k: jsapi[k] for k in ("appId", "timeStamp", "nonceStr", "package", "signType")}
    assert jsapi["paySign"] == calculate_signature(signed, PAY_KEY)
    topup = db.session.scalar(select(Topup).where(Topup.out_trade_no == body["out_trade_no"]))
    assert topup.status == "pending" and stored(member) == 0
    # the stand-in's payment page accepts these parameters
    page = requests.get(f"{paying.url}/standin/pay/jsapi", params={"params": __import__("json").dumps(jsapi)}).text
    assert "¥100.00" in page


def test_a_verified_notify_credits_once_however_often_it_comes(client, make, paying, live_server):
    member, body = order(client, make, paying)
    for _ in range(3):
        assert "SUCCESS" in send_notify(live_server.url, notify_body(body["out_trade_no"], 10_000))
    assert stored(member) == 10_000
    assert ledger.audit(db.session) == []


@pytest.mark.parametrize("tamper", ["forged", "amount", "merchant", "appid", "unknown_order"])
def test_a_notify_that_is_not_genuine_credits_nothing(client, make, paying, live_server, tamper):
    member, body = order(client, make, paying)
    no = body["out_trade_no"]
    bodies = {
        "forged": notify_body(no, 10_000, key="x" * 32),
        "amount": notify_body(no, 1),
        "merchant": notify_body(no, 10_000, mch_id="1900000999"),
        "appid": notify_body(no, 10_000, appid="wx_other"),
        "unknown_order": notify_body("TU-NOT-OURS-1", 10_000),
    }
    answer = send_notify(live_server.url, bodies[tamper])
    assert "FAIL" in answer
    assert stored(member) == 0
    assert db.session.scalar(select(Topup.status).where(Topup.out_trade_no == no)) == "pending"


def test_paying_through_the_standin_credits_by_its_notify(client, make, paying):
    member, body = order(client, make, paying)
    prepay = body["jsapi"]["package"].removeprefix("prepay_id=")
    assert requests.post(f"{paying.url}/standin/pay/confirm", json={"prepay_id": prepay}).json()["ok"]
    assert stored(member) == 10_000


def test_a_late_notify_is_confirmed_by_the_order_query_job(app, client, make, paying, frozen_now):
    from wxcrm.jobs.tasks import confirm_wechat_topups
    member, body = order(client, make, paying)
    member = member.id
    # WeChat took the money but the notify never arrived (its URL unreachable)
    requests.post(f"{paying.url}/standin/pay-notify",
                  json={"out_trade_no": body["out_trade_no"], "notify_url": "http://127.0.0.1:9/nowhere"})
    assert stored(member) == 0
    topup = db.session.scalar(select(Topup).where(Topup.out_trade_no == body["out_trade_no"]))
    frozen_now(topup.created_at + timedelta(minutes=5))
    confirm_wechat_topups(app)
    assert stored(member) == 10_000
    confirm_wechat_topups(app)                 # again: nothing more
    assert stored(member) == 10_000


def test_an_unpaid_order_past_its_day_is_closed(app, client, make, paying, frozen_now):
    from wxcrm.jobs.tasks import confirm_wechat_topups
    member, body = order(client, make, paying)
    member = member.id
    topup = db.session.scalar(select(Topup).where(Topup.out_trade_no == body["out_trade_no"]))
    topup_id = topup.id
    frozen_now(topup.created_at + timedelta(days=2))
    confirm_wechat_topups(app)
    db.session.expire_all()
    assert db.session.scalar(select(Topup.status).where(Topup.id == topup_id)) == "closed"
    assert stored(member) == 0


def test_the_h5_order_refuses_what_a_counter_would(client, make, paying):
    paying.follow("o-h5-small")
    member = make.member(openid="o-h5-small")
    as_member(client, member)
    r = client.post("/h5/topups", json={"amount_fen": 10})
    assert r.status_code == 422 and r.get_json()["code"] == "topup_too_small"
    assert r.mimetype == "application/problem+json"


@mysql_only
def test_five_notifies_at_once_credit_once(client, make, paying, live_server):
    member, body = order(client, make, paying)
    genuine = notify_body(body["out_trade_no"], 10_000)
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(send_notify(live_server.url, genuine)))
               for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 5 and all("SUCCESS" in a for a in answers), answers
    assert stored(member) == 10_000
    assert ledger.audit(db.session) == []


def test_a_wechat_top_up_is_refunded_through_wechat_pay(client, make, paying, live_server, admin_api):
    member, body = order(client, make, paying)
    send_notify(live_server.url, notify_body(body["out_trade_no"], 10_000))     # credited by our own notify
    # and paid at the stand-in too, so WeChat Pay knows the order it refunds
    requests.post(f"{paying.url}/standin/pay-notify",
                  json={"out_trade_no": body["out_trade_no"], "notify_url": "http://127.0.0.1:9/none"})
    topup_id = db.session.scalar(select(Topup.id).where(Topup.out_trade_no == body["out_trade_no"]))
    r = admin_api.post(f"/topups/{topup_id}/refund", {}, key="refund-wechat-0001")
    assert r.status_code == 201, r.json
    assert r.json["status"] == "refunded" and r.json["refund"]["refund_fen"] == 10_000
    assert [c["path"] for c in paying.calls("/mch/secapi")] == ["/mch/secapi/pay/refund"]
    assert stored(member) == 0
