"""WeChat Pay API v2: unified order, order query, close, refund (client certificate
required), refund query; and the pay notify, retried on WeChat's schedule until the
merchant answers SUCCESS.

Requests are verified with MD5 or HMAC-SHA256 as their ``sign_type`` says, and answers
are signed the same way. A refusal is either a ``return_code`` FAIL (the request itself
is unusable: XML, merchant, signature, appid) or a ``result_code`` FAIL with WeChat's
``err_code``.
"""
from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime

import requests
import xmltodict
from flask import Blueprint, Response, g, jsonify, request
from wechatpy.pay.utils import calculate_signature, calculate_signature_hmac, dict_to_xml

from wxcrm.wechat.standin.clock import BEIJING
from wxcrm.wechat.standin.rules import Refusal, refuse
from wxcrm.wechat.standin.runtime import Runtime, rt
from wxcrm.wechat.standin.tls import common_name

bp = Blueprint("standin_pay", __name__)

SIGN_TYPES = ("MD5", "HMAC-SHA256")
TRADE_TYPES = ("JSAPI", "NATIVE", "APP", "MWEB")
OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")
OUT_REFUND_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")
ORDER_SECONDS = 2 * 3600          # an order without time_expire closes after two hours
MIN_EXPIRE_SECONDS = 300
MAX_PARTIAL_REFUNDS = 50
REFUND_INTERVAL = 60
# WeChat's notify retries: 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h
NOTIFY_SCHEDULE = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)
# what a re-sent unified order may change without being another order
VOLATILE = {"nonce_str", "sign", "sign_type", "time_start", "time_expire", "spbill_create_ip"}


def sign(fields: dict, api_key: str, sign_type: str) -> str:
    clean = {k: v for k, v in fields.items() if k != "sign"}
    if sign_type == "HMAC-SHA256":
        return calculate_signature_hmac(clean, api_key)
    return calculate_signature(clean, api_key)


def _xml(text: str) -> Response:
    return Response(text, mimetype="text/xml")


def answer(fields: dict) -> Response:
    """A SUCCESS-level answer, signed like the request was."""
    run = rt()
    sign_type = getattr(g, "pay_sign_type", "MD5")
    fields = {"return_code": "SUCCESS", "return_msg": "OK", "appid": run.cfg.appid, "mch_id": run.cfg.mch_id,
              "nonce_str": secrets.token_hex(16), **{k: str(v) for k, v in fields.items()}}
    if sign_type == "HMAC-SHA256":
        fields["sign_type"] = sign_type
    return _xml(dict_to_xml(fields, sign(fields, run.cfg.pay_api_key, sign_type)))


def refusal_answer(refusal: Refusal) -> Response:
    if refusal.rule.kind == "pay-return":
        return _xml(dict_to_xml({"return_code": "FAIL", "return_msg": refusal.message}))
    return answer({"result_code": "FAIL", "err_code": refusal.rule.code, "err_code_des": refusal.message})


def read_request() -> dict:
    """The request's fields, verified: merchant, signature, appid."""
    run = rt()
    try:
        parsed = xmltodict.parse(request.get_data(as_text=True) or "<x/>").get("xml")
    except Exception:  # noqa: BLE001 - expat raises several kinds
        parsed = None
    if not isinstance(parsed, dict) or any(isinstance(v, (dict, list)) for v in parsed.values()):
        raise refuse("pay.xml")
    data = {k: (v or "") for k, v in parsed.items()}
    if not data.get("mch_id") or data["mch_id"] != run.cfg.mch_id:
        raise refuse("pay.mch_id")
    sign_type = data.get("sign_type") or "MD5"
    if sign_type not in SIGN_TYPES or not secrets.compare_digest(
            data.get("sign", ""), sign(data, run.cfg.pay_api_key, sign_type)):
        raise refuse("pay.sign")
    g.pay_sign_type = sign_type
    if data.get("appid") != run.cfg.appid:
        raise refuse("pay.appid_match" if str(data.get("appid", "")).startswith("wx") else "pay.appid_exist")
    _need(data, "nonce_str")
    return data


def _need(data: dict, *names: str) -> None:
    for name in names:
        if not data.get(name):
            raise refuse("pay.lack", name=name)


def _param(ok: bool, detail: str) -> None:
    if not ok:
        raise refuse("pay.param", detail=detail)


def _beijing(stamp: str) -> float | None:
    try:
        return datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING).timestamp()
    except ValueError:
        return None


