"""The menu: 1..3 buttons, 1..5 sub-buttons, byte limits for names, keys and URLs,
known types only, two levels; WeChat's errcode for each."""
from __future__ import annotations

import pytest
from wechatpy.exceptions import WeChatClientException

from tests.wechat.standin.conftest import assert_refused

CLICK = {"type": "click", "name": "我的积分", "key": "MY_POINTS"}
VIEW = {"type": "view", "name": "会员卡", "url": "http://localhost/h5/"}
# the menu wxcrm publishes by default: card, points, and more (coupons, top-up, card number)
WXCRM_MENU = {"button": [VIEW, CLICK, {"name": "更多", "sub_button": [
    {"type": "click", "name": "我的优惠券", "key": "MY_COUPONS"},
    {"type": "view", "name": "储值充值", "url": "http://localhost/h5/topup"},
    {"type": "click", "name": "会员卡号", "key": "MY_CARD"}]}]}


def create(wxapi, menu: dict):
    try:
        return wxapi.menu.create(menu)
    except WeChatClientException as exc:
        return {"errcode": exc.errcode, "errmsg": exc.errmsg}


def parent(*subs, name="更多") -> dict:
    return {"name": name, "sub_button": list(subs)}


@pytest.mark.parametrize("menu, rule", [
    ({"button": []}, "menu.button_size"),
    ({"button": [CLICK] * 4}, "menu.button_size"),
    ({"button": [{**CLICK, "type": "tap"}]}, "menu.button_type"),
    ({"button": [{**CLICK, "name": "一个非常长的按钮名"}]}, "menu.button_name"),
    ({"button": [{**CLICK, "key": "K" * 129}]}, "menu.button_key"),
    ({"button": [{**VIEW, "url": "http://localhost/" + "x" * 1024}]}, "menu.button_url"),
    ({"button": [{**VIEW, "url": "javascript:alert(1)"}]}, "menu.button_domain"),
    ({"button": [parent()]}, "menu.sub_size"),
    ({"button": [parent(*[CLICK] * 6)]}, "menu.sub_size"),
    ({"button": [parent({**CLICK, "type": "tap"})]}, "menu.sub_type"),
    ({"button": [parent({**CLICK, "name": "名" * 21})]}, "menu.sub_name"),
    ({"button": [parent({**CLICK, "key": ""})]}, "menu.sub_key"),
    ({"button": [parent({**VIEW, "url": ""})]}, "menu.sub_url"),
    ({"button": [parent({**VIEW, "url": "ftp://localhost/h5"})]}, "menu.sub_domain"),
    ({"button": [parent(parent(CLICK))]}, "menu.level"),
    ({"button": [{"type": "media_id", "name": "图片", "media_id": "M1"}]}, "menu.media"),
])
def test_a_menu_breaking_wechats_limits_is_refused_with_its_code(wxapi, menu, rule):
    assert_refused(create(wxapi, menu), rule)


def test_wxcrms_default_menu_is_published_and_read_back(wx, wxapi):
    assert_refused(wx.get("/cgi-bin/menu/get"), "menu.none")
    assert wxapi.menu.get() is None   # wechatpy turns 46003 into None
    menu = WXCRM_MENU
    assert create(wxapi, menu)["errcode"] == 0
    assert wxapi.menu.get()["menu"]["button"] == menu["button"]
    assert create(wxapi, {"button": [parent(*[CLICK] * 5)]})["errcode"] == 0


def test_at_most_1000_menu_creations_a_day(wx, wxapi):
    wx.run.state.quotas[("menu", wx.run.clock.day())] = 1000
    assert_refused(create(wxapi, {"button": [CLICK]}), "menu.daily")
