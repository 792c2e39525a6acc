"""The stand-in's Flask app. State lives in memory; one process is one fake WeChat."""
from __future__ import annotations

import io
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import qrcode
import requests
import xmltodict
from flask import Flask, Response, abort, jsonify, redirect, render_template_string, request
from wechatpy.pay.utils import calculate_signature, dict_to_xml

from wxcrm.wechat.standin.push import WeChatPusher

SECRET_PARAMS = {"access_token", "secret"}


@dataclass
class StandinConfig:
    appid: str
    secret: str
    token: str
    callback_url: str               # wxcrm's /wechat/callback
    aes_key: str = ""
    mch_id: str = ""
    pay_api_key: str = ""
    token_ttl: int = 7200

    @classmethod
    def from_wxcrm(cls, cfg, callback_url: str | None = None) -> StandinConfig:
        return cls(appid=cfg["WXCRM_WECHAT_APP_ID"], secret=cfg["WXCRM_WECHAT_APP_SECRET"],
                   token=cfg["WXCRM_WECHAT_TOKEN"], aes_key=cfg["WXCRM_WECHAT_AES_KEY"],
                   mch_id=cfg["WXCRM_WECHAT_MCH_ID"], pay_api_key=cfg["WXCRM_WECHAT_PAY_API_KEY"],
                   callback_url=callback_url or cfg["WXCRM_PUBLIC_URL"].rstrip("/") + "/wechat/callback")


@dataclass
class Failure:
    remaining: int
    errcode: int
    http_status: int
    path: str


@dataclass
class State:
    calls: list = field(default_factory=list)
    tokens: set = field(default_factory=set)
    token_fetches: int = 0
    failures: list = field(default_factory=list)
    menu: dict | None = None
    tickets: dict = field(default_factory=dict)      # qrcode ticket -> scene
    oauth_codes: dict = field(default_factory=dict)  # code -> (openid, scope)
    oauth_openid: str = ""                            # who "is" the browser, for the OAuth page
    orders: dict = field(default_factory=dict)       # out_trade_no -> order
    pushes: list = field(default_factory=list)
    seq: int = 0


