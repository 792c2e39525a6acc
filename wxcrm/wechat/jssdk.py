"""JS-SDK config for the customer pages, signed by wechatpy with the shared ticket.

Served as JSON (``/wechat/jssdk``) and fetched by the page's script, so a page never
waits on WeChat to render.
"""
from __future__ import annotations

import time
from collections.abc import Mapping

from flask import Blueprint, abort, current_app, jsonify, request, session
from wechatpy.utils import random_string

from wxcrm.wechat.client import wechat_client

bp = Blueprint("wechat_jssdk", __name__)

# What the H5 pages use: the till code scanner, closing the page, sharing the card page.
JS_API_LIST = ("scanQRCode", "closeWindow", "updateAppMessageShareData", "updateTimelineShareData",
               "chooseWXPay")


def jssdk_config(client, url: str, *, now: int | None = None, nonce: str | None = None) -> dict:
    ticket = client.jsapi.get_jsapi_ticket()
    timestamp = now or int(time.time())
    nonce = nonce or random_string(16)
    return {"appId": client.appid, "timestamp": timestamp, "nonceStr": nonce,
            "signature": client.jsapi.get_jsapi_signature(nonce, ticket, timestamp, url),
            "jsApiList": list(JS_API_LIST)}


def signable(url: str, cfg: Mapping) -> bool:
    """Only our own pages get a signature."""
    base = cfg["WXCRM_PUBLIC_URL"].rstrip("/") + "/"
    return url.startswith(base) and "#" not in url and len(url) < 1024


@bp.get("/jssdk")
def config_for_page():
    if not session.get("openid"):
        abort(403)
    url = request.args.get("url", "")
    if not signable(url, current_app.config):
        abort(400)
    return jsonify(jssdk_config(wechat_client(), url))
