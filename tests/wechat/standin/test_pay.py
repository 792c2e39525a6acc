"""WeChat Pay v2 against the stand-in: signatures (MD5 and HMAC-SHA256), required and
well-formed parameters, order re-entry, refunds over TLS with the merchant certificate,
and the pay notify retried on WeChat's schedule."""
from __future__ import annotations

import time

import pytest
import requests
import xmltodict
from wechatpy.exceptions import WeChatPayException
from wechatpy.pay import WeChatPay
from wechatpy.pay.utils import calculate_signature, calculate_signature_hmac, dict_to_xml

from tests.wechat.standin.conftest import APPID, MCH_ID, PAY_KEY, Routed
from wxcrm.wechat.standin.pay import NOTIFY_SCHEDULE
from wxcrm.wechat.standin.rules import RULE_BY_ID
from wxcrm.wechat.standin.tls import StandinCA

NOTIFY = "http://localhost/wechat/pay/notify"


def signature_matches(fields: dict) -> bool:
    """Signed with the merchant's key, as its sign_type says."""
    data = {k: v for k, v in fields.items() if k != "sign"}
    expected = (calculate_signature_hmac if fields.get("sign_type") == "HMAC-SHA256" else calculate_signature)(
        data, PAY_KEY)
    return fields.get("sign") == expected


def pay_client(base: str, cert: tuple[str, str] | None = None, ca: str | None = None) -> WeChatPay:
    pay = WeChatPay(APPID, PAY_KEY, MCH_ID, mch_cert=cert[0] if cert else None, mch_key=cert[1] if cert else None)
    pay._http = Routed(base)
    if ca:
        pay._http.verify = ca
        pay._http.trust_env = False   # else REQUESTS_CA_BUNDLE from the environment overrides verify
    return pay


def order_fields(**overrides) -> dict:
    fields = {"appid": APPID, "mch_id": MCH_ID, "nonce_str": "n0nce", "body": "储值充值", "out_trade_no": "TOPUP-0001",
              "total_fee": "10000", "spbill_create_ip": "127.0.0.1", "notify_url": NOTIFY, "trade_type": "JSAPI",
              "openid": "o-payer"}
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def post_raw(base: str, path: str, fields: dict, *, key: str = PAY_KEY, sign_type: str = "MD5") -> dict:
    if sign_type == "HMAC-SHA256":
        fields = {**fields, "sign_type": sign_type}
        sign = calculate_signature_hmac(fields, key)
    else:
        sign = calculate_signature(fields, key)
    res = requests.post(f"{base}/mch/{path}", data=dict_to_xml(fields, sign).encode(),
                        headers={"Content-Type": "text/xml"})
    return dict(xmltodict.parse(res.text)["xml"])


def assert_pay_refused(answer, rule_id: str, **detail) -> None:
    rule = RULE_BY_ID[rule_id]
    message = rule.message.format(**detail) if detail else rule.message
    if isinstance(answer, WeChatPayException):
        answer = {"return_code": answer.return_code, "return_msg": answer.return_msg,
                  "result_code": answer.result_code, "err_code": answer.errcode, "err_code_des": answer.errmsg}
    if rule.kind == "pay-return":
        assert (answer.get("return_code"), answer.get("return_msg")) == ("FAIL", message), answer
    else:
        assert (answer.get("result_code"), answer.get("err_code"), answer.get("err_code_des")) == \
               ("FAIL", rule.code, message), answer


@pytest.fixture
def payer(wx):
    wx.follow("o-payer")
    return "o-payer"


def pay(wx, out_trade_no: str, notify_url: str | None = None) -> dict:
    res = wx.control("pay-notify", {"out_trade_no": out_trade_no, **({"notify_url": notify_url} if notify_url else {})})
    assert res.ok, res.text
    return res.json()


# ---------------------------------------------------------------- signatures and the merchant

@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
def test_both_sign_types_are_verified_and_the_answer_is_signed_alike(standin, payer, sign_type):
    answer = post_raw(standin.url, "pay/unifiedorder", order_fields(), sign_type=sign_type)
    assert answer["result_code"] == "SUCCESS" and answer["prepay_id"].startswith("wx")
    assert answer.get("sign_type", "MD5") == sign_type and signature_matches(answer)


@pytest.mark.parametrize("change, rule", [
    ({"_key": "someone-elses-key-000000000000000"}, "pay.sign"),
    ({"mch_id": "1900000999"}, "pay.mch_id"),
    ({"appid": "not-an-appid"}, "pay.appid_exist"),
    ({"appid": "wx0000000000000001"}, "pay.appid_match"),
])
def test_a_request_not_from_this_merchant_and_app_is_refused(standin, payer, change, rule):
    key = change.pop("_key", PAY_KEY)
    assert_pay_refused(post_raw(standin.url, "pay/unifiedorder", order_fields(**change), key=key), rule)