def _valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def trade_state(order: dict, now: float) -> str:
    if order["state"] == "NOTPAY" and now >= order["expires_at"]:
        return "CLOSED"
    return order["state"]


# ---------------------------------------------------------------- unified order

def _check_order_params(run: Runtime, data: dict) -> float:
    """Refuse parameters WeChat would; the order's expiry."""
    _need(data, "body", "out_trade_no", "total_fee", "spbill_create_ip", "notify_url", "trade_type")
    _param(bool(OUT_TRADE_NO.match(data["out_trade_no"])), "商户订单号out_trade_no格式错误(6-32位数字、字母、_-|*)")
    _param(data["total_fee"].isdigit() and int(data["total_fee"]) > 0, "total_fee必须为正整数(分)")
    # String(128): WeChat counts UTF-8 bytes (a Chinese character is 3 of them).
    _param(len(data["body"].encode("utf-8")) <= 127, "body长度超过127")
    _param(_valid_ip(data["spbill_create_ip"]), "spbill_create_ip格式错误")
    url = data["notify_url"]
    _param(url.startswith(("http://", "https://")) and "?" not in url and len(url) <= 256,
           "notify_url必须是http(s)地址且不能携带参数")
    _param(data["trade_type"] in TRADE_TYPES, "trade_type参数错误")
    if data["trade_type"] == "JSAPI":
        if not data.get("openid"):
            raise refuse("pay.openid")
        if run.state.user(data["openid"]) is None:
            raise refuse("pay.openid_appid")
    if data["trade_type"] == "NATIVE":
        _param(bool(data.get("product_id")), "trade_type=NATIVE时，product_id必传")
    now = run.now()
    expires_at = now + ORDER_SECONDS
    if data.get("time_expire"):
        expires_at = _beijing(data["time_expire"])
        _param(expires_at is not None, "time_expire格式错误(yyyyMMddHHmmss)")
        if expires_at - now < MIN_EXPIRE_SECONDS:
            raise refuse("pay.time_expire")
    return expires_at


def _same_order(order: dict, data: dict) -> bool:
    def stable(fields: dict) -> dict:
        return {k: v for k, v in fields.items() if k not in VOLATILE and v}
    return stable(order["params"]) == stable(data)


def _order_answer(order: dict) -> Response:
    fields = {"result_code": "SUCCESS", "trade_type": order["trade_type"], "prepay_id": order["prepay_id"]}
    if order["trade_type"] == "NATIVE":
        fields["code_url"] = "weixin://wxpay/bizpayurl?pr=" + order["prepay_id"][-8:]
    return answer(fields)


@bp.post("/mch/pay/unifiedorder")
def unified_order():
    data = read_request()
    run = rt()
    expires_at = _check_order_params(run, data)
    now = run.now()
    with run.state.lock:
        order = run.state.orders.get(data["out_trade_no"])
        if order is not None:
            current = trade_state(order, now)
            if current in ("SUCCESS", "REFUND"):
                raise refuse("pay.paid")
            if current == "CLOSED":
                raise refuse("pay.closed")
            if not _same_order(order, data):
                raise refuse("pay.reused")
            return _order_answer(order)
        order = run.state.orders[data["out_trade_no"]] = {
            "params": dict(data), "out_trade_no": data["out_trade_no"], "total_fee": int(data["total_fee"]),
            "openid": data.get("openid", ""), "trade_type": data["trade_type"], "notify_url": data["notify_url"],
            "attach": data.get("attach", ""), "sign_type": g.pay_sign_type,
            "prepay_id": "wx" + datetime.fromtimestamp(now, BEIJING).strftime("%d%H%M%S") + secrets.token_hex(12),
            "created_at": now, "expires_at": expires_at, "state": "NOTPAY", "transaction_id": "", "time_end": "",
            "refunded": 0, "last_refund_at": None}
    return _order_answer(order)


# ---------------------------------------------------------------- query and close

def _find_order(run: Runtime, data: dict) -> dict:
    if not (data.get("out_trade_no") or data.get("transaction_id")):
        raise refuse("pay.lack", name="out_trade_no")
    with run.state.lock:
        if data.get("transaction_id"):
            found = next((o for o in run.state.orders.values()
                          if o["transaction_id"] and o["transaction_id"] == data["transaction_id"]), None)
        else:
            found = run.state.orders.get(data["out_trade_no"])
    if found is None:
        raise refuse("pay.no_order")
    return found


