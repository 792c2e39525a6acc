"""JS-SDK config for the customer pages, signed by wechatpy with the shared ticket."""
from __future__ import annotations

import time

from wechatpy.utils import random_string

from wxcrm.config import Settings

# What the H5 pages use: the till code scanner, closing the page, sharing the card page.
JS_API_LIST = ("scanQRCode", "closeWindow", "updateAppMessageShareData", "updateTimelineShareData",
               "chooseWXPay", "addCard")


def jssdk_config(client, url: str, *, now: int | None = None, nonce: str | None = None) -> dict:
    ticket = client.jsapi.get_jsapi_ticket()
    timestamp = now or int(time.time())
    nonce = nonce or random_string(16)
    return {"appId": client.appid, "timestamp": timestamp, "nonceStr": nonce,
            "signature": client.jsapi.get_jsapi_signature(nonce, ticket, timestamp, url),
            "jsApiList": list(JS_API_LIST)}


def signable(url: str, settings: Settings) -> bool:
    """Only our own pages get a signature."""
    base = settings.public_url.rstrip("/") + "/"
    return url.startswith(base) and "#" not in url and len(url) < 1024