def create_standin_app(config: StandinConfig) -> Flask:
    app = Flask("wxcrm_standin")
    app.config["STANDIN"] = config
    app.json.ensure_ascii = False
    state = State()
    lock = threading.Lock()
    app.extensions["standin_state"] = state

    def next_id() -> int:
        with lock:
            state.seq += 1
            return state.seq

    def body_of() -> object:
        raw = request.get_data(as_text=True)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            try:
                return xmltodict.parse(raw).get("xml")
            except Exception:  # noqa: BLE001 - record whatever came
                return raw

    def record(body=None, **extra) -> dict:
        entry = {"id": next_id(), "at": time.time(), "method": request.method, "path": request.path,
                 "query": {k: v for k, v in request.args.items() if k not in SECRET_PARAMS},
                 "body": body if body is not None else body_of(), **extra}
        with lock:
            state.calls.append(entry)
        return entry

    def planned_failure():
        with lock:
            for failure in state.failures:
                if failure.remaining > 0 and request.path.startswith(failure.path):
                    failure.remaining -= 1
                    return failure
        return None

    def wx_error(errcode: int, errmsg: str, status: int = 200):
        return jsonify({"errcode": errcode, "errmsg": errmsg}), status

    @app.before_request
    def gate():
        if request.path.startswith("/standin") or request.path.startswith("/open/"):
            return None
        failure = planned_failure()
        if failure is not None:
            record(failed=True)
            if failure.http_status != 200:
                return Response("stand-in failure", status=failure.http_status)
            return wx_error(failure.errcode, "stand-in planned failure")
        if request.path in ("/cgi-bin/token", "/sms/send") or \
                request.path.startswith(("/mch/", "/mp/", "/sns/")):  # OAuth tokens are the user's, not ours
            return None
        token = request.args.get("access_token", "")
        if token not in state.tokens:
            record(failed=True)
            return wx_error(42001 if token.startswith("standin-") else 40001,
                            "access_token expired" if token else "invalid credential")
        return None

    # ------------------------------------------------------------ the API

    @app.get("/cgi-bin/token")
    def token():
        record()
        cfg = app.config["STANDIN"]
        if request.args.get("appid") != cfg.appid or request.args.get("secret") != cfg.secret:
            return wx_error(40125, "invalid appsecret")
        new = "standin-" + secrets.token_hex(12)
        with lock:
            state.tokens.add(new)
            state.token_fetches += 1
        return jsonify({"access_token": new, "expires_in": cfg.token_ttl})

    @app.post("/cgi-bin/menu/create")
    def menu_create():
        record()
        state.menu = request.get_json(force=True)
        return wx_error(0, "ok")

    @app.get("/cgi-bin/menu/get")
    def menu_get():
        record()
        return jsonify({"menu": state.menu or {}}) if state.menu else wx_error(46003, "menu no exist")

    @app.get("/cgi-bin/menu/delete")
    def menu_delete():
        record()
        state.menu = None
        return wx_error(0, "ok")

    @app.post("/cgi-bin/qrcode/create")
    def qrcode_create():
        data = request.get_json(force=True)
        record(data)
        scene = (data.get("action_info", {}).get("scene", {}).get("scene_str")
                 or str(data.get("action_info", {}).get("scene", {}).get("scene_id", "")))
        ticket = "standin-qr-" + secrets.token_urlsafe(12)
        state.tickets[ticket] = scene
        return jsonify({"ticket": ticket, "expire_seconds": data.get("expire_seconds", 0),
                        "url": f"http://weixin.qq.com/q/{ticket}"})

    @app.get("/mp/cgi-bin/showqrcode")
    def qrcode_show():
        record()
        ticket = request.args.get("ticket", "")
        if ticket not in state.tickets:
            abort(404)
        buf = io.BytesIO()
        qrcode.make(f"http://weixin.qq.com/q/{ticket}").save(buf, format="PNG")
        return Response(buf.getvalue(), mimetype="image/png")

    @app.get("/cgi-bin/user/info")
    def user_info():
        record()
        openid = request.args.get("openid", "")
        # Since 2021 WeChat gives no nickname, avatar, gender or region.
        return jsonify({"subscribe": 1, "openid": openid, "subscribe_time": int(time.time()),
                        "unionid": "union-" + openid, "language": "zh_CN", "remark": "", "tagid_list": [],
                        "subscribe_scene": "ADD_SCENE_QR_CODE"})

    @app.post("/cgi-bin/message/template/send")
    def template_send():
        record()
        return jsonify({"errcode": 0, "errmsg": "ok", "msgid": next_id()})

    @app.post("/cgi-bin/message/custom/send")
    def custom_send():
        record()
        return wx_error(0, "ok")

    @app.post("/cgi-bin/message/mass/send")
    def mass_send():
        record()
        return jsonify({"errcode": 0, "errmsg": "send job submission success", "msg_id": next_id(),
                        "msg_data_id": next_id()})

    @app.get("/cgi-bin/ticket/getticket")
    def jsapi_ticket():
        record()
        return jsonify({"errcode": 0, "errmsg": "ok", "ticket": "standin-jsapi-" + secrets.token_hex(8),
                        "expires_in": 7200})

    @app.post("/card/<path:rest>")
    def card(rest):
        record()
        return jsonify({"errcode": 0, "errmsg": "ok", "card_id": "standin-card"})

    @app.post("/sms/send")
    def sms_send():
        record()
        return jsonify({"id": f"sms-{next_id()}"})

    # ------------------------------------------------------------ OAuth

    @app.get("/open/connect/oauth2/authorize")
    def oauth_authorize():
        record()
        cfg = app.config["STANDIN"]
        if request.args.get("appid") != cfg.appid:
            return Response("appid mismatch", status=400)
        openid = request.args.get("as_openid") or state.oauth_openid
        if not openid:
            return render_template_string(OAUTH_PAGE, args=request.args)
        code = secrets.token_urlsafe(16)
        state.oauth_codes[code] = (openid, request.args.get("scope", "snsapi_base"))
        sep = "&" if "?" in request.args["redirect_uri"] else "?"
        return redirect(request.args["redirect_uri"] + sep +
                        urlencode({"code": code, "state": request.args.get("state", "")}))

    @app.get("/sns/oauth2/access_token")
    def oauth_access_token():
        record()
        cfg = app.config["STANDIN"]
        if request.args.get("appid") != cfg.appid or request.args.get("secret") != cfg.secret:
            return wx_error(40125, "invalid appsecret")
        found = state.oauth_codes.pop(request.args.get("code", ""), None)  # a code works once
        if found is None:
            return wx_error(40029, "invalid code")
        openid, scope = found
        return jsonify({"access_token": "standin-oauth-" + secrets.token_hex(8), "expires_in": 7200,
                        "refresh_token": "standin-refresh", "openid": openid, "scope": scope})

    @app.get("/sns/userinfo")
    def oauth_userinfo():
        record()
        openid = request.args.get("openid", "")
        return jsonify({"openid": openid, "unionid": "union-" + openid, "privilege": []})

    # ------------------------------------------------------------ Pay (API v2)

    def pay_reply(fields: dict):
        cfg = app.config["STANDIN"]
        fields = {"return_code": "SUCCESS", "return_msg": "OK", "appid": cfg.appid, "mch_id": cfg.mch_id,
                  "nonce_str": secrets.token_hex(8), **fields}
        return Response(dict_to_xml(fields, calculate_signature(fields, cfg.pay_api_key)), mimetype="text/xml")

    def pay_request() -> dict | None:
        cfg = app.config["STANDIN"]
        data = dict(xmltodict.parse(request.get_data(as_text=True))["xml"])
        record(data)
        sign = data.pop("sign", "")
        return data if sign == calculate_signature(data, cfg.pay_api_key) else None

    @app.post("/mch/pay/unifiedorder")
    def unified_order():
        data = pay_request()
        if data is None:
            return pay_reply({"return_code": "FAIL", "return_msg": "签名错误"})
        order = {**data, "trade_state": "NOTPAY", "prepay_id": "wx" + secrets.token_hex(14)}
        state.orders[data["out_trade_no"]] = order
        return pay_reply({"result_code": "SUCCESS", "trade_type": data.get("trade_type", "JSAPI"),
                          "prepay_id": order["prepay_id"]})

    @app.post("/mch/pay/orderquery")
    def order_query():
        data = pay_request()
        order = state.orders.get((data or {}).get("out_trade_no", ""))
        if data is None or order is None:
            return pay_reply({"result_code": "FAIL", "err_code": "ORDERNOTEXIST", "err_code_des": "订单不存在"})
        return pay_reply({"result_code": "SUCCESS", "out_trade_no": order["out_trade_no"],
                          "trade_state": order["trade_state"], "total_fee": order["total_fee"],
                          "transaction_id": order.get("transaction_id", "")})

    @app.post("/mch/secapi/pay/refund")
    def refund():
        data = pay_request()
        if data is None or data.get("out_trade_no") not in state.orders:
            return pay_reply({"result_code": "FAIL", "err_code": "ORDERNOTEXIST", "err_code_des": "订单不存在"})
        return pay_reply({"result_code": "SUCCESS", "out_trade_no": data["out_trade_no"],
                          "out_refund_no": data.get("out_refund_no", ""), "refund_id": "50" + secrets.token_hex(10),
                          "refund_fee": data.get("refund_fee", "0"), "total_fee": data.get("total_fee", "0")})

    # ------------------------------------------------------------ control

    def pusher() -> WeChatPusher:
        cfg = app.config["STANDIN"]
        return WeChatPusher(callback_url=cfg.callback_url, token=cfg.token, appid=cfg.appid, aes_key=cfg.aes_key)

    @app.get("/standin/")
    def page():
        return render_template_string(PAGE, calls=list(reversed(state.calls[-200:])), state=state,
                                      cfg=app.config["STANDIN"])

    @app.get("/standin/calls.json")
    def calls_json():
        prefix = request.args.get("path", "")
        return jsonify([c for c in state.calls if c["path"].startswith(prefix)])

    @app.post("/standin/reset")
    def reset():
        with lock:
            state.calls.clear()
            state.failures.clear()
            state.pushes.clear()
            state.oauth_openid = ""
            state.token_fetches = 0
        return jsonify({"ok": True})

    @app.post("/standin/fail-next")
    def fail_next():
        data = request.get_json(force=True)
        failure = Failure(remaining=int(data.get("count", 1)), errcode=int(data.get("errcode", -1)),
                          http_status=int(data.get("http_status", 200)), path=data.get("path", "/cgi-bin/message"))
        with lock:
            state.failures.append(failure)
        return jsonify({"ok": True})

    @app.post("/standin/expire-tokens")
    def expire_tokens():
        with lock:
            state.tokens.clear()
        return jsonify({"ok": True})

    @app.post("/standin/oauth-user")
    def oauth_user():
        state.oauth_openid = (request.get_json(force=True) or {}).get("openid", "")
        return jsonify({"ok": True})

    @app.post("/standin/push")
    def push():
        """{"event": "subscribe|scan|unsubscribe|click|view|text", "openid": ..., "scene"|"key"|"text": ...}"""
        data = request.get_json(silent=True) or request.form.to_dict()
        return jsonify(push_event(pusher(), data, state))

    @app.post("/standin/push-form")
    def push_form():
        push_event(pusher(), request.form.to_dict(), state)
        return redirect("/standin/")

    @app.post("/standin/pay-notify")
    def pay_notify():
        """Tell wxcrm an order was paid: {"out_trade_no", "notify_url"?}."""
        cfg = app.config["STANDIN"]
        data = request.get_json(force=True)
        order = state.orders.get(data.get("out_trade_no", ""))
        if order is None:
            return jsonify({"error": "no such order"}), 404
        order["trade_state"] = "SUCCESS"
        order["transaction_id"] = order.get("transaction_id") or "42" + secrets.token_hex(12)
        fields = {"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": cfg.appid, "mch_id": cfg.mch_id,
                  "nonce_str": secrets.token_hex(8), "openid": order.get("openid", ""), "trade_type": "JSAPI",
                  "bank_type": "CMC", "total_fee": order["total_fee"], "cash_fee": order["total_fee"],
                  "fee_type": "CNY", "transaction_id": order["transaction_id"],
                  "out_trade_no": order["out_trade_no"], "time_end": time.strftime("%Y%m%d%H%M%S")}
        body = dict_to_xml(fields, calculate_signature(fields, cfg.pay_api_key))
        res = requests.post(data.get("notify_url") or order["notify_url"], data=body.encode(),
                            headers={"Content-Type": "text/xml"}, timeout=10)
        return jsonify({"status": res.status_code, "body": res.text})

    return app