STATE_DESC = {"NOTPAY": "订单未支付", "SUCCESS": "支付成功", "REFUND": "转入退款", "CLOSED": "订单已关闭"}


@bp.post("/mch/pay/orderquery")
def order_query():
    data = read_request()
    run = rt()
    order = _find_order(run, data)
    state = trade_state(order, run.now())
    fields = {"result_code": "SUCCESS", "out_trade_no": order["out_trade_no"], "trade_state": state,
              "trade_state_desc": STATE_DESC[state], "total_fee": order["total_fee"], "attach": order["attach"]}
    if order["transaction_id"]:
        fields.update(transaction_id=order["transaction_id"], openid=order["openid"], trade_type=order["trade_type"],
                      bank_type="OTHERS", cash_fee=order["total_fee"], fee_type="CNY", time_end=order["time_end"])
    return answer({k: v for k, v in fields.items() if v != ""})


@bp.post("/mch/pay/closeorder")
def close_order():
    data = read_request()
    run = rt()
    _need(data, "out_trade_no")
    order = _find_order(run, data)
    with run.state.lock:
        state = trade_state(order, run.now())
        if state in ("SUCCESS", "REFUND"):
            raise refuse("pay.paid")
        if order["state"] == "CLOSED":
            raise refuse("pay.closed")
        order["state"] = "CLOSED"
    return answer({"result_code": "SUCCESS"})


# ---------------------------------------------------------------- refunds

def check_client_certificate() -> None:
    """Refunds travel over TLS with the merchant's API certificate (apiclient_cert.pem).
    Plain HTTP can carry no certificate, so it is refused as WeChat refuses a call
    without one; a certificate our CA did not sign fails the TLS handshake itself."""
    environ = request.environ
    pem = environ.get("SSL_CLIENT_CERT") if environ.get("wsgi.url_scheme") == "https" else None
    if not pem:
        raise refuse("pay.cert_missing")
    if common_name(pem) != rt().cfg.mch_id:
        raise refuse("pay.cert_other")


def _refund_answer(order: dict, refund: dict) -> Response:
    return answer({"result_code": "SUCCESS", "transaction_id": order["transaction_id"],
                   "out_trade_no": order["out_trade_no"], "out_refund_no": refund["out_refund_no"],
                   "refund_id": refund["refund_id"], "refund_fee": refund["refund_fee"],
                   "settlement_refund_fee": refund["refund_fee"], "total_fee": order["total_fee"],
                   "cash_fee": order["total_fee"], "cash_refund_fee": refund["refund_fee"]})


@bp.post("/mch/secapi/pay/refund")
def refund():
    check_client_certificate()
    data = read_request()
    run = rt()
    _need(data, "out_refund_no", "total_fee", "refund_fee")
    order = _find_order(run, data)
    _param(bool(OUT_REFUND_NO.match(data["out_refund_no"])), "out_refund_no格式错误")
    now = run.now()
    with run.state.lock:
        if trade_state(order, now) not in ("SUCCESS", "REFUND"):
            raise refuse("pay.no_order")
        if not data["total_fee"].isdigit() or int(data["total_fee"]) != order["total_fee"]:
            raise refuse("pay.refund_total")
        fee = int(data["refund_fee"]) if data["refund_fee"].isdigit() else 0
        if not 0 < fee <= order["total_fee"]:
            raise refuse("pay.refund_fee")
        earlier = run.state.refunds.get(data["out_refund_no"])
        if earlier is not None:
            if earlier["out_trade_no"] != order["out_trade_no"] or earlier["refund_fee"] != fee:
                raise refuse("pay.refund_mismatch")
            return _refund_answer(order, earlier)
        mine = [r for r in run.state.refunds.values() if r["out_trade_no"] == order["out_trade_no"]]
        if len(mine) >= MAX_PARTIAL_REFUNDS:
            raise refuse("pay.refund_count")
        if order["refunded"] + fee > order["total_fee"]:
            raise refuse("pay.refund_over")
        if order["last_refund_at"] is not None and now - order["last_refund_at"] < REFUND_INTERVAL:
            raise refuse("pay.refund_interval")
        refund_row = run.state.refunds[data["out_refund_no"]] = {
            "out_refund_no": data["out_refund_no"], "out_trade_no": order["out_trade_no"],
            "refund_id": "50" + "".join(secrets.choice("0123456789") for _ in range(26)), "refund_fee": fee,
            "status": "SUCCESS", "at": now}
        order["refunded"] += fee
        order["state"], order["last_refund_at"] = "REFUND", now
    return _refund_answer(order, refund_row)