def test_a_body_that_is_not_the_xml_of_a_request_is_refused(standin):
    res = requests.post(f"{standin.url}/mch/pay/unifiedorder", data=b"{\"total_fee\": 1}")
    assert_pay_refused(dict(xmltodict.parse(res.text)["xml"]), "pay.xml")


# ---------------------------------------------------------------- unified order

@pytest.mark.parametrize("change, rule, detail", [
    ({"body": None}, "pay.lack", {"name": "body"}),
    ({"notify_url": None}, "pay.lack", {"name": "notify_url"}),
    ({"out_trade_no": "T-100"}, "pay.param", {"detail": "商户订单号out_trade_no格式错误(6-32位数字、字母、_-|*)"}),
    ({"out_trade_no": "TOPUP#0001"}, "pay.param", {"detail": "商户订单号out_trade_no格式错误(6-32位数字、字母、_-|*)"}),
    ({"total_fee": "0"}, "pay.param", {"detail": "total_fee必须为正整数(分)"}),
    ({"total_fee": "99.5"}, "pay.param", {"detail": "total_fee必须为正整数(分)"}),
    ({"spbill_create_ip": "localhost"}, "pay.param", {"detail": "spbill_create_ip格式错误"}),
    ({"notify_url": NOTIFY + "?order=1"}, "pay.param", {"detail": "notify_url必须是http(s)地址且不能携带参数"}),
    ({"trade_type": "H5"}, "pay.param", {"detail": "trade_type参数错误"}),
    ({"openid": None}, "pay.openid", {}),
    ({"openid": "o-from-another-app"}, "pay.openid_appid", {}),
    ({"trade_type": "NATIVE", "openid": None}, "pay.param", {"detail": "trade_type=NATIVE时，product_id必传"}),
    ({"time_expire": time.strftime("%Y%m%d%H%M%S", time.localtime(time.time() + 8 * 3600 + 120))},
     "pay.time_expire", {}),
])
def test_an_order_wechat_would_not_take_is_refused(standin, payer, change, rule, detail):
    assert_pay_refused(post_raw(standin.url, "pay/unifiedorder", order_fields(**change)), rule, **detail)


def test_an_order_re_sent_is_the_same_order_unless_it_changed_or_was_paid(wx, standin, payer):
    pay_api = pay_client(standin.url)
    first = pay_api.order.create("JSAPI", "储值充值", 10000, NOTIFY, client_ip="127.0.0.1", user_id=payer,
                                 out_trade_no="TOPUP-0002")
    again = pay_api.order.create("JSAPI", "储值充值", 10000, NOTIFY, client_ip="127.0.0.1", user_id=payer,
                                 out_trade_no="TOPUP-0002")
    assert again["prepay_id"] == first["prepay_id"]
    with pytest.raises(WeChatPayException) as err:
        pay_api.order.create("JSAPI", "储值充值", 20000, NOTIFY, client_ip="127.0.0.1", user_id=payer,
                             out_trade_no="TOPUP-0002")
    assert_pay_refused(err.value, "pay.reused")
    pay(wx, "TOPUP-0002", "http://127.0.0.1:9/nobody")
    with pytest.raises(WeChatPayException) as err:
        pay_api.order.create("JSAPI", "储值充值", 10000, NOTIFY, client_ip="127.0.0.1", user_id=payer,
                             out_trade_no="TOPUP-0002")
    assert_pay_refused(err.value, "pay.paid")


def test_orders_are_queried_closed_and_expire_after_two_hours(wx, standin, payer):
    pay_api = pay_client(standin.url)
    with pytest.raises(WeChatPayException) as err:
        pay_api.order.query(out_trade_no="TOPUP-9999")
    assert_pay_refused(err.value, "pay.no_order")
    for no in ("TOPUP-0003", "TOPUP-0004", "TOPUP-0005"):
        post_raw(standin.url, "pay/unifiedorder", order_fields(out_trade_no=no))
    assert pay_api.order.query(out_trade_no="TOPUP-0003")["trade_state"] == "NOTPAY"
    pay_api.order.close("TOPUP-0003")
    with pytest.raises(WeChatPayException) as err:
        pay_api.order.close("TOPUP-0003")
    assert_pay_refused(err.value, "pay.closed")
    assert_pay_refused(post_raw(standin.url, "pay/unifiedorder", order_fields(out_trade_no="TOPUP-0003")),
                       "pay.closed")
    paid = pay(wx, "TOPUP-0004", "http://127.0.0.1:9/nobody")
    query = pay_api.order.query(out_trade_no="TOPUP-0004")
    assert query["trade_state"] == "SUCCESS" and query["transaction_id"] == paid["transaction_id"]
    with pytest.raises(WeChatPayException) as err:
        pay_api.order.close("TOPUP-0004")
    assert_pay_refused(err.value, "pay.paid")
    wx.advance(2 * 3600)
    assert pay_api.order.query(out_trade_no="TOPUP-0005")["trade_state"] == "CLOSED"
    assert wx.control("pay-notify", {"out_trade_no": "TOPUP-0005"}).status_code == 409


