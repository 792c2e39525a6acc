"""Customer-service messages go only inside the windows a user opened: a message gives
5 within 48 h; a follow, a QR scan or a menu click 3 within a minute; a payment 48 h."""
from __future__ import annotations

import pytest
from wechatpy.exceptions import WeChatClientException

from tests.wechat.standin.conftest import assert_refused


def send(wxapi, openid: str, text: str = "您好，这里是客服"):
    try:
        return wxapi.message.send_text(openid, text)
    except WeChatClientException as exc:
        return {"errcode": exc.errcode, "errmsg": exc.errmsg}


def test_an_openid_the_account_never_saw_is_invalid(wxapi):
    assert_refused(send(wxapi, "o-nobody"), "custom.user")


def test_a_follower_who_did_nothing_has_no_window(wx, wxapi):
    wx.follow("o-c1")
    assert_refused(send(wxapi, "o-c1"), "custom.window")


def test_a_users_message_opens_five_messages_for_48_hours(wx, wxapi):
    assert wx.push("text", "o-c1", text="在吗")["status"] == 200
    for _ in range(5):
        assert send(wxapi, "o-c1")["errcode"] == 0
    assert_refused(send(wxapi, "o-c1"), "custom.quota")
    wx.push("text", "o-c1", text="还在吗")      # a new message starts a new count
    assert send(wxapi, "o-c1")["errcode"] == 0
    wx.advance(48 * 3600)
    wxapi.fetch_access_token()
    assert_refused(send(wxapi, "o-c1"), "custom.window")


@pytest.mark.parametrize("event, fields", [("subscribe", {}), ("scan", {"scene": "store_S001"}),
                                           ("click", {"key": "MY_POINTS"})])
def test_a_follow_scan_or_click_opens_three_messages_for_a_minute(wx, wxapi, event, fields):
    if event != "subscribe":
        wx.follow("o-c2")
    assert wx.push(event, "o-c2", **fields)["status"] == 200
    for _ in range(3):
        assert send(wxapi, "o-c2")["errcode"] == 0
    assert_refused(send(wxapi, "o-c2"), "custom.quota")
    wx.push(event, "o-c2", **fields)
    wx.advance(60)
    assert_refused(send(wxapi, "o-c2"), "custom.window")


def test_opening_a_web_page_from_the_menu_opens_no_window(wx, wxapi):
    wx.follow("o-c3")
    wx.push("view", "o-c3", url="http://localhost/h5/")
    assert_refused(send(wxapi, "o-c3"), "custom.window")


def test_a_user_who_unfollowed_cannot_be_written_to(wx, wxapi):
    wx.push("text", "o-c4", text="积分")
    wx.push("unsubscribe", "o-c4")
    assert_refused(send(wxapi, "o-c4"), "custom.window")
    refused = wx.push("text", "o-c4", text="我又来了")
    assert refused["_status"] == 409   # WeChat carries nothing from a user who does not follow


def test_a_message_wechat_cannot_carry_is_refused(wx):
    wx.push("text", "o-c5", text="在吗")
    assert_refused(wx.post("/cgi-bin/message/custom/send", {"touser": "o-c5", "msgtype": "fax"}), "custom.msgtype")
    assert_refused(wx.post("/cgi-bin/message/custom/send", {"touser": "o-c5", "msgtype": "text",
                                                            "text": {"content": ""}}), "custom.empty")
