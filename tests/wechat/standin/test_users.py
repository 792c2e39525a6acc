"""user/info: only what WeChat still gives since 2021-12-27; a non-follower is
subscribe 0 and nothing else; an openid the account never saw is invalid."""
from __future__ import annotations

import pytest
from wechatpy.exceptions import WeChatClientException

from tests.wechat.standin.conftest import assert_refused


def test_a_follower_has_no_nickname_avatar_gender_or_region(wx, wxapi):
    wx.push("subscribe", "o-u1", scene="store_S001")
    info = wxapi.user.get("o-u1")
    assert info["subscribe"] == 1 and info["subscribe_scene"] == "ADD_SCENE_QR_CODE"
    assert info["qr_scene_str"] == "store_S001" and info["subscribe_time"] > 0
    assert not {"nickname", "headimgurl", "sex", "city", "province", "country"} & set(info)


def test_a_user_who_left_is_subscribe_0_and_nothing_else(wx, wxapi):
    wx.push("subscribe", "o-u2")
    wx.push("unsubscribe", "o-u2")
    assert wxapi.user.get("o-u2") == {"subscribe": 0, "openid": "o-u2"}


def test_an_openid_never_seen_or_missing_is_refused(wx, wxapi):
    with pytest.raises(WeChatClientException) as err:
        wxapi.user.get("o-never")
    assert_refused(err.value, "user.openid")
    assert_refused(wx.get("/cgi-bin/user/info"), "user.missing")
