"""The stand-in's own controls under ``/standin/``: what tests and the demo use to play
users, move time, register what the account has configured on WeChat's side, and read
what happened. The page lists every rule with the document it comes from."""
from __future__ import annotations

import hashlib
from itertools import groupby

from flask import Blueprint, current_app, jsonify, redirect, render_template_string, request

from wxcrm.wechat.standin.events import CARD_EVENTS, USER_EVENTS, push_event
from wxcrm.wechat.standin.rules import RULES
from wxcrm.wechat.standin.runtime import rt
from wxcrm.wechat.standin.state import Failure
from wxcrm.wechat.standin.templates import template_from

bp = Blueprint("standin_control", __name__, url_prefix="/standin")


def _body() -> dict:
    data = request.get_json(force=True, silent=True)
    return data if isinstance(data, dict) else request.form.to_dict()


@bp.get("/")
def page():
    run = rt()
    with run.state.lock:
        calls = list(reversed(run.state.calls[-200:]))
        pushes = list(reversed(run.state.pushes[-100:]))
    areas = [(area, list(rules)) for area, rules in groupby(RULES, key=lambda r: r.area)]
    return render_template_string(PAGE, calls=calls, pushes=pushes, state=run.state, cfg=run.cfg, areas=areas,
                                  jobs=[j.describe() for j in run.scheduler.pending()], now=run.now(), offset=run.clock.offset,
                                  events=list(USER_EVENTS) + list(CARD_EVENTS),
                                  tls_url=current_app.config.get("STANDIN_TLS_URL", ""))


@bp.get("/rules.json")
def rules_json():
    return jsonify([{"id": r.id, "area": r.area, "rule": r.text, "code": r.code, "message": r.message,
                     "doc": {"title": r.doc.title, "url": r.doc.url}, "note": r.note} for r in RULES])


@bp.get("/calls.json")
def calls_json():
    prefix = request.args.get("path", "")
    with rt().state.lock:
        return jsonify([c for c in rt().state.calls if c["path"].startswith(prefix)])


@bp.post("/reset")
def reset():
    rt().reset()
    return jsonify({"ok": True})


@bp.post("/fail-next")
def fail_next():
    data = _body()
    failure = Failure(remaining=int(data.get("count", 1)), errcode=int(data.get("errcode", -1)),
                      http_status=int(data.get("http_status", 200)), path=data.get("path", "/cgi-bin/message"))
    with rt().state.lock:
        rt().state.failures.append(failure)
    return jsonify({"ok": True})


@bp.post("/expire-tokens")
def expire_tokens():
    """Every access token reaches the end of its life now (WeChat answers 42001)."""
    run = rt()
    with run.state.lock:
        for token in run.state.tokens.values():
            token.expires_at = min(token.expires_at, run.now())
    return jsonify({"ok": True})


@bp.post("/oauth-user")
def oauth_user():
    rt().state.oauth_openid = _body().get("openid", "")
    return jsonify({"ok": True})


@bp.post("/push")
def push():
    """A user acts: {"event": "subscribe|scan|unsubscribe|click|view|text|user_get_card|...",
    "openid": ..., "scene"|"key"|"text"|"url"|"card_id"|"code"|"info": ...}."""
    entry, status = push_event(rt(), _body())
    return jsonify(entry), status


@bp.post("/push-form")
def push_form():
    push_event(rt(), request.form.to_dict())
    return redirect("/standin/")


@bp.route("/users", methods=["GET", "POST"])
def users():
    """Register followers the account already has: {"openid"|"openids", "subscribed"?,
    "blocks_templates"?, "scene"?}. Pushed subscribe/unsubscribe events keep this list too."""
    run = rt()
    if request.method == "POST":
        data = _body()
        openids = data.get("openids") or ([data["openid"]] if data.get("openid") else [])
        for openid in openids:
            if data.get("subscribed", True):
                user = run.state.follow(str(openid), run.now(), str(data.get("scene") or ""))
            else:
                user = run.state.unfollow(str(openid))
            if "blocks_templates" in data:
                user.blocks_templates = bool(data["blocks_templates"])
    now = run.now()
    with run.state.lock:
        return jsonify([u.summary(now) for u in run.state.users.values()])


@bp.route("/templates", methods=["GET", "POST"])
def templates():
    """The account's template messages: {"template_id", "title", "keywords": ["thing1", ...],
    "const_values": {"const3": [...]}}."""
    run = rt()
    if request.method == "POST":
        try:
            template = template_from(_body())
        except ValueError as exc:
            return jsonify({"error": str(exc)}), 400
        with run.state.lock:
            run.state.templates[template.template_id] = template
    return jsonify([t.as_dict() for t in run.state.templates.values()])


@bp.route("/clock", methods=["GET", "POST"])
def clock():
    """{"advance": seconds} or {"set": unix time}: the stand-in's time moves on (never back)."""
    run = rt()
    if request.method == "POST":
        data = _body()
        if "advance" in data:
            run.clock.advance(float(data["advance"]))
        elif "set" in data:
            run.clock.set(float(data["set"]))
    return jsonify({"now": run.now(), "offset": run.clock.offset, "beijing": run.clock.beijing().isoformat()})


@bp.get("/jobs")
def jobs():
    return jsonify([j.describe() for j in rt().scheduler.pending()])


@bp.post("/jobs/flush")
def flush_jobs():
    """Push every pending job report and card event now (what each push got back)."""
    return jsonify([r for r in rt().scheduler.flush("report") if r])