# ---------------------------------------------------------------- refunds and the certificate

@pytest.fixture
def paid_order(wx, standin, payer):
    post_raw(standin.url, "pay/unifiedorder", order_fields(out_trade_no="TOPUP-0100"))
    pay(wx, "TOPUP-0100", "http://127.0.0.1:9/nobody")
    return "TOPUP-0100"


def refund(pay_api: WeChatPay, total: int = 10000, fee: int = 3000, no: str = "RF-1", order: str = "TOPUP-0100"):
    try:
        return pay_api.refund.apply(total_fee=total, refund_fee=fee, out_refund_no=no, out_trade_no=order)
    except WeChatPayException as exc:
        return exc


def test_a_refund_needs_the_merchant_certificate_over_tls(wx, standin, standin_tls, paid_order, tmp_path):
    ca = wx.run.ca
    cert = (ca.client_cert_path, ca.client_key_path)
    assert_pay_refused(refund(pay_client(standin.url, cert)), "pay.cert_missing")      # plain HTTP carries none
    assert_pay_refused(refund(pay_client(standin_tls.url, ca=ca.ca_path)), "pay.cert_missing")
    other = ca.issue("1900000999", "other_cert.pem", "other_key.pem")
    assert_pay_refused(refund(pay_client(standin_tls.url, other, ca.ca_path)), "pay.cert_other")
    stranger = StandinCA.load_or_create(str(tmp_path / "elsewhere"), MCH_ID)
    with pytest.raises(requests.exceptions.SSLError):
        refund(pay_client(standin_tls.url, (stranger.client_cert_path, stranger.client_key_path), ca.ca_path))
    done = refund(pay_client(standin_tls.url, cert, ca.ca_path))
    assert done["result_code"] == "SUCCESS" and done["refund_fee"] == "3000" and done["refund_id"]


def test_refunds_follow_wechats_rules(wx, standin, standin_tls, payer, paid_order):
    ca = wx.run.ca
    pay_api = pay_client(standin_tls.url, (ca.client_cert_path, ca.client_key_path), ca.ca_path)
    post_raw(standin.url, "pay/unifiedorder", order_fields(out_trade_no="TOPUP-0101"))
    assert_pay_refused(refund(pay_api, order="TOPUP-0101"), "pay.no_order")          # not paid
    assert_pay_refused(refund(pay_api, total=9000), "pay.refund_total")
    assert_pay_refused(refund(pay_api, fee=10001), "pay.refund_fee")
    first = refund(pay_api, fee=6000, no="RF-1")
    assert refund(pay_api, fee=6000, no="RF-1")["refund_id"] == first["refund_id"]   # once per out_refund_no
    assert_pay_refused(refund(pay_api, fee=5000, no="RF-1"), "pay.refund_mismatch")
    assert_pay_refused(refund(pay_api, fee=1000, no="RF-2"), "pay.refund_interval")
    wx.advance(60)
    assert_pay_refused(refund(pay_api, fee=5000, no="RF-2"), "pay.refund_over")
    assert refund(pay_api, fee=4000, no="RF-2")["result_code"] == "SUCCESS"
    listed = pay_client(standin.url).refund.query(out_trade_no=paid_order)
    assert listed["refund_count"] == "2" and {listed["refund_fee_0"], listed["refund_fee_1"]} == {"6000", "4000"}
    assert pay_client(standin.url).order.query(out_trade_no=paid_order)["trade_state"] == "REFUND"
    with pytest.raises(WeChatPayException) as err:
        pay_client(standin.url).refund.query(out_refund_no="RF-404")
    assert_pay_refused(err.value, "pay.refund_none")


def test_an_order_is_refunded_in_at_most_50_parts(wx, standin_tls, paid_order):
    ca = wx.run.ca
    pay_api = pay_client(standin_tls.url, (ca.client_cert_path, ca.client_key_path), ca.ca_path)
    for n in range(50):
        assert refund(pay_api, fee=1, no=f"RF-{n}")["result_code"] == "SUCCESS"
        wx.advance(60)
    assert_pay_refused(refund(pay_api, fee=1, no="RF-50"), "pay.refund_count")


# ---------------------------------------------------------------- the pay notify