@bp.post("/mch/pay/refundquery")
def refund_query():
    data = read_request()
    run = rt()
    keys = ("out_refund_no", "refund_id", "out_trade_no", "transaction_id")
    if not any(data.get(k) for k in keys):
        raise refuse("pay.lack", name="out_refund_no")
    with run.state.lock:
        found = [r for r in run.state.refunds.values()
                 if (data.get("out_refund_no") and r["out_refund_no"] == data["out_refund_no"])
                 or (data.get("refund_id") and r["refund_id"] == data["refund_id"])
                 or (data.get("out_trade_no") and r["out_trade_no"] == data["out_trade_no"])
                 or (data.get("transaction_id")
                     and run.state.orders[r["out_trade_no"]]["transaction_id"] == data["transaction_id"])]
    if not found:
        raise refuse("pay.refund_none")
    order = run.state.orders[found[0]["out_trade_no"]]
    fields = {"result_code": "SUCCESS", "out_trade_no": order["out_trade_no"],
              "transaction_id": order["transaction_id"], "total_fee": order["total_fee"],
              "cash_fee": order["total_fee"], "refund_count": len(found)}
    for n, r in enumerate(found):
        fields.update({f"out_refund_no_{n}": r["out_refund_no"], f"refund_id_{n}": r["refund_id"],
                       f"refund_fee_{n}": r["refund_fee"], f"refund_status_{n}": r["status"],
                       f"refund_success_time_{n}": datetime.fromtimestamp(r["at"], BEIJING)
                       .strftime("%Y-%m-%d %H:%M:%S"), f"refund_recv_accout_{n}": "支付用户的零钱"})
    return answer(fields)


# ---------------------------------------------------------------- the pay notify

@dataclass
class Delivery:
    """One paid order's notify: every attempt, until SUCCESS or the schedule runs out."""
    out_trade_no: str
    url: str
    body: str
    attempts: list = field(default_factory=list)
    done: bool = False
    cancelled: bool = False
    next_at: float | None = None

    def as_dict(self) -> dict:
        return {"out_trade_no": self.out_trade_no, "url": self.url, "done": self.done, "next_at": self.next_at,
                "attempts": self.attempts}


def _answered_success(text: str) -> bool:
    try:
        data = xmltodict.parse(text).get("xml") or {}
    except Exception:  # noqa: BLE001 - anything but the expected XML is a failure
        return False
    return isinstance(data, dict) and data.get("return_code") == "SUCCESS"


def attempt(run: Runtime, delivery: Delivery) -> dict | None:
    """POST the notify once; schedule the next try on WeChat's schedule if it failed."""
    if delivery.done or delivery.cancelled:
        return None
    try:
        res = requests.post(delivery.url, data=delivery.body.encode(), headers={"Content-Type": "text/xml"},
                            timeout=5)
        status, text = res.status_code, res.text
    except requests.RequestException as exc:
        status, text = 0, f"{type(exc).__name__}: {exc}"
    ok = status == 200 and _answered_success(text)
    with run.state.lock:
        record = {"n": len(delivery.attempts) + 1, "at": run.now(), "status": status, "body": text[:300], "ok": ok}
        delivery.attempts.append(record)
        retries_left = len(delivery.attempts) <= len(NOTIFY_SCHEDULE)
        delivery.done = ok or not retries_left
        delivery.next_at = None
        if not delivery.done and not delivery.cancelled:
            delay = NOTIFY_SCHEDULE[len(delivery.attempts) - 1] / max(run.cfg.notify_speedup, 1e-9)
            delivery.next_at = run.now() + delay
            run.scheduler.add(delay, "pay-notify", f"notify {delivery.out_trade_no} #{record['n'] + 1}",
                              lambda: attempt(run, delivery))
    return record


