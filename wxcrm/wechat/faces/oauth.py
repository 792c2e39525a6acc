"""WeChat OAuth for the customer pages (snsapi_base; snsapi_userinfo where a profile is
needed). The member is found from the openid and kept in the signed session cookie as
``member_id``; no customer page takes a member id from the URL."""
from __future__ import annotations

import logging
import secrets
from urllib.parse import urlparse

from flask import Blueprint, abort, redirect, request, session, url_for
from wechatpy.exceptions import WeChatOAuthException

from wxcrm.config import current_settings
from wxcrm.extensions import db
from wxcrm.members.service import member_for_openid
from wxcrm.wechat.adapter.client import oauth_authorize_url, wechat_oauth

log = logging.getLogger(__name__)

bp = Blueprint("wechat_oauth", __name__)
SCOPES = ("snsapi_base", "snsapi_userinfo")


def safe_next(target: str | None) -> str:
    """Only our own customer pages: never an absolute URL or another site."""
    default = "/h5/"
    if not target:
        return default
    parts = urlparse(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/h5") or "\\" in target:
        return default
    return target


@bp.get("/start")
def start():
    scope = request.args.get("scope", "snsapi_base")
    if scope not in SCOPES:
        abort(400)
    state = secrets.token_urlsafe(16)
    session["oauth"] = {"state": state, "next": safe_next(request.args.get("next")), "scope": scope}
    settings = current_settings()
    redirect_uri = settings.public_url.rstrip("/") + url_for(".done")
    return redirect(oauth_authorize_url(wechat_oauth(settings, redirect_uri, scope, state), settings))


@bp.get("/done")
def done():
    pending = session.pop("oauth", None)
    state = request.args.get("state", "")
    if not pending or not secrets.compare_digest(state, pending.get("state", "")):
        log.warning("wechat oauth: state mismatch")
        abort(400)
    code = request.args.get("code")
    if not code:  # the customer declined snsapi_userinfo: carry on with what we had
        return redirect(pending["next"])
    oauth = wechat_oauth(current_settings(), "", pending["scope"], state)
    try:
        oauth.fetch_access_token(code)
        unionid = None
        if pending["scope"] == "snsapi_userinfo":
            unionid = oauth.get_user_info().get("unionid")
    except WeChatOAuthException as exc:
        log.warning("wechat oauth: code exchange failed: %s", exc)
        abort(502)
    member = member_for_openid(db.session, oauth.open_id, unionid)
    db.session.commit()
    kept_scope = session.get("oauth_scope", "snsapi_base") if session.get("openid") == oauth.open_id else "snsapi_base"
    session.pop("member_id", None)
    session["openid"] = oauth.open_id
    session["oauth_scope"] = "snsapi_userinfo" if pending["scope"] == "snsapi_userinfo" else kept_scope
    if member is not None:
        session["member_id"] = member.id
    return redirect(pending["next"])
