"""JS-SDK tickets: jsapi or wx_card only, 7200 s; a page signed with a live ticket passes
wx.config, one signed with a dead ticket does not."""
from __future__ import annotations

import time

import pytest
from wechatpy.exceptions import WeChatClientException

from tests.wechat.standin.conftest import assert_refused

PAGE = "http://localhost/h5/points"


def jssdk_config(wxapi, url: str) -> dict:
    """What a customer page passes to wx.config, signed with the account's jsapi ticket."""
    ticket, nonce, timestamp = wxapi.jsapi.get_jsapi_ticket(), "n0nce5tr", int(time.time())
    return {"nonceStr": nonce, "timestamp": timestamp,
            "signature": wxapi.jsapi.get_jsapi_signature(nonce, ticket, timestamp, url)}


def config_passes(wx, cfg: dict, url: str = PAGE) -> bool:
    return wx.control("jssdk/verify", {"url": url, **cfg}).json()["ok"]


def test_only_jsapi_and_wx_card_tickets_exist(wxapi):
    assert wxapi.jsapi.get_ticket("wx_card")["expires_in"] == 7200
    with pytest.raises(WeChatClientException) as err:
        wxapi.jsapi.get_ticket("jsapi_v2")
    assert_refused(err.value, "ticket.type")


def test_a_page_signed_by_wxcrm_passes_until_the_ticket_dies_and_a_refreshed_one_works(wx, wxapi):
    cfg = jssdk_config(wxapi, PAGE)
    assert config_passes(wx, cfg)
    assert not config_passes(wx, {**cfg, "nonceStr": "tampered"})
    assert not config_passes(wx, cfg, PAGE + "?member_id=2")
    wx.advance(7200)
    assert not config_passes(wx, cfg)
    wxapi.fetch_access_token()
    wxapi.session.delete(f"{wxapi.appid}_jsapi_ticket")
    assert config_passes(wx, jssdk_config(wxapi, PAGE))