def notify_body(run: Runtime, order: dict) -> str:
    user = run.state.user(order["openid"]) if order["openid"] else None
    fields = {"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": run.cfg.appid, "mch_id": run.cfg.mch_id,
              "nonce_str": secrets.token_hex(16), "openid": order["openid"],
              "is_subscribe": "Y" if user and user.subscribed else "N", "trade_type": order["trade_type"],
              "bank_type": "OTHERS", "total_fee": str(order["total_fee"]), "cash_fee": str(order["total_fee"]),
              "fee_type": "CNY", "transaction_id": order["transaction_id"], "out_trade_no": order["out_trade_no"],
              "time_end": order["time_end"], "attach": order["attach"]}
    fields = {k: v for k, v in fields.items() if v != ""}
    if order["sign_type"] == "HMAC-SHA256":
        fields["sign_type"] = "HMAC-SHA256"
    return dict_to_xml(fields, sign(fields, run.cfg.pay_api_key, order["sign_type"]))


@bp.post("/standin/pay-notify")
def pay_notify():
    """The user paid: {"out_trade_no", "notify_url"?}. The first notify goes now (its
    answer is returned), retries follow on WeChat's schedule."""
    run = rt()
    data = request.get_json(force=True, silent=True) or {}
    with run.state.lock:
        order = run.state.orders.get(data.get("out_trade_no", ""))
        if order is None:
            return jsonify({"error": "no such order"}), 404
        if trade_state(order, run.now()) == "CLOSED":
            return jsonify({"error": "the order is closed or expired; WeChat would not let it be paid"}), 409
    first = pay_order(run, order, data.get("notify_url"))
    return jsonify({"status": first.get("status"), "body": first.get("body", ""), "ok": first.get("ok", False),
                    "transaction_id": order["transaction_id"]})


def pay_order(run: Runtime, order: dict, notify_url: str | None = None) -> dict:
    """Mark the order paid (once) and send its first notify now; retries follow."""
    now = run.now()
    with run.state.lock:
        if order["state"] == "NOTPAY":
            order["state"] = "SUCCESS"
            order["transaction_id"] = "4200" + "".join(secrets.choice("0123456789") for _ in range(24))
            order["time_end"] = datetime.fromtimestamp(now, BEIJING).strftime("%Y%m%d%H%M%S")
        delivery = Delivery(order["out_trade_no"], notify_url or order["notify_url"], notify_body(run, order))
        run.state.notifications.append(delivery)
    if order["openid"]:
        run.state.open_window(order["openid"], "payment", now)
    return attempt(run, delivery) or {}


@bp.get("/standin/pay-notifications")
def pay_notifications():
    return jsonify([d.as_dict() for d in rt().state.notifications])


@bp.post("/standin/pay-notifications/flush")
def flush_pay_notifications():
    """Make every waiting retry now instead of on the schedule."""
    return jsonify([r for r in rt().scheduler.flush("pay-notify") if r])


# ---------------------------------------------------------------- JSAPI: WeixinJSBridge and the payment page

JSBRIDGE_JS = r"""/* The stand-in's WeixinJSBridge: inside WeChat the client provides it. Two calls are
   played: getBrandWCPayRequest (the stand-in's payment page opens over the page, checks the
   parameters as WeChat does) and batchAddCard (JS-SDK addCard: the stand-in's "add to card
   wallet" sheet, which checks each cardExt as WeChat's client does); the callback gets
   WeChat's err_msg (and card_list for addCard). */
(function () {
  if (window.WeixinJSBridge) return;
  var base = %(base)s;
  var pages = {getBrandWCPayRequest: ['/standin/pay/jsapi', 'standin-pay'],
               batchAddCard: ['/standin/card/add', 'standin-add-card']};
  window.WeixinJSBridge = {
    invoke: function (name, params, callback) {
      if (!pages[name]) { callback && callback({err_msg: name + ':fail not supported'}); return; }
      var frame = document.createElement('iframe');
      frame.src = base + pages[name][0] + '?params=' + encodeURIComponent(JSON.stringify(params || {}));
      frame.setAttribute('data-testid', pages[name][1]);
      frame.style.cssText = 'position:fixed;inset:0;width:100%%;height:100%%;border:0;z-index:9999;background:#fff';
      function done(event) {
        if (event.source !== frame.contentWindow || !event.data || !event.data.err_msg) return;
        window.removeEventListener('message', done);
        frame.remove();
        callback && callback(event.data.card_list ? {err_msg: event.data.err_msg, card_list: event.data.card_list}
                                                  : {err_msg: event.data.err_msg});
      }
      window.addEventListener('message', done);
      document.body.appendChild(frame);
    },
    on: function () {}
  };
  setTimeout(function () { document.dispatchEvent(new Event('WeixinJSBridgeReady')); }, 0);
})();
"""

