"""QR codes: four kinds, scenes in range, temporary codes that expire (60 s unless told),
at most 100,000 permanent ones; showqrcode only for a live ticket."""
from __future__ import annotations

import pytest
import requests
from wechatpy.exceptions import WeChatClientException

from tests.wechat.standin.conftest import Routed, assert_refused
from wxcrm.wechat.standin.rules import RULE_BY_ID

GONE = RULE_BY_ID["qr.show"].code


def create(wxapi, data: dict):
    try:
        return wxapi.qrcode.create(data)
    except WeChatClientException as exc:
        return {"errcode": exc.errcode, "errmsg": exc.errmsg}


def scene(action: str, **scene_fields) -> dict:
    return {"action_name": action, "action_info": {"scene": scene_fields}}


@pytest.mark.parametrize("data, rule", [
    ({"action_name": "QR_FOREVER", "action_info": {"scene": {"scene_id": 1}}}, "qr.action_name"),
    (scene("QR_LIMIT_SCENE", scene_id=100_001), "qr.action_info"),
    (scene("QR_LIMIT_SCENE", scene_id=0), "qr.action_info"),
    (scene("QR_SCENE", scene_id=2**32), "qr.action_info"),
    (scene("QR_LIMIT_STR_SCENE", scene_str="s" * 65), "qr.action_info"),
    (scene("QR_STR_SCENE", scene_str=""), "qr.action_info"),
    (scene("QR_LIMIT_STR_SCENE", scene_id=5), "qr.action_info"),
    ({"action_name": "QR_SCENE", "action_info": {"scene_id": 5}}, "qr.action_info"),
    ({**scene("QR_STR_SCENE", scene_str="bind_1"), "expire_seconds": 2_592_001}, "qr.expire"),
])
def test_a_code_wechat_would_not_make_is_refused(wxapi, data, rule):
    assert_refused(create(wxapi, data), rule)


def test_the_four_kinds_are_made_and_a_permanent_scene_keeps_its_ticket(wxapi):
    store = create(wxapi, scene("QR_LIMIT_STR_SCENE", scene_str="store_S001"))
    assert "expire_seconds" not in store and store["url"].startswith("http://weixin.qq.com/q/")
    assert create(wxapi, scene("QR_LIMIT_STR_SCENE", scene_str="store_S001"))["ticket"] == store["ticket"]
    assert create(wxapi, scene("QR_LIMIT_SCENE", scene_id=100_000))["ticket"]
    assert create(wxapi, scene("QR_SCENE", scene_id=2**32 - 1))["expire_seconds"] == 60
    assert create(wxapi, {**scene("QR_STR_SCENE", scene_str="ref_12"), "expire_seconds": 2_592_000})[
        "expire_seconds"] == 2_592_000


def test_at_most_100000_permanent_codes(wx, wxapi):
    state = wx.run.state
    state.permanent_scenes.update({(True, f"s{n}"): f"t{n}" for n in range(99_999)})
    assert create(wxapi, scene("QR_LIMIT_STR_SCENE", scene_str="store_S001"))["ticket"]
    assert_refused(create(wxapi, scene("QR_LIMIT_STR_SCENE", scene_str="store_S002")), "qr.limit")
    assert create(wxapi, scene("QR_SCENE", scene_id=7))["ticket"]   # temporary codes are not counted


def test_showqrcode_shows_a_live_ticket_only(wx, wxapi, standin):
    http = Routed(standin.url)
    store = create(wxapi, scene("QR_LIMIT_STR_SCENE", scene_str="store_S001"))
    bind = create(wxapi, {**scene("QR_STR_SCENE", scene_str="bind_9"), "expire_seconds": 300})
    show = lambda ticket: http.get(wxapi.qrcode.get_url(ticket))
    assert show(bind["ticket"]).content[:4] == b"\x89PNG"
    assert requests.get(f"{standin.url}/mp/cgi-bin/showqrcode", params={"ticket": "forged"}).status_code == GONE
    wx.advance(300)
    assert show(bind["ticket"]).status_code == GONE
    assert show(store["ticket"]).status_code == 200