def push_event(pusher: WeChatPusher, data: dict, state: State) -> dict:
    openid = data.get("openid") or "o-standin-user"
    event = (data.get("event") or "text").lower()
    actions = {
        "subscribe": lambda: pusher.follow(openid, data.get("scene") or None),
        "scan": lambda: pusher.scan(openid, data.get("scene", "")),
        "unsubscribe": lambda: pusher.unfollow(openid),
        "click": lambda: pusher.click(openid, data.get("key", "")),
        "view": lambda: pusher.view(openid, data.get("url", "")),
        "text": lambda: pusher.text(openid, data.get("text", "")),
    }
    if event not in actions:
        return {"error": f"unknown event {event}"}
    result = actions[event]()
    entry = {"at": time.time(), "event": event, "openid": openid, "status": result.status, "reply": result.reply,
             **{k: v for k, v in data.items() if k in ("scene", "key", "text", "url")}}
    state.pushes.append(entry)
    return entry


OAUTH_PAGE = """<!doctype html><meta charset="utf-8"><title>WeChat stand-in: sign in</title>
<body style="font-family:sans-serif;max-width:420px;margin:40px auto">
<h2>WeChat stand-in</h2><p>This page plays WeChat asking who you are ({{ args.get('scope') }}).</p>
<form method="get">{% for k, v in args.items() %}<input type="hidden" name="{{ k }}" value="{{ v }}">{% endfor %}
<label>openid <input name="as_openid" value="o-standin-user"></label> <button>Continue</button></form></body>"""

