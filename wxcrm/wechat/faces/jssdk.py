"""``/wechat/jssdk``: the JS-SDK config for a customer page, as JSON fetched by the page's
script, so a page never waits on WeChat to render."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, request, session

from wxcrm.config import current_settings
from wxcrm.extensions import db
from wxcrm.wechat.adapter.client import wechat_client
from wxcrm.wechat.adapter.jssdk import jssdk_config, signable

bp = Blueprint("wechat_jssdk", __name__)


@bp.get("/jssdk")
def config_for_page():
    if not session.get("openid"):
        abort(403)
    url = request.args.get("url", "")
    settings = current_settings()
    if not signable(url, settings):
        abort(400)
    return jsonify(jssdk_config(wechat_client(settings, db.engine), url))
