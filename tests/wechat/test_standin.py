"""The stand-in pushes signed (and encrypted) events into the running wxcrm, as in the demo."""
from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from tests.conftest import AES_KEY, configured
from wxcrm.config import settings_for
from wxcrm.extensions import db
from wxcrm.members.models import Member


@pytest.fixture(params=["plaintext", "safe"])
def mode(request, app, standin):
    key = AES_KEY if request.param == "safe" else ""
    saved = standin.app.config["STANDIN"].aes_key
    standin.app.config["STANDIN"].aes_key = key
    with configured(app, WECHAT_AES_KEY=key):
        yield request.param
    standin.app.config["STANDIN"].aes_key = saved


def test_a_user_follows_with_a_store_scene_then_types_points(mode, make, standin):
    store = make.store("S001")
    res = requests.post(f"{standin.url}/standin/push",
                        json={"event": "subscribe", "openid": "o-demo", "scene": "store_S001"}).json()
    assert res["status"] == 200 and "会员卡已开通" in res["reply"]
    db.session.expire_all()
    member = db.session.scalar(select(Member).where(Member.openid == "o-demo"))
    assert member.home_store_id == store.id and member.card_no in res["reply"]
    res = requests.post(f"{standin.url}/standin/push", json={"event": "text", "openid": "o-demo", "text": "积分"}).json()
    assert "您的积分：0" in res["reply"]
    page = requests.get(f"{standin.url}/standin/").text
    assert "o-demo" in page and "store_S001" in page


def test_the_standin_records_calls_and_can_fail_on_request(standin):
    standin.follow("o1")   # WeChat answers user/info only for openids of the account
    standin.fail_next(1, errcode=45009, path="/cgi-bin/user")
    token = requests.get(f"{standin.url}/cgi-bin/token", params={
        "grant_type": "client_credential", "appid": "wx_demo_appid", "secret": "demo_secret"}).json()["access_token"]
    first = requests.get(f"{standin.url}/cgi-bin/user/info", params={"access_token": token, "openid": "o1"}).json()
    second = requests.get(f"{standin.url}/cgi-bin/user/info", params={"access_token": token, "openid": "o1"}).json()
    assert first["errcode"] == 45009 and second["openid"] == "o1" and "nickname" not in second
    assert requests.get(f"{standin.url}/cgi-bin/user/info", params={"access_token": "nope"}).json()["errcode"] == 40001
    assert [c["path"] for c in standin.calls("/cgi-bin/user")] == ["/cgi-bin/user/info"]
    assert all("access_token" not in c["query"] for c in standin.calls())


def test_store_qr_codes_are_created_and_shown(app, standin):
    from wxcrm.wechat.adapter.client import qrcode_image, wechat_client
    client = wechat_client(settings_for(app), db.engine)
    res = client.qrcode.create({"action_name": "QR_LIMIT_STR_SCENE",
                                "action_info": {"scene": {"scene_str": "store_S001"}}})
    assert qrcode_image(client, res["ticket"])[:4] == b"\x89PNG"