PAGE = """<!doctype html><meta charset="utf-8"><title>WeChat stand-in</title>
<body style="font-family:sans-serif;margin:24px">
<h1>WeChat stand-in</h1>
<p>Callbacks go to <code>{{ cfg.callback_url }}</code> ({{ 'safe mode, AES' if cfg.aes_key else 'plaintext mode' }}).
Tokens issued: {{ state.token_fetches }}. <a href="/standin/calls.json">calls as JSON</a></p>
<form method="post" action="/standin/push-form" style="margin:16px 0;padding:12px;border:1px solid #ccc">
<b>Push an event</b>
<select name="event">{% for e in ['subscribe','scan','text','click','unsubscribe','view'] %}<option>{{ e }}</option>{% endfor %}</select>
openid <input name="openid" value="o-standin-user" size="16">
scene <input name="scene" placeholder="store_S001 or ref_12" size="14">
key <input name="key" placeholder="MY_POINTS" size="10">
text <input name="text" placeholder="积分" size="10">
<button>Push</button></form>
<h2>Pushed</h2><table border="1" cellpadding="4" style="border-collapse:collapse">
<tr><th>event</th><th>openid</th><th>detail</th><th>status</th><th>reply</th></tr>
{% for p in state.pushes|reverse %}<tr><td>{{ p.event }}</td><td>{{ p.openid }}</td>
<td>{{ p.scene or p.key or p.text or p.url or '' }}</td><td>{{ p.status }}</td><td style="white-space:pre-wrap">{{ p.reply }}</td></tr>{% endfor %}
</table>
<h2>Calls received</h2><table border="1" cellpadding="4" style="border-collapse:collapse">
<tr><th>#</th><th>call</th><th>query</th><th>body</th></tr>
{% for c in calls %}<tr{% if c.failed %} style="color:#b00"{% endif %}><td>{{ c.id }}</td><td>{{ c.method }} {{ c.path }}</td>
<td><code>{{ c.query|tojson }}</code></td><td><code style="white-space:pre-wrap">{{ c.body|tojson }}</code></td></tr>{% endfor %}
</table></body>"""
