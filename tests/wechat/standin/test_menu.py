"""The menu: 1..3 buttons, 1..5 sub-buttons, byte limits for names, keys and URLs,
known types only, two levels; WeChat's errcode for each."""
from __future__ import annotations

import pytest
from wechatpy.exceptions import WeChatClientException

from tests.wechat.standin.conftest import assert_refused
from wxcrm.wechat.menu import default_menu

CLICK = {"type": "click", "name": "我的积分", "key": "MY_POINTS"}
VIEW = {"type": "view", "name": "会员卡", "url": "http://localhost/h5/"}


def create(client, menu: dict):
    try:
        return client.menu.create(menu)
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
def test_a_menu_breaking_wechats_limits_is_refused_with_its_code(client, menu, rule):
    assert_refused(create(client, menu), rule)


def test_wxcrms_default_menu_is_published_and_read_back(wx, client):
    assert_refused(wx.get("/cgi-bin/menu/get"), "menu.none")
    assert client.menu.get() is None   # wechatpy turns 46003 into None
    menu = default_menu("http://localhost")
    assert create(client, menu)["errcode"] == 0
    assert client.menu.get()["menu"]["button"] == menu["button"]
    assert create(client, {"button": [parent(*[CLICK] * 5)]})["errcode"] == 0


def test_at_most_1000_menu_creations_a_day(wx, client):
    wx.run.state.quotas[("menu", wx.run.clock.day())] = 1000
    assert_refused(create(client, {"button": [CLICK]}), "menu.daily")
