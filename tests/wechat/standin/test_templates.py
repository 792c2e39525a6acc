"""Template messages: the account's templates only, to followers only, every keyword
fitting its type; WeChat reports each send with TEMPLATESENDJOBFINISH."""
from __future__ import annotations

import pytest
from wechatpy.exceptions import WeChatClientException

from tests.wechat.standin.conftest import assert_refused


def template_data(fields: dict) -> dict:
    return {key: {"value": value} for key, value in fields.items()}


POINTS = {"thing1": {"value": "南京西路店"}, "character_string2": {"value": "+20"}, "number3": {"value": "1520"}}


def send(wxapi, openid: str, template_id: str, data: dict, **kw):
    try:
        return wxapi.message.send_template(openid, template_id, data, **kw)
    except WeChatClientException as exc:
        return {"errcode": exc.errcode, "errmsg": exc.errmsg}


def test_an_unknown_template_id_is_invalid(wx, wxapi):
    wx.follow("o-t1")
    assert_refused(send(wxapi, "o-t1", "TPL_NOT_OURS", POINTS), "template.id")


def test_only_followers_receive_template_messages(wx, wxapi):
    assert_refused(send(wxapi, "o-nobody", "TPL_POINTS_CHANGED", POINTS), "template.user")
    wx.follow("o-left", subscribed=False)
    assert_refused(send(wxapi, "o-left", "TPL_POINTS_CHANGED", POINTS), "template.subscribe")


def test_a_follower_gets_it_and_wechat_reports_success_or_a_block(wx, wxapi):
    wx.follow("o-t1")
    wx.follow("o-t2", blocks_templates=True)
    first = send(wxapi, "o-t1", "TPL_POINTS_CHANGED", POINTS, url="http://localhost/h5/points")
    second = send(wxapi, "o-t2", "TPL_POINTS_CHANGED", POINTS)
    assert first["errcode"] == 0 and first["msgid"]
    reports = {p["msgid"]: p for p in wx.flush_jobs()}
    assert reports[first["msgid"]]["report"] == {"Status": "success"} and reports[first["msgid"]]["status"] == 200
    assert reports[second["msgid"]]["report"] == {"Status": "failed:user block"}


@pytest.mark.parametrize("key, good, bad", [
    ("thing1", "南京西路店", "一" * 21),
    ("number1", "12.5", "+20"),
    ("number1", "1520", "-30"),
    ("character_string1", "8800000123", "卡号8800"),
    ("amount1", "¥12.50", "12.5.0元"),
    ("amount1", "100元", "一百元"),
    ("time1", "2026年3月10日 15:01", "15点01分"),
    ("time1", "2026-03-10 15:01:02", "2026-03-10"),
    ("date1", "2026-03-10", "下周二"),
    ("date1", "2026年3月10日~2026年3月12日", "2026-03-10T00:00"),
    ("phrase1", "已到账", "已经到账了啊"),
    ("phrase1", "配送中", "ok"),
    ("phone_number1", "+86-021-66888866", "电话"),
    ("car_number1", "粤A8Z888挂", "粤A8Z888挂888"),
    ("name1", "张三", "张三李四王五赵六孙七周"),
    ("letter1", "ABC", "A1"),
    ("symbol1", "~!", "abc"),
    ("thing1", "门店", ""),
])
def test_each_keyword_type_takes_what_wechat_takes(wx, wxapi, key, good, bad):
    assert wx.control("templates", {"template_id": "TPL_ONE", "keywords": [key]}).ok
    wx.follow("o-t1")
    assert send(wxapi, "o-t1", "TPL_ONE", {key: {"value": good}})["errcode"] == 0
    assert_refused(send(wxapi, "o-t1", "TPL_ONE", {key: {"value": bad}}), "template.value", key=key)


def test_a_missing_keyword_and_an_unapproved_const_are_invalid(wx, wxapi):
    assert wx.control("templates", {"template_id": "TPL_SHIP", "keywords": ["thing1", "const2"],
                                    "const_values": {"const2": ["已发货", "已签收"]}}).ok
    wx.follow("o-t1")
    assert send(wxapi, "o-t1", "TPL_SHIP", {"thing1": {"value": "会员礼包"}, "const2": {"value": "已发货"}})[
        "errcode"] == 0
    assert_refused(send(wxapi, "o-t1", "TPL_SHIP", {"thing1": {"value": "会员礼包"}}), "template.value", key="const2")
    assert_refused(send(wxapi, "o-t1", "TPL_SHIP", {"thing1": {"value": "会员礼包"}, "const2": {"value": "在路上"}}),
                   "template.value", key="const2")


def test_the_default_templates_take_what_wxcrm_should_send(wx, wxapi):
    wx.follow("o-t1")
    expiring = template_data({"character_string1": "8800000123", "date2": "2026-04-01"})
    assert send(wxapi, "o-t1", "TPL_MEMBERSHIP_EXPIRING", expiring)["errcode"] == 0
    # the points change is signed ("+20"): a character_string; a number keyword is digits only
    assert send(wxapi, "o-t1", "TPL_POINTS_CHANGED", POINTS)["errcode"] == 0
    assert wx.control("templates", {"template_id": "TPL_NUMBER", "keywords": ["thing1", "number2"]}).ok
    signed = template_data({"thing1": "南京西路店", "number2": "+20"})
    assert_refused(send(wxapi, "o-t1", "TPL_NUMBER", signed), "template.value", key="number2")


def test_the_same_client_msg_id_sends_once_in_ten_minutes(wx):
    wx.follow("o-t1")
    body = {"touser": "o-t1", "template_id": "TPL_POINTS_CHANGED", "data": POINTS, "client_msg_id": "pts-1"}
    first = wx.post("/cgi-bin/message/template/send", body)
    assert wx.post("/cgi-bin/message/template/send", body)["msgid"] == first["msgid"]
    assert len(wx.flush_jobs()) == 1


def test_at_most_100000_template_messages_a_day(wx):
    wx.follow("o-t1")
    wx.run.state.quotas[("template", wx.run.clock.day())] = 100_000
    body = {"touser": "o-t1", "template_id": "TPL_POINTS_CHANGED", "data": POINTS}
    assert_refused(wx.post("/cgi-bin/message/template/send", body), "template.daily")


def test_a_template_registration_names_known_keyword_types(wx):
    assert wx.control("templates", {"template_id": "TPL_BAD", "keywords": ["colour1"]}).status_code == 400
    ids = [t["template_id"] for t in wx.control("templates", method="GET").json()]
    assert "TPL_POINTS_CHANGED" in ids and "TPL_BAD" not in ids
