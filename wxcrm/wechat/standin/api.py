"""The account API: access token, menu, QR codes, user info and the JS-SDK ticket."""
from __future__ import annotations

import io
import secrets
from urllib.parse import urlparse

import qrcode
from flask import Blueprint, Response, jsonify, request

from wxcrm.wechat.standin.rules import refuse
from wxcrm.wechat.standin.runtime import rt
from wxcrm.wechat.standin.state import Token
from wxcrm.wechat.standin.wire import json_body, ok

bp = Blueprint("standin_api", __name__)

TOKEN_GRACE = 300            # seconds a replaced token keeps working
TOKEN_FETCHES_PER_DAY = 2000
MENU_CREATES_PER_DAY = 1000
TICKET_TTL = 7200
QR_DEFAULT_SECONDS, QR_MAX_SECONDS = 60, 2_592_000
QR_PERMANENT_MAX, QR_PERMANENT_SCENE_MAX, QR_TEMPORARY_SCENE_MAX = 100_000, 100_000, 2**32 - 1


# ---------------------------------------------------------------- access token

def check_access_token(token: str) -> None:
    """Refuse a call whose token WeChat would not take."""
    if not token:
        raise refuse("token.missing")
    state, now = rt().state, rt().now()
    with state.lock:
        found: Token | None = state.tokens.get(token)
    if found is None:
        raise refuse("token.unknown")
    replaced_dead = found.replaced_at + TOKEN_GRACE if found.replaced_at is not None else None
    if replaced_dead is not None and replaced_dead < found.expires_at and now >= replaced_dead:
        raise refuse("token.replaced")
    if now >= found.expires_at:
        raise refuse("token.expired")


@bp.get("/cgi-bin/token")
def token():
    run, args = rt(), request.args
    if args.get("grant_type") != "client_credential":
        raise refuse("token.grant_type")
    if args.get("appid") != run.cfg.appid:
        raise refuse("token.appid")
    if args.get("secret") != run.cfg.secret:
        raise refuse("token.secret")
    if not run.state.take_quota("token", run.clock.day(), TOKEN_FETCHES_PER_DAY):
        raise refuse("token.daily")
    now, value = run.now(), "standin-" + secrets.token_hex(16)
    with run.state.lock:
        for old in run.state.tokens.values():
            if old.replaced_at is None:
                old.replaced_at = now
        run.state.tokens[value] = Token(value, now, now + run.cfg.token_ttl)
        run.state.token_fetches += 1
    return jsonify({"access_token": value, "expires_in": run.cfg.token_ttl})


# ---------------------------------------------------------------- menu

KEY_TYPES = {"click", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album", "pic_weixin",
             "location_select"}
MATERIAL_TYPES = {"media_id", "view_limited", "article_id", "article_view_limited"}
URL_TYPES = {"view", "miniprogram"}
BUTTON_TYPES = KEY_TYPES | MATERIAL_TYPES | URL_TYPES


def _size(value, low: int, high: int) -> bool:
    return isinstance(value, str) and low <= len(value.encode()) <= high


def check_button(button: object, *, sub: bool) -> None:
    p = "menu.sub_" if sub else "menu.button_"
    if not isinstance(button, dict):
        raise refuse(p + "type")
    if not _size(button.get("name"), 1, 60 if sub else 16):
        raise refuse(p + "name")
    subs = button.get("sub_button")
    if subs is not None and (subs or not button.get("type")):
        if sub:
            raise refuse("menu.level")
        if not isinstance(subs, list) or not 1 <= len(subs) <= 5:
            raise refuse("menu.sub_size")
        for child in subs:
            check_button(child, sub=True)
        return
    kind = button.get("type")
    if kind not in BUTTON_TYPES:
        raise refuse(p + "type")
    if kind in KEY_TYPES and not _size(button.get("key"), 1, 128):
        raise refuse(p + "key")
    if kind in URL_TYPES:
        if not _size(button.get("url"), 1, 1024):
            raise refuse(p + "url")
        if urlparse(button["url"]).scheme not in ("http", "https") or not urlparse(button["url"]).netloc:
            raise refuse("menu.sub_domain" if sub else "menu.button_domain")
        if kind == "miniprogram" and not (button.get("appid") and button.get("pagepath")):
            raise refuse(p + "type")
    if kind in MATERIAL_TYPES:
        raise refuse("menu.media")


@bp.post("/cgi-bin/menu/create")
def menu_create():
    menu = json_body()
    buttons = menu.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise refuse("menu.button_size")
    for button in buttons:
        check_button(button, sub=False)
    run = rt()
    if not run.state.take_quota("menu", run.clock.day(), MENU_CREATES_PER_DAY):
        raise refuse("menu.daily")
    with run.state.lock:
        run.state.menu = {"button": buttons}
    return ok()


