"""Access tokens: only for the account, 7200 s, the old one good for 5 minutes after a
new fetch, 2,000 fetches a Beijing day."""
from __future__ import annotations

import pytest
import requests
from wechatpy.exceptions import WeChatClientException

from tests.wechat.standin.conftest import APPID, SECRET, assert_refused


def fetch(wx, **params) -> dict:
    query = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET, **params}
    return requests.get(f"{wx.url}/cgi-bin/token", params=query).json()


@pytest.mark.parametrize("params, rule", [
    ({"grant_type": "password"}, "token.grant_type"),
    ({"appid": "wx_someone_else"}, "token.appid"),
    ({"secret": "not-the-secret"}, "token.secret"),
])
def test_a_token_is_only_for_the_accounts_appid_and_secret(wx, params, rule):
    assert_refused(fetch(wx, **params), rule)
    answer = fetch(wx)
    assert answer["access_token"] and answer["expires_in"] == 7200


def test_every_api_call_carries_a_token_the_standin_issued(wx):
    assert_refused(requests.get(f"{wx.url}/cgi-bin/menu/get").json(), "token.missing")
    assert_refused(requests.get(f"{wx.url}/cgi-bin/menu/get", params={"access_token": "forged"}).json(),
                   "token.unknown")


def test_a_token_dies_after_its_ttl_on_the_standin_clock(wx, wxapi):
    assert wxapi.jsapi.get_ticket("jsapi")["ticket"]
    wx.advance(7199)
    assert wxapi.jsapi.get_ticket("jsapi")["ticket"]
    wx.advance(1)
    with pytest.raises(WeChatClientException) as err:
        wxapi.jsapi.get_ticket("jsapi")
    assert_refused(err.value, "token.expired")


def test_a_new_fetch_keeps_the_previous_token_for_five_minutes(wx):
    old = wx.token()
    new = wx.token(fresh=True)
    assert wx.get("/cgi-bin/ticket/getticket", type="jsapi", access_token=old)["errcode"] == 0
    wx.advance(299)
    assert wx.get("/cgi-bin/ticket/getticket", type="jsapi", access_token=old)["errcode"] == 0
    wx.advance(1)
    assert_refused(wx.get("/cgi-bin/ticket/getticket", type="jsapi", access_token=old), "token.replaced")
    assert wx.get("/cgi-bin/ticket/getticket", type="jsapi", access_token=new)["errcode"] == 0


def test_at_most_2000_fetches_a_beijing_day(wx):
    wx.run.state.quotas[("token", wx.run.clock.day())] = 1999
    assert fetch(wx)["access_token"]
    assert_refused(fetch(wx), "token.daily")
    wx.advance(24 * 3600)
    assert fetch(wx)["access_token"]


def test_a_post_body_that_is_not_json_is_a_format_error(wx):
    answer = requests.post(f"{wx.url}/cgi-bin/menu/create", params={"access_token": wx.token()},
                           data=b"<xml>menu</xml>").json()
    assert_refused(answer, "api.json")