PAY_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>微信支付</title>
<style>body{font-family:sans-serif;margin:0;background:#ededed;text-align:center}
.box{background:#fff;margin:60px 16px;padding:24px;border-radius:8px}.fee{font-size:36px;margin:16px 0}
button{display:block;width:100%%;padding:12px;margin-top:12px;border:0;border-radius:6px;font-size:17px}
.pay{background:#07c160;color:#fff}.err{color:#fa5151}</style></head><body><div class="box">
<div>微信支付（本地模拟）</div>%(body)s</div>
<script>
function answer(msg) { parent.postMessage({err_msg: msg}, '*'); }
var pay = document.getElementById('pay'), cancel = document.getElementById('cancel');
if (pay) pay.onclick = function () {
  pay.disabled = true;
  fetch('confirm', {method: 'POST', headers: {'Content-Type': 'application/json'},
                    body: JSON.stringify({prepay_id: %(prepay)s})})
    .then(function (r) { return r.json(); })
    .then(function (j) { answer(j.ok ? 'get_brand_wcpay_request:ok' : 'get_brand_wcpay_request:fail ' + j.error); });
};
if (cancel) cancel.onclick = function () { answer('get_brand_wcpay_request:cancel'); };
var fail = document.getElementById('fail');
if (fail) setTimeout(function () { answer(fail.getAttribute('data-msg')); }, 1500);
</script></body></html>"""


@bp.get("/standin/jsbridge.js")
def jsbridge_js():
    import json
    base = request.host_url.rstrip("/")
    return Response(JSBRIDGE_JS % {"base": json.dumps(base)}, mimetype="application/javascript")


def _jsapi_order(run: Runtime, params: dict) -> dict:
    """The order a getBrandWCPayRequest names, with WeChat's checks."""
    if params.get("appId") != run.cfg.appid:
        raise refuse("pay.jsapi_appid")
    fields = {k: str(params.get(k, "")) for k in ("appId", "timeStamp", "nonceStr", "package", "signType")}
    sign_type = fields["signType"] or "MD5"
    if sign_type not in SIGN_TYPES or not secrets.compare_digest(
            str(params.get("paySign", "")), sign(fields, run.cfg.pay_api_key, sign_type)):
        raise refuse("pay.jsapi_sign")
    prepay = fields["package"].removeprefix("prepay_id=")
    with run.state.lock:
        order = next((o for o in run.state.orders.values() if o["prepay_id"] == prepay), None)
    if order is None or order["trade_type"] != "JSAPI" or trade_state(order, run.now()) != "NOTPAY":
        raise refuse("pay.jsapi_package")
    return order


@bp.get("/standin/pay/jsapi")
def jsapi_page():
    import html
    import json
    run = rt()
    try:
        params = json.loads(request.args.get("params") or "{}")
        order = _jsapi_order(run, params if isinstance(params, dict) else {})
    except Refusal as refusal:
        body = (f'<p class="err" id="fail" data-testid="standin-pay-error" '
                f'data-msg="{html.escape(refusal.message)}">{html.escape(refusal.message)}</p>')
        return Response(PAY_PAGE % {"body": body, "prepay": '""'}, mimetype="text/html")
    except ValueError:
        return Response("bad params", status=400)
    fee = order["total_fee"]
    body = (f'<div class="fee" data-testid="standin-pay-fee">¥{fee // 100}.{fee % 100:02d}</div>'
            f'<div>{html.escape(order["params"].get("body", ""))}</div>'
            '<button class="pay" id="pay" data-testid="standin-pay-confirm">立即支付</button>'
            '<button id="cancel">取消</button>')
    return Response(PAY_PAGE % {"body": body, "prepay": json.dumps(order["prepay_id"])}, mimetype="text/html")


@bp.post("/standin/pay/confirm")
def jsapi_confirm():
    """The member paid on the payment page: the order is paid and notified, as
    /standin/pay-notify does; the page answers the JSBridge callback."""
    run = rt()
    data = request.get_json(force=True, silent=True) or {}
    with run.state.lock:
        order = next((o for o in run.state.orders.values()
                      if o["prepay_id"] and o["prepay_id"] == data.get("prepay_id")), None)
    if order is None or trade_state(order, run.now()) != "NOTPAY":
        return jsonify({"ok": False, "error": "订单已失效或不存在"})
    result = pay_order(run, order)
    return jsonify({"ok": True, "notified": result.get("ok", False)})
