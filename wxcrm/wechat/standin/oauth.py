"""Web authorization (OAuth 2): the page a phone is sent to, the code exchange, the web
access token and sns/userinfo, with WeChat's lifetimes and single-use codes."""
from __future__ import annotations

import secrets
from urllib.parse import urlencode, urlparse

from flask import Blueprint, jsonify, redirect, render_template_string, request

from wxcrm.wechat.standin.rules import refuse
from wxcrm.wechat.standin.runtime import Runtime, rt
from wxcrm.wechat.standin.wire import ok

bp = Blueprint("standin_oauth", __name__)

CODE_SECONDS = 300
TOKEN_SECONDS = 7200
REFRESH_SECONDS = 30 * 24 * 3600
SCOPES = ("snsapi_base", "snsapi_userinfo")
DEFAULT_AVATAR = "https://thirdwx.qlogo.cn/mmopen/vi_32/standin/132"


@bp.get("/open/connect/oauth2/authorize")
def authorize():
    run, args = rt(), request.args
    if args.get("appid") != run.cfg.appid:
        raise refuse("oauth.appid")
    redirect_uri = args.get("redirect_uri", "")
    if not redirect_uri:
        raise refuse("oauth.redirect")
    if (urlparse(redirect_uri).hostname or "") != run.cfg.web_domain:
        raise refuse("oauth.domain")
    if args.get("response_type") != "code":
        raise refuse("oauth.response_type")
    scope = args.get("scope", "")
    if scope not in SCOPES:
        raise refuse("oauth.scope")
    openid = args.get("as_openid") or run.state.oauth_openid
    if not openid:
        return render_template_string(OAUTH_PAGE, args=args)
    run.state.see(openid)
    code = secrets.token_urlsafe(24)
    with run.state.lock:
        run.state.oauth_codes[code] = {"openid": openid, "scope": scope, "issued_at": run.now(), "used": False}
    sep = "&" if "?" in redirect_uri else "?"
    return redirect(redirect_uri + sep + urlencode({"code": code, "state": args.get("state", "")}))


def _check_app(run: Runtime) -> None:
    if request.args.get("appid") != run.cfg.appid:
        raise refuse("token.appid")
    if request.args.get("secret") != run.cfg.secret:
        raise refuse("token.secret")


def _issue(run: Runtime, openid: str, scope: str, refresh_token: str | None = None) -> dict:
    now = run.now()
    token = "standin-web-" + secrets.token_hex(16)
    refresh_token = refresh_token or "standin-refresh-" + secrets.token_hex(16)
    with run.state.lock:
        run.state.oauth_tokens[token] = {"openid": openid, "scope": scope, "expires_at": now + TOKEN_SECONDS}
        run.state.refresh_tokens.setdefault(refresh_token, {"openid": openid, "scope": scope,
                                                            "expires_at": now + REFRESH_SECONDS})
    return {"access_token": token, "expires_in": TOKEN_SECONDS, "refresh_token": refresh_token, "openid": openid,
            "scope": scope, "unionid": "union-" + openid}


@bp.get("/sns/oauth2/access_token")
def access_token():
    run = rt()
    _check_app(run)
    if request.args.get("grant_type") != "authorization_code":
        raise refuse("oauth.grant_type")
    with run.state.lock:
        found = run.state.oauth_codes.get(request.args.get("code", ""))
        if found is None or run.now() - found["issued_at"] >= CODE_SECONDS:
            raise refuse("oauth.code")
        if found["used"]:
            raise refuse("oauth.code_used")
        found["used"] = True
    return jsonify(_issue(run, found["openid"], found["scope"]))


@bp.get("/sns/oauth2/refresh_token")
def refresh():
    run = rt()
    if request.args.get("appid") != run.cfg.appid:
        raise refuse("token.appid")
    if request.args.get("grant_type") != "refresh_token":
        raise refuse("oauth.grant_type")
    rt_value = request.args.get("refresh_token", "")
    found = run.state.refresh_tokens.get(rt_value)
    if found is None or run.now() >= found["expires_at"]:
        raise refuse("oauth.refresh")
    return jsonify(_issue(run, found["openid"], found["scope"], rt_value))


def _web_token(run: Runtime) -> dict:
    found = run.state.oauth_tokens.get(request.args.get("access_token", ""))
    if found is None:
        raise refuse("oauth.token")
    if run.now() >= found["expires_at"]:
        raise refuse("oauth.token_expired")
    if request.args.get("openid", found["openid"]) != found["openid"]:
        raise refuse("oauth.openid")
    return found


@bp.get("/sns/userinfo")
def userinfo():
    run = rt()
    found = _web_token(run)
    if found["scope"] != "snsapi_userinfo":
        raise refuse("oauth.scope_userinfo")
    openid = found["openid"]
    # Since 2021-12-27 web authorization gives no gender or region.
    return jsonify({"openid": openid, "nickname": "微信用户", "sex": 0, "province": "", "city": "", "country": "",
                    "headimgurl": DEFAULT_AVATAR, "privilege": [], "unionid": "union-" + openid})


@bp.get("/sns/auth")
def check_token():
    _web_token(rt())
    return ok()


OAUTH_PAGE = """<!doctype html><meta charset="utf-8"><title>WeChat stand-in: sign in</title>
<body style="font-family:sans-serif;max-width:420px;margin:40px auto">
<h2>WeChat stand-in</h2><p>This page plays WeChat asking who you are ({{ args.get('scope') }}).</p>
<form method="get">{% for k, v in args.items() %}<input type="hidden" name="{{ k }}" value="{{ v }}">{% endfor %}
<label>openid <input name="as_openid" value="o-standin-user"></label> <button>Continue</button></form></body>"""
