"""The small things every API handler needs: the JSON body and WeChat's answer."""
from __future__ import annotations

import json

from flask import jsonify, request

from wxcrm.wechat.standin.rules import refuse


def json_body() -> dict:
    try:
        data = json.loads(request.get_data(as_text=True) or "null")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise refuse("api.json")
    return data


def ok(errmsg: str = "ok", **fields):
    return jsonify({"errcode": 0, "errmsg": errmsg, **fields})
