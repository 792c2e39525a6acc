"""Customer pages know the member only from WeChat OAuth (via the stand-in's real
authorize page), never from an id in the URL."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import requests

from wxcrm.extensions import db
from wxcrm.members.models import Member


def sign_in_through_wechat(client, standin, openid: str, page: str = "/h5/", scope_hint: str | None = None):
    """Follow the redirects a phone would: our page -> OAuth start -> WeChat -> back."""
    res = client.get(page)
    assert res.status_code == 302 and "/wechat/oauth/start" in res.location, res.location
    res = client.get(res.location)
    authorize = res.location
    assert authorize.startswith(f"{standin.url}/open/connect/oauth2/authorize"), authorize
    if scope_hint:
        assert f"scope={scope_hint}" in authorize
    back = requests.get(authorize, params={"as_openid": openid}, allow_redirects=False)
    assert back.status_code == 302
    target = urlparse(back.headers["Location"])
    assert target.path == "/wechat/oauth/done"
    res = client.get(f"{target.path}?{target.query}")
    assert res.status_code == 302
    return res.location


def test_a_member_opening_their_card_is_identified_by_oauth(client, make, standin):
    member = make.member(openid="o-h5")
    assert sign_in_through_wechat(client, standin, "o-h5", "/h5/points") == "/h5/points"
    page = client.get("/h5/").get_data(as_text=True)
    assert f"{member.card_no[:4]} •••• {member.card_no[-4:]}" in page      # the card face masks the number
    with client.session_transaction() as s:
        assert s["member_id"] == member.id and s["openid"] == "o-h5"


def test_an_id_in_the_url_never_shows_another_members_data(client, make, standin):
    me, other = make.member(openid="o-me"), make.member(openid="o-other")
    sign_in_through_wechat(client, standin, "o-me")
    for url in (f"/h5/?member_id={other.id}", f"/h5/points?member_id={other.id}&openid=o-other"):
        page = client.get(url).get_data(as_text=True)
        assert other.card_no[8:] not in page
    assert me.card_no[-4:] in client.get("/h5/").get_data(as_text=True)


def test_a_visitor_who_does_not_follow_yet_sees_the_welcome_page(client, standin):
    sign_in_through_wechat(client, standin, "o-stranger")
    page = client.get("/h5/").get_data(as_text=True)
    assert 'data-testid="vcard"' not in page


def test_an_oauth_return_with_a_forged_state_is_refused(client, standin):
    client.get("/wechat/oauth/start?next=/h5/")
    assert client.get("/wechat/oauth/done?code=x&state=forged").status_code == 400
    assert client.get("/wechat/oauth/done?code=x&state=").status_code == 400


def test_oauth_never_sends_the_customer_to_another_site(client, standin):
    res = client.get("/wechat/oauth/start?next=https://evil.example/")
    with client.session_transaction() as s:
        assert s["oauth"]["next"] == "/h5/"
    assert res.status_code == 302


def test_a_used_code_cannot_sign_in_twice(client, make, standin):
    make.member(openid="o-once")
    client.get("/h5/")
    authorize = client.get("/wechat/oauth/start?next=/h5/").location
    back = urlparse(requests.get(authorize, params={"as_openid": "o-once"}, allow_redirects=False).headers["Location"])
    assert client.get(f"{back.path}?{back.query}").status_code == 302
    state = parse_qs(back.query)["state"][0]
    with client.session_transaction() as s:
        s["oauth"] = {"state": state, "next": "/h5/", "scope": "snsapi_base"}
    assert client.get(f"{back.path}?{back.query}").status_code == 502  # WeChat says 40029


def test_the_profile_page_asks_for_userinfo_and_keeps_the_unionid(client, make, standin):
    member = make.member(openid="o-prof")
    sign_in_through_wechat(client, standin, "o-prof")
    res = client.get("/h5/profile")
    assert "scope=snsapi_userinfo" in res.location
    sign_in_through_wechat(client, standin, "o-prof", "/h5/profile", scope_hint="snsapi_userinfo")
    assert client.get("/h5/profile").status_code == 200
    res = client.post("/h5/profile", data={"name": "李雷", "gender": "male", "birthday": "1990-05-04"})
    assert res.status_code == 302
    db.session.expire_all()
    saved = db.session.get(Member, member.id)
    assert (saved.name, saved.gender, str(saved.birthday), saved.unionid) == ("李雷", "male", "1990-05-04", "union-o-prof")
    page = client.post("/h5/profile", data={"name": "李雷", "gender": "male", "birthday": "1991-01-01"})
    assert page.status_code == 200 and "您的生日已设置" in page.get_data(as_text=True)   # by its code, in Chinese