@bp.get("/certs")
def certs():
    ca = rt().ca
    return jsonify({"ca": ca.ca_path, "client_cert": ca.client_cert_path, "client_key": ca.client_key_path,
                    "tls_url": current_app.config.get("STANDIN_TLS_URL", "")})


@bp.post("/jssdk/verify")
def jssdk_verify():
    """Check a page's wx.config as WeChat's JS-SDK does: {"url", "nonceStr", "timestamp", "signature"}."""
    data, run = _body(), rt()
    with run.state.lock:
        live = [t for t, v in run.state.js_tickets.items() if v["type"] == "jsapi" and v["expires_at"] > run.now()]
    for ticket in live:
        plain = (f"jsapi_ticket={ticket}&noncestr={data.get('nonceStr', '')}&timestamp={data.get('timestamp', '')}"
                 f"&url={str(data.get('url', '')).split('#')[0]}")
        if hashlib.sha1(plain.encode()).hexdigest() == data.get("signature"):
            return jsonify({"ok": True, "errMsg": "config:ok"})
    return jsonify({"ok": False, "errMsg": "config:invalid signature"})


PAGE = """<!doctype html><meta charset="utf-8"><title>WeChat stand-in</title>
<style>body{font-family:sans-serif;margin:24px} table{border-collapse:collapse;margin-bottom:24px}
td,th{border:1px solid #ccc;padding:4px;vertical-align:top;font-size:13px} .bad{color:#b00} code{white-space:pre-wrap}</style>
<h1>WeChat stand-in</h1>
<p>Callbacks go to <code>{{ cfg.callback_url }}</code> ({{ 'safe mode, AES' if cfg.aes_key else 'plaintext mode' }}).
Tokens issued: {{ state.token_fetches }}. Clock: {{ now|int }} (moved {{ '%.0f'|format(offset) }} s ahead).
{% if tls_url %}HTTPS (client certificates, for refunds): <code>{{ tls_url }}</code>.{% endif %}
<a href="/standin/calls.json">calls as JSON</a> · <a href="/standin/rules.json">rules as JSON</a></p>
<form method="post" action="/standin/push-form" style="margin:16px 0;padding:12px;border:1px solid #ccc">
<b>Push an event</b>
<select name="event">{% for e in events %}<option>{{ e }}</option>{% endfor %}</select>
openid <input name="openid" value="o-standin-user" size="16">
scene <input name="scene" placeholder="store_S001 or ref_12" size="14">
key <input name="key" placeholder="MY_POINTS" size="10">
text <input name="text" placeholder="积分" size="10">
card_id <input name="card_id" size="12"> code <input name="code" size="12">
<button>Push</button></form>
<h2>Rules enforced</h2>
<table><tr><th>area</th><th>WeChat refuses / does</th><th>code</th><th>message</th><th>document</th></tr>
{% for area, rules in areas %}{% for r in rules %}<tr><td>{{ area if loop.first else '' }}</td><td>{{ r.text }}</td>
<td>{{ r.code if r.code is not none else '—' }}</td><td>{{ r.message }}</td>
<td><a href="{{ r.doc.url }}">{{ r.doc.title }}</a>{% if r.note %}<br><i>{{ r.note }}</i>{% endif %}</td></tr>{% endfor %}{% endfor %}
</table>
<h2>Controls</h2><ul>
<li>POST /standin/push, /standin/push-form — play a user (subscribe, scan, click, view, text, card events)</li>
<li>GET/POST /standin/users — followers; GET/POST /standin/templates — template messages; GET/POST /standin/sms-templates</li>
<li>GET/POST /standin/clock {"advance": s} — move time; POST /standin/reset — everything back</li>
<li>GET /standin/jobs, POST /standin/jobs/flush — pending job reports and card events</li>
<li>POST /standin/pay-notify, GET /standin/pay-notifications, POST /standin/pay-notifications/flush</li>
<li>POST /standin/add-card {"openid", "cardList"} — a user taps "add" on wx.addCard (cardExt checked);
POST /standin/cards/review {"card_id", "pass", "reason"}, /standin/cards/review-mode {"manual"} — card review</li>
<li>POST /standin/fail-next, /standin/expire-tokens, /standin/oauth-user; GET /standin/sms, /standin/cards, /standin/certs;
POST /standin/jssdk/verify</li></ul>
<h2>Pending ({{ jobs|length }})</h2><table><tr><th>due</th><th>kind</th><th>what</th></tr>
{% for j in jobs %}<tr><td>{{ j.due|int }}</td><td>{{ j.kind }}</td><td>{{ j.label }}</td></tr>{% endfor %}</table>
<h2>Pushed</h2><table><tr><th>event</th><th>openid</th><th>detail</th><th>status</th><th>reply</th></tr>
{% for p in pushes %}<tr><td>{{ p.event }}</td><td>{{ p.openid }}</td>
<td>{{ p.scene or p.key or p.text or p.url or p.code or p.msg_id or p.msgid or '' }}</td><td>{{ p.status }}</td>
<td style="white-space:pre-wrap">{{ p.reply }}</td></tr>{% endfor %}</table>
<h2>Calls received</h2><table><tr><th>#</th><th>call</th><th>answer</th><th>query</th><th>body</th></tr>
{% for c in calls %}<tr{% if c.failed %} class="bad"{% endif %}><td>{{ c.id }}</td><td>{{ c.method }} {{ c.path }}</td>
<td>{{ c.errcode if c.errcode is defined else c.status }}</td>
<td><code>{{ c.query|tojson }}</code></td><td><code>{{ c.body|tojson }}</code></td></tr>{% endfor %}
</table>"""
