"""Issue 12, item 6: each store's permanent WeChat QR code (through wechatpy and the
stand-in, with WeChat's limits), its poster in PNG and SVG, and a scan that follows and sets
the home store."""
from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from wxcrm.cards import store_qr
from wxcrm.config import settings_for
from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.members.models import Member
from wxcrm.timeutil import utcnow
from wxcrm.wechat.adapter.client import wechat_client


def test_a_store_gets_one_permanent_qr_code_and_a_poster_that_scans(app, make, standin, client):
    store = make.store("S001", name="静安旗舰店")
    admin = make.staff("admin")
    client.post("/login", data={"username": admin.username, "password": "password123"})
    assert b"create-qr" in client.get(f"/console/cards/stores/{store.id}").data
    r = client.post(f"/console/cards/stores/{store.id}", data={"action": "create_qr"})
    assert r.status_code == 302
    client.post(f"/console/cards/stores/{store.id}", data={"action": "create_qr"})   # made once, kept
    [call] = standin.calls("/cgi-bin/qrcode/create")
    assert call["body"]["action_name"] == "QR_LIMIT_STR_SCENE"
    assert call["body"]["action_info"] == {"scene": {"scene_str": "store_S001"}}
    kept = store_qr.store_qr(db.session, store)
    page = client.get(f"/console/cards/stores/{store.id}").get_data(as_text=True)
    assert 'data-testid="poster"' in page and "静安旗舰店" in page
    png = client.get(f"/console/cards/stores/{store.id}/poster.png")
    assert png.mimetype == "image/png"
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))
    assert found.text == kept.qr_url
    svg = client.get(f"/console/cards/stores/{store.id}/poster.svg")
    assert svg.mimetype == "image/svg+xml" and "静安旗舰店" in svg.get_data(as_text=True)
    assert "微信扫一扫" in svg.get_data(as_text=True) and "Scan with WeChat" in svg.get_data(as_text=True)

    standin.push("subscribe", "o-poster", scene=kept.qr_scene)          # a customer scans the poster
    member = db.session.scalar(select(Member).where(Member.openid == "o-poster"))
    assert member is not None and member.home_store_id == store.id


def test_wechat_refusing_the_qr_code_is_a_clear_error_and_stores_nothing(app, make, standin):
    store = make.store("S002")
    standin.fail_next(1, errcode=45009, path="/cgi-bin/qrcode/create")
    client = wechat_client(settings_for(app), db.engine)
    with pytest.raises(DomainError) as caught:
        store_qr.create_store_qr(db.session, client, store, now=utcnow())
    assert caught.value.code == "wechat_qr_failed" and caught.value.params["errcode"] == 45009
    assert store_qr.store_qr(db.session, store) is None


def test_the_stand_in_keeps_wechats_qr_limits(app, standin):
    client = wechat_client(settings_for(app), db.engine)
    from wechatpy.exceptions import WeChatClientException
    with pytest.raises(WeChatClientException) as long_scene:
        client.qrcode.create({"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "s" * 65}}})
    assert long_scene.value.errcode == 40053
    with pytest.raises(WeChatClientException) as too_long:
        client.qrcode.create({"action_name": "QR_STR_SCENE", "expire_seconds": 2_592_001,
                              "action_info": {"scene": {"scene_str": "ref_1"}}})
    assert too_long.value.errcode == 40053
    ok = client.qrcode.create({"action_name": "QR_STR_SCENE", "expire_seconds": 2_592_000,
                               "action_info": {"scene": {"scene_str": "ref_1"}}})
    assert ok["expire_seconds"] == 2_592_000
