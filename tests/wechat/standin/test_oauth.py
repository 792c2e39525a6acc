"""Web authorization: the authorize page checks appid, redirect domain, response_type and
scope; a code works once and for 5 minutes; sns/userinfo needs a snsapi_userinfo token."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
import requests
from wechatpy import WeChatOAuth
from wechatpy.exceptions import WeChatOAuthException

from tests.wechat.standin.conftest import APPID, SECRET, Routed, assert_refused, route
from wxcrm.wechat.standin.rules import RULE_BY_ID

BACK = "http://localhost/wechat/oauth/done"


def oauth(standin, scope: str = "snsapi_base", redirect_uri: str = BACK) -> WeChatOAuth:
    web = WeChatOAuth(APPID, SECRET, redirect_uri, scope=scope, state="s1")
    web._http = Routed(standin.url)
    return web


def code_for(standin, web: WeChatOAuth, openid: str = "o-o1") -> str:
    res = requests.get(route(web.authorize_url, standin.url), params={"as_openid": openid},
                       allow_redirects=False)
    assert res.status_code == 302, res.text
    target = urlparse(res.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == BACK
    return parse_qs(target.query)["code"][0]


def exchange(web: WeChatOAuth, code: str) -> dict:
    try:
        return web.fetch_access_token(code)
    except WeChatOAuthException as exc:
        return {"errcode": exc.errcode, "errmsg": exc.errmsg}


@pytest.mark.parametrize("change, rule", [
    ({"appid": "wx_other"}, "oauth.appid"),
    ({"redirect_uri": ""}, "oauth.redirect"),
    ({"redirect_uri": "http://evil.example/wechat/oauth/done"}, "oauth.domain"),
    ({"response_type": "token"}, "oauth.response_type"),
    ({"scope": "snsapi_login"}, "oauth.scope"),
])
def test_the_authorize_page_refuses_what_wechat_refuses(standin, change, rule):
    params = {"appid": APPID, "redirect_uri": BACK, "response_type": "code", "scope": "snsapi_base",
              "state": "s1", "as_openid": "o-o1", **change}
    res = requests.get(f"{standin.url}/open/connect/oauth2/authorize", params=params, allow_redirects=False)
    rule_obj = RULE_BY_ID[rule]
    assert res.status_code == 400 and f"{rule_obj.code} {rule_obj.message}" in res.text


def test_a_code_works_once(standin):
    web = oauth(standin)
    code = code_for(standin, web)
    token = exchange(web, code)
    assert token["openid"] == "o-o1" and token["scope"] == "snsapi_base" and token["expires_in"] == 7200
    assert_refused(exchange(oauth(standin), code), "oauth.code_used")
    assert_refused(exchange(oauth(standin), "made-up"), "oauth.code")


def test_a_code_is_good_for_five_minutes(standin, wx):
    web = oauth(standin)
    code = code_for(standin, web)
    wx.advance(300)
    assert_refused(exchange(web, code), "oauth.code")


def test_the_code_exchange_needs_the_accounts_secret_and_grant_type(standin):
    web = oauth(standin)
    code = code_for(standin, web)
    answer = requests.get(f"{standin.url}/sns/oauth2/access_token", params={
        "appid": APPID, "secret": "wrong", "code": code, "grant_type": "authorization_code"}).json()
    assert_refused(answer, "token.secret")
    answer = requests.get(f"{standin.url}/sns/oauth2/access_token", params={
        "appid": APPID, "secret": SECRET, "code": code, "grant_type": "client_credential"}).json()
    assert_refused(answer, "oauth.grant_type")


def test_userinfo_needs_a_snsapi_userinfo_token_and_gives_no_gender_or_region(standin, wx):
    base = oauth(standin)
    exchange(base, code_for(standin, base))
    with pytest.raises(WeChatOAuthException) as err:
        base.get_user_info()
    assert_refused({"errcode": err.value.errcode, "errmsg": err.value.errmsg}, "oauth.scope_userinfo")
    full = oauth(standin, "snsapi_userinfo")
    exchange(full, code_for(standin, full))
    info = full.get_user_info()
    assert info["openid"] == "o-o1" and info["nickname"] and info["sex"] == 0 and info["province"] == ""
    assert_refused(requests.get(f"{standin.url}/sns/userinfo", params={
        "access_token": full.access_token, "openid": "o-someone-else"}).json(), "oauth.openid")
    assert_refused(requests.get(f"{standin.url}/sns/userinfo", params={"access_token": "forged"}).json(),
                   "oauth.token")
    wx.advance(7200)
    with pytest.raises(WeChatOAuthException) as err:
        full.get_user_info()
    assert_refused({"errcode": err.value.errcode, "errmsg": err.value.errmsg}, "oauth.token_expired")


def test_a_refresh_token_renews_the_web_token_for_30_days(standin, wx):
    web = oauth(standin, "snsapi_userinfo")
    exchange(web, code_for(standin, web))
    wx.advance(7200)
    old = web.access_token
    renewed = web.refresh_access_token(web.refresh_token)
    assert renewed["openid"] == "o-o1" and renewed["access_token"] != old
    assert web.check_access_token()
    wx.advance(30 * 24 * 3600)
    with pytest.raises(WeChatOAuthException) as err:
        web.refresh_access_token(web.refresh_token)
    assert_refused({"errcode": err.value.errcode, "errmsg": err.value.errmsg}, "oauth.refresh")


def test_a_visitor_signed_in_is_known_but_not_a_follower(standin, wx):
    web = oauth(standin)
    exchange(web, code_for(standin, web, "o-visitor"))
    assert wx.get("/cgi-bin/user/info", openid="o-visitor") == {"subscribe": 0, "openid": "o-visitor"}