@bp.get("/cgi-bin/menu/get")
def menu_get():
    menu = rt().state.menu
    if not menu:
        raise refuse("menu.none")
    return jsonify({"menu": menu})


@bp.get("/cgi-bin/menu/delete")
def menu_delete():
    with rt().state.lock:
        rt().state.menu = None
    return ok()


# ---------------------------------------------------------------- QR codes

QR_ACTIONS = ("QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE")


def _scene(action: str, info: object) -> str:
    scene = info.get("scene") if isinstance(info, dict) else None
    if not isinstance(scene, dict):
        raise refuse("qr.action_info")
    if action in ("QR_SCENE", "QR_LIMIT_SCENE"):
        raw = scene.get("scene_id")
        if isinstance(raw, str) and raw.isdigit():
            raw = int(raw)
        high = QR_PERMANENT_SCENE_MAX if action == "QR_LIMIT_SCENE" else QR_TEMPORARY_SCENE_MAX
        if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= high:
            raise refuse("qr.action_info")
        return str(raw)
    raw = scene.get("scene_str")
    if not isinstance(raw, str) or not 1 <= len(raw) <= 64:
        raise refuse("qr.action_info")
    return raw


@bp.post("/cgi-bin/qrcode/create")
def qrcode_create():
    data = json_body()
    action = data.get("action_name")
    if action not in QR_ACTIONS:
        raise refuse("qr.action_name")
    scene = _scene(action, data.get("action_info"))
    run, now = rt(), rt().now()
    permanent = action.startswith("QR_LIMIT")
    expire = None
    if not permanent:
        expire = data.get("expire_seconds", QR_DEFAULT_SECONDS)
        if isinstance(expire, bool) or not isinstance(expire, int) or not 1 <= expire <= QR_MAX_SECONDS:
            raise refuse("qr.expire")
    with run.state.lock:
        key = (action.endswith("STR_SCENE"), scene)
        if permanent and key in run.state.permanent_scenes:
            ticket = run.state.permanent_scenes[key]
            return jsonify({"ticket": ticket, "url": run.state.qrcodes[ticket]["url"]})
        if permanent and len(run.state.permanent_scenes) >= QR_PERMANENT_MAX:
            raise refuse("qr.limit")
        ticket = "gQ" + secrets.token_urlsafe(24)
        url = "http://weixin.qq.com/q/" + secrets.token_urlsafe(16)
        run.state.qrcodes[ticket] = {"action_name": action, "scene": scene, "url": url, "created_at": now,
                                     "expires_at": None if permanent else now + expire}
        if permanent:
            run.state.permanent_scenes[key] = ticket
    answer = {"ticket": ticket, "url": url}
    if not permanent:
        answer["expire_seconds"] = expire
    return jsonify(answer)


@bp.get("/mp/cgi-bin/showqrcode")
def qrcode_show():
    run = rt()
    code = run.state.qrcodes.get(request.args.get("ticket", ""))
    if code is None or (code["expires_at"] is not None and run.now() >= code["expires_at"]):
        raise refuse("qr.show")
    buf = io.BytesIO()
    qrcode.make(code["url"]).save(buf, format="PNG")
    return Response(buf.getvalue(), mimetype="image/png")


# ---------------------------------------------------------------- users

@bp.get("/cgi-bin/user/info")
def user_info():
    openid = request.args.get("openid", "")
    if not openid:
        raise refuse("user.missing")
    user = rt().state.user(openid)
    if user is None:
        raise refuse("user.openid")
    if not user.subscribed:
        return jsonify({"subscribe": 0, "openid": openid})
    return jsonify({"subscribe": 1, "openid": openid, "language": "zh_CN", "subscribe_time": user.subscribe_time,
                    "unionid": "union-" + openid, "remark": "", "groupid": 0, "tagid_list": [],
                    "subscribe_scene": user.subscribe_scene, "qr_scene": user.qr_scene,
                    "qr_scene_str": user.qr_scene_str})


# ---------------------------------------------------------------- JS-SDK

@bp.get("/cgi-bin/ticket/getticket")
def jsapi_ticket():
    kind = request.args.get("type", "")
    if kind not in ("jsapi", "wx_card"):
        raise refuse("ticket.type")
    run = rt()
    ticket = "standin-" + kind.replace("_", "") + "-" + secrets.token_hex(16)
    with run.state.lock:
        run.state.js_tickets[ticket] = {"type": kind, "expires_at": run.now() + TICKET_TTL}
    return ok(ticket=ticket, expires_in=TICKET_TTL)