def wait_for(condition, seconds: float = 3.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_notify_is_retried_on_wechats_schedule_until_success(wx, standin, payer, notify_target):
    post_raw(standin.url, "pay/unifiedorder", order_fields(out_trade_no="TOPUP-0200"), sign_type="HMAC-SHA256")
    notify_target.answers[:] = ["FAIL", "FAIL"]
    first = pay(wx, "TOPUP-0200", notify_target.url)
    assert first["ok"] is False
    wx.advance(15)
    wait_for(lambda: len(notify_target.bodies) == 2)
    wx.advance(15)
    wait_for(lambda: len(notify_target.bodies) == 3)
    # the stand-in records an attempt when the answer is back, after the target has the body
    wait_for(lambda: wx.control("pay-notifications", method="GET").json()[0]["done"])
    [delivery] = wx.control("pay-notifications", method="GET").json()
    assert delivery["done"] and [a["ok"] for a in delivery["attempts"]] == [False, False, True]
    notice = dict(xmltodict.parse(notify_target.bodies[-1])["xml"])
    assert signature_matches(notice) and notice["sign_type"] == "HMAC-SHA256"
    assert (notice["appid"], notice["mch_id"], notice["out_trade_no"], notice["total_fee"], notice["openid"],
            notice["result_code"]) == (APPID, MCH_ID, "TOPUP-0200", "10000", payer, "SUCCESS")
    assert not wx.control("pay-notifications/flush").json()


def test_an_unanswered_notify_is_tried_16_times_over_24_hours_then_given_up(wx, standin, payer, notify_target):
    post_raw(standin.url, "pay/unifiedorder", order_fields(out_trade_no="TOPUP-0201"))
    notify_target.answers[:] = ["FAIL"] * 20
    pay(wx, "TOPUP-0201", notify_target.url)
    gaps = []
    for _ in NOTIFY_SCHEDULE:
        [delivery] = wx.control("pay-notifications", method="GET").json()
        gaps.append(round(delivery["next_at"] - delivery["attempts"][-1]["at"]))
        assert len(wx.control("pay-notifications/flush").json()) == 1
    [delivery] = wx.control("pay-notifications", method="GET").json()
    assert tuple(gaps) == NOTIFY_SCHEDULE and len(delivery["attempts"]) == 16 and delivery["done"]
    assert len(notify_target.bodies) == 16


def test_a_payment_opens_a_48_hour_customer_service_window(wx, standin, wxapi, payer):
    post_raw(standin.url, "pay/unifiedorder", order_fields(out_trade_no="TOPUP-0300"))
    pay(wx, "TOPUP-0300", "http://127.0.0.1:9/nobody")
    for _ in range(8):
        wxapi.message.send_text(payer, "充值已到账")


# ---------------------------------------------------------------- JSAPI: the payment page

def jsapi_params(pay_client_, prepay_id: str, **overrides) -> dict:
    params = pay_client_.jsapi.get_jsapi_params(prepay_id)
    params.update(overrides)
    return params


def open_pay_page(wx, params: dict) -> str:
    import json
    res = requests.get(f"{wx.url}/standin/pay/jsapi", params={"params": json.dumps(params)})
    assert res.status_code == 200
    return res.text


def test_the_payment_page_checks_what_getbrandwcpayrequest_sends(wx, payer):
    client = pay_client(wx.url)
    order = client.order.create(trade_type="JSAPI", body="储值充值", total_fee=10000, notify_url=NOTIFY,
                                user_id=payer, out_trade_no="TOPUP-JSAPI-1")
    good = jsapi_params(client, order["prepay_id"])
    page = open_pay_page(wx, good)
    assert "¥100.00" in page and "standin-pay-confirm" in page
    forged = jsapi_params(client, order["prepay_id"], paySign="0" * 32)
    assert RULE_BY_ID["pay.jsapi_sign"].message in open_pay_page(wx, forged)
    other_app = {**good, "appId": "wx_other"}
    assert RULE_BY_ID["pay.jsapi_appid"].message in open_pay_page(wx, other_app)
    unknown = jsapi_params(client, "wx0000unknown")
    assert RULE_BY_ID["pay.jsapi_package"].message in open_pay_page(wx, unknown)


def test_paying_on_the_page_pays_the_order_and_notifies(wx, payer):
    client = pay_client(wx.url)
    order = client.order.create(trade_type="JSAPI", body="储值充值", total_fee=500, notify_url="http://127.0.0.1:9/n",
                                user_id=payer, out_trade_no="TOPUP-JSAPI-2")
    res = requests.post(f"{wx.url}/standin/pay/confirm", json={"prepay_id": order["prepay_id"]}).json()
    assert res["ok"] is True
    assert client.order.query(out_trade_no="TOPUP-JSAPI-2")["trade_state"] == "SUCCESS"
    again = requests.post(f"{wx.url}/standin/pay/confirm", json={"prepay_id": order["prepay_id"]}).json()
    assert again["ok"] is False                      # a paid order is not paid twice
    assert "WeixinJSBridge" in requests.get(f"{wx.url}/standin/jsbridge.js").text
