"""The client factory, the shared token store, menu, JS-SDK and Pay, against the stand-in."""
from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timedelta

import pytest
import requests
from flask import current_app
from sqlalchemy import update
from wechatpy.exceptions import WeChatPayException
from wechatpy.pay.utils import calculate_signature, dict_to_xml

from wxcrm.config import settings_for
from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.wechat.adapter.client import DatabaseStorage, route_url, wechat_client, wechat_pay
from wxcrm.wechat.adapter.menu import check_menu, default_menu
from wxcrm.wechat.adapter.models import StoredSecret
from wxcrm.wechat.adapter.pay import PayNoticeRejected, verify_payment_notice


def test_wechat_urls_go_to_the_configured_base_and_nowhere_else():
    base = "http://127.0.0.1:5001"
    assert route_url("https://api.weixin.qq.com/cgi-bin/token", base) == f"{base}/cgi-bin/token"
    assert route_url("https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=t", base) == f"{base}/mp/cgi-bin/showqrcode?ticket=t"
    assert route_url("https://api.mch.weixin.qq.com/pay/unifiedorder", base) == f"{base}/mch/pay/unifiedorder"
    assert route_url("https://api.weixin.qq.com/cgi-bin/token", "") == "https://api.weixin.qq.com/cgi-bin/token"
    assert route_url("https://example.com/x", base) == "https://example.com/x"


def test_workers_share_one_token_and_fetch_it_once(app, standin):
    tokens, errors = [], []

    def worker():
        with app.app_context():
            try:
                tokens.append(wechat_client(settings_for(app), db.engine).access_token)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors and len(set(tokens)) == 1
    assert standin.state.token_fetches == 1


def test_the_token_store_forgets_expired_values(app):
    storage = DatabaseStorage(db.engine)
    storage.set("k", "v", ttl=7200)
    assert storage.get("k") == "v"
    with db.engine.begin() as conn:  # two hours later
        conn.execute(update(StoredSecret).values(expires_at=datetime.utcnow() - timedelta(seconds=1)))
    assert storage.get("k") is None and storage.get("k", "d") == "d"
    storage.set("n", 12345)
    assert storage.get("n") == 12345
    assert storage.try_lock("k") and not storage.try_lock("k")
    storage.unlock("k")
    assert storage.try_lock("k")


def test_the_menu_cli_publishes_only_pages_that_exist(app, standin, client):
    """Issue 9, item 13: no top-up button until that page exists; the coupon wallet (issue 14) is in."""
    result = app.test_cli_runner().invoke(args=["wxcrm", "wechat-menu"])
    assert result.exit_code == 0, result.output
    [call] = standin.calls("/cgi-bin/menu/create")
    buttons = call["body"]["button"]
    flat = buttons[:2] + buttons[2]["sub_button"]
    assert {b["name"] for b in flat} == {"会员卡", "我的积分", "我的优惠券", "积分兑换", "个人资料", "会员卡号"}
    assert "储值充值" not in {b["name"] for b in flat}
    for button in flat:                 # every page the menu opens answers (after WeChat sign-in)
        if button["type"] == "view":
            path = button["url"].split("localhost", 1)[1]
            assert client.get(path).status_code in (200, 302), path


def test_a_menu_breaking_wechats_limits_is_refused():
    menu = default_menu("http://localhost")
    check_menu(menu)
    with pytest.raises(DomainError):
        check_menu({"button": menu["button"] * 2})
    with pytest.raises(DomainError):
        check_menu({"button": [{"type": "click", "name": "一个非常非常长的按钮名字", "key": "K"}]})
    with pytest.raises(DomainError):
        check_menu({"button": [{"type": "view", "name": "卡"}]})


def test_the_outbox_drain_cli_runs_one_pass(app, standin):
    result = app.test_cli_runner().invoke(args=["wxcrm", "outbox-drain"])
    assert result.exit_code == 0 and "claimed 0" in result.output


# ---------------------------------------------------------------- JS-SDK

def test_a_customer_page_gets_a_jssdk_config_signed_for_its_url(app, client, standin):
    with client.session_transaction() as s:
        s["openid"] = "o-js"
    url = "http://localhost/h5/points"
    cfg = client.get("/wechat/jssdk", query_string={"url": url}).get_json()
    ticket = standin.calls("/cgi-bin/ticket/getticket")
    assert len(ticket) == 1
    from wxcrm.wechat.adapter.client import DatabaseStorage as S
    stored = S(db.engine).get(f"{app.config['WXCRM_WECHAT_APP_ID']}_jsapi_ticket")
    plain = f"jsapi_ticket={stored}&noncestr={cfg['nonceStr']}&timestamp={cfg['timestamp']}&url={url}"
    assert cfg["signature"] == hashlib.sha1(plain.encode()).hexdigest()
    assert cfg["appId"] == app.config["WXCRM_WECHAT_APP_ID"] and "scanQRCode" in cfg["jsApiList"]
    client.get("/wechat/jssdk", query_string={"url": url})
    assert len(standin.calls("/cgi-bin/ticket/getticket")) == 1  # the ticket is shared, not refetched


def test_jssdk_signs_only_our_pages_and_only_for_wechat_visitors(client, standin):
    assert client.get("/wechat/jssdk", query_string={"url": "http://localhost/h5/"}).status_code == 403
    with client.session_transaction() as s:
        s["openid"] = "o-js"
    assert client.get("/wechat/jssdk", query_string={"url": "https://evil.example/h5/"}).status_code == 400


# ---------------------------------------------------------------- Pay

PAY_KEY = "standin-pay-key-32-characters-xx"


def standin_settings():
    return settings_for(current_app).replace(wechat_app_id="wx_demo_appid", wechat_mch_id="1900000109",
                                             wechat_pay_api_key=PAY_KEY)


