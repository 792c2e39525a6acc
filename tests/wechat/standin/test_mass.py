"""Mass sends: 2..10,000 openids, known content, 100 calls a day, one clientmsgid a day,
four messages a user a month (the rest filtered), and the MASSSENDJOBFINISH report."""
from __future__ import annotations

import pytest
from wechatpy.exceptions import WeChatClientException

from tests.wechat.standin.conftest import assert_refused


def text(*openids, content="周末会员日，全场九折", **extra) -> dict:
    return {"touser": list(openids), "msgtype": "text", "text": {"content": content}, **extra}


def report_of(wx) -> dict:
    [pushed] = [p for p in wx.flush_jobs() if p["event"] == "MASSSENDJOBFINISH"]
    assert pushed["status"] == 200, pushed   # wxcrm took the event
    return pushed["report"]


def test_a_mass_send_to_one_openid_is_refused_as_wechat_does(wx, wxapi):
    wx.follow("o-m1")
    with pytest.raises(WeChatClientException) as err:
        wxapi.message.send_mass_text(["o-m1"], "只有一个人")
    assert_refused(err.value, "mass.openid_count")
    assert_refused(wx.post("/cgi-bin/message/mass/send", text(*[f"o-{n}" for n in range(10_001)])),
                   "mass.openid_count")


def test_two_followers_get_it_and_wechat_reports_the_job(wx, wxapi):
    wx.follow("o-m1", "o-m2")
    answer = wxapi.message.send_mass_text(["o-m1", "o-m2", "o-stranger"], "周末会员日", client_msg_id="c-1")
    assert answer["errmsg"] == "send job submission success" and answer["msg_id"]
    report = report_of(wx)
    assert report == {"MsgID": str(answer["msg_id"]), "Status": "send success", "TotalCount": "3",
                      "FilterCount": "2", "SentCount": "2", "ErrorCount": "0"}


@pytest.mark.parametrize("body, rule", [
    ({"msgtype": "fax", "fax": {}}, "mass.msgtype"),
    ({"msgtype": "text", "text": {"content": "  "}}, "mass.empty"),
    ({"msgtype": "mpnews", "mpnews": {"media_id": "m-1"}}, "mass.media"),
    ({"msgtype": "wxcard", "wxcard": {"card_id": "p-unknown"}}, "mass.card"),
])
def test_content_wechat_cannot_send_is_refused(wx, body, rule):
    wx.follow("o-m1", "o-m2")
    assert_refused(wx.post("/cgi-bin/message/mass/send", {"touser": ["o-m1", "o-m2"], **body}), rule)


def test_a_user_gets_four_mass_messages_a_calendar_month_then_is_filtered(wx, wxapi):
    wx.follow("o-m1", "o-m2")
    for n in range(4):
        wxapi.message.send_mass_text(["o-m1", "o-m2"], f"第{n + 1}条")
    wx.flush_jobs()
    wx.follow("o-m3")
    wxapi.message.send_mass_text(["o-m1", "o-m2", "o-m3"], "第五条")
    assert report_of(wx)["FilterCount"] == "1"   # only o-m3 still had room this month
    wx.advance(32 * 24 * 3600)
    wxapi.fetch_access_token()   # a month later the old token is long dead
    wxapi.message.send_mass_text(["o-m1", "o-m2"], "下个月")
    assert report_of(wx)["SentCount"] == "2"


def test_a_clientmsgid_and_the_same_content_to_the_same_people_go_once_a_day(wx):
    wx.follow("o-m1", "o-m2")
    assert wx.post("/cgi-bin/message/mass/send", text("o-m1", "o-m2", clientmsgid="cm-1"))["errcode"] == 0
    assert_refused(wx.post("/cgi-bin/message/mass/send", text("o-m1", "o-m2", content="别的", clientmsgid="cm-1")),
                   "mass.clientmsgid")
    assert wx.post("/cgi-bin/message/mass/send", text("o-m1", "o-m2"))["errcode"] == 0
    assert_refused(wx.post("/cgi-bin/message/mass/send", text("o-m2", "o-m1")), "mass.clientmsgid")
    wx.advance(24 * 3600)
    assert wx.post("/cgi-bin/message/mass/send", text("o-m1", "o-m2"))["errcode"] == 0


def test_at_most_100_mass_send_calls_a_day(wx):
    wx.follow("o-m1", "o-m2")
    wx.run.state.quotas[("mass", wx.run.clock.day())] = 99
    assert wx.post("/cgi-bin/message/mass/send", text("o-m1", "o-m2", content="第100次"))["errcode"] == 0
    assert_refused(wx.post("/cgi-bin/message/mass/send", text("o-m1", "o-m2", content="第101次")), "mass.daily")


def test_sendall_to_everyone_four_times_a_month_and_never_by_tag(wx, wxapi):
    wx.follow("o-m1", "o-m2")
    for n in range(4):
        wxapi.message.send_mass_text(None, f"全员{n}", is_to_all=True)
    with pytest.raises(WeChatClientException) as err:
        wxapi.message.send_mass_text(None, "全员5", is_to_all=True)
    assert_refused(err.value, "mass.sendall_quota")
    with pytest.raises(WeChatClientException) as err:
        wxapi.message.send_mass_text(7, "按标签")
    assert_refused(err.value, "mass.tag")


def test_a_preview_goes_only_to_a_follower(wx, wxapi):
    follower, gone = "oPreviewFollower0000000000ab", "oPreviewUnfollowed000000000x"   # real openids are 28 long
    wx.follow(follower)
    wx.follow(gone, subscribed=False)
    assert wxapi.message.send_mass_text(follower, "预览", preview=True)["errmsg"] == "preview success"
    with pytest.raises(WeChatClientException) as err:
        wxapi.message.send_mass_text(gone, "预览", preview=True)
    assert_refused(err.value, "mass.preview_user")
    assert not wx.flush_jobs()   # previews are not reported