def notify(**overrides) -> bytes:
    fields = {"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": "wx_demo_appid", "mch_id": "1900000109",
              "nonce_str": "abc", "openid": "o-pay", "total_fee": "10000", "out_trade_no": "T1",
              "transaction_id": "4200001", "time_end": "20260310120000"}
    key = overrides.pop("_key", PAY_KEY)
    fields.update(overrides)
    return dict_to_xml(fields, calculate_signature(fields, key)).encode()


def test_a_genuine_pay_notice_for_our_order_is_accepted():
    notice = verify_payment_notice(notify(), standin_settings(), lambda no: 10000 if no == "T1" else None)
    assert (notice.out_trade_no, notice.total_fee, notice.paid, notice.openid) == ("T1", 10000, True, "o-pay")


@pytest.mark.parametrize("body, why", [
    (notify(_key="someone-elses-key"), "bad signature"),
    (notify(appid="wx_other"), "appid"),
    (notify(mch_id="1900000999"), "mch_id"),
    (notify(total_fee="1"), "total_fee"),
    (notify(out_trade_no="T-unknown"), "no order"),
    (b"<!DOCTYPE x [<!ENTITY e 'x'>]><xml><a>&e;</a></xml>", "forbidden"),
])
def test_a_pay_notice_that_is_not_ours_or_not_our_amount_is_rejected(body, why):
    with pytest.raises(PayNoticeRejected) as err:
        verify_payment_notice(body, standin_settings(), lambda no: 10000 if no == "T1" else None)
    assert why in err.value.reason


def test_a_tampered_amount_with_the_old_signature_is_rejected():
    genuine = notify().decode()
    forged = genuine.replace("<total_fee>10000</total_fee>", "<total_fee>1</total_fee>")
    with pytest.raises(PayNoticeRejected, match="bad signature"):
        verify_payment_notice(forged.encode(), standin_settings(), lambda no: 1)


def test_the_pay_client_orders_queries_and_refunds_with_the_merchant_certificate(app, standin, standin_pay,
                                                                                  monkeypatch):
    # on this machine REQUESTS_CA_BUNDLE names the system's CAs; the stand-in's CA must still be used
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    standin.follow("o-pay")   # JSAPI needs an openid the account knows
    pay = wechat_pay(settings_for(app))
    order = pay.order.create(trade_type="JSAPI", body="储值充值", total_fee=10000, notify_url="http://127.0.0.1:9/pay",
                             user_id="o-pay", out_trade_no="TOPUP-100")
    assert order["prepay_id"].startswith("wx")
    assert pay.order.query(out_trade_no="TOPUP-100")["trade_state"] == "NOTPAY"
    assert requests.post(f"{standin.url}/standin/pay-notify", json={"out_trade_no": "TOPUP-100"}).ok  # the user pays
    refund = pay.refund.apply(total_fee=10000, refund_fee=10000, out_refund_no="R-1", out_trade_no="TOPUP-100")
    assert refund["result_code"] == "SUCCESS" and refund["refund_id"]
    assert [c["path"] for c in standin.calls("/mch/secapi")] == ["/mch/secapi/pay/refund"]


def test_a_refund_without_the_merchant_certificate_is_refused(app, standin, standin_pay, configure):
    standin.follow("o-pay")
    configure(WECHAT_PAY_CERT_PATH="", WECHAT_PAY_KEY_PATH="")
    pay = wechat_pay(settings_for(app))
    pay.order.create(trade_type="JSAPI", body="储值充值", total_fee=500, notify_url="http://127.0.0.1:9/pay",
                     user_id="o-pay", out_trade_no="TOPUP-101")
    requests.post(f"{standin.url}/standin/pay-notify", json={"out_trade_no": "TOPUP-101"})
    with pytest.raises(WeChatPayException) as err:
        pay.refund.apply(total_fee=500, refund_fee=500, out_refund_no="R-2", out_trade_no="TOPUP-101")
    assert err.value.errcode == "CERT_ERROR"


def test_production_mode_can_ask_what_is_wrong_with_pay_and_messaging(app, settings, standin_pay):
    from wxcrm.messages.checks import messaging_and_pay_problems
    assert messaging_and_pay_problems(settings.replace(wechat_mch_id="")) == []
    pay_on = settings.replace(wechat_mch_id="1900000109", wechat_pay_api_key="k" * 32, wechat_pay_cert_path="",
                              wechat_pay_key_path="/nowhere/apiclient_key.pem", sms_provider="standin")
    problems = messaging_and_pay_problems(pay_on)
    assert any(p.startswith("WXCRM_WECHAT_PAY_CERT_PATH: not set") for p in problems)
    assert any(p.startswith("WXCRM_WECHAT_PAY_KEY_PATH: cannot read /nowhere") for p in problems)
    assert any(p.startswith("WXCRM_SMS_PROVIDER") for p in problems) and len(problems) == 3
    assert messaging_and_pay_problems(settings_for(app).replace(wechat_pay_api_key="k" * 32), production=False) == []


def test_the_menu_brings_back_the_top_up_when_wechat_pay_is_on(app, standin, client, configure):
    """Issue 13, item 10: 储值充值 comes back with the page it opens."""
    configure(WECHAT_PAY_ENABLED=True)
    result = app.test_cli_runner().invoke(args=["wxcrm", "wechat-menu"])
    assert result.exit_code == 0, result.output
    [call] = standin.calls("/cgi-bin/menu/create")
    [topup] = [b for b in call["body"]["button"][2]["sub_button"] if b["name"] == "储值充值"]
    assert client.get(topup["url"].split("localhost", 1)[1]).status_code in (200, 302)
