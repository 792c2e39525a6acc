"""WeChat pushes events to /wechat/callback over real HTTP, signed (and in safe mode
encrypted) with wechatpy's own crypto; every test runs in plaintext and safe mode."""
from __future__ import annotations

import time

import requests
from sqlalchemy import func, select

from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.ledger.service import Cause
from wxcrm.members.models import Member
from wxcrm.messages.models import Contact
from wxcrm.wechat.adapter.models import InboundEvent


def member_by_openid(openid: str) -> Member | None:
    db.session.expire_all()
    return db.session.scalar(select(Member).where(Member.openid == openid))


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


# ---------------------------------------------------------------- URL check

def test_wechat_checks_the_url_with_echostr(wechat):
    ts, nonce = str(int(time.time())), "n0nce"
    params = {"signature": wechat.signature(ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": "hello-123"}
    res = requests.get(f"{wechat.url}/wechat/callback", params=params)
    assert res.status_code == 200 and res.text == "hello-123"
    res = requests.get(f"{wechat.url}/wechat/callback", params=params | {"signature": "f" * 40})
    assert res.status_code == 403


# ---------------------------------------------------------------- follow

def test_a_new_follower_becomes_a_member_with_a_card_and_a_welcome(wechat):
    reply = wechat.send(wechat.event("o-new", "subscribe"))
    member = member_by_openid("o-new")
    assert member is not None and member.followed and member.status == "active"
    assert member.card_no in reply and "/h5/" in reply
    assert db.session.scalar(select(Contact.openid).where(Contact.openid == "o-new"))


def test_following_from_a_store_poster_records_the_home_store(wechat, make):
    store = make.store("S001")
    wechat.send(wechat.event("o-store", "subscribe", "qrscene_store_S001"))
    assert member_by_openid("o-store").home_store_id == store.id


def test_following_a_friends_code_records_the_referrer(wechat, make):
    friend = make.member(openid="o-friend")
    wechat.send(wechat.event("o-referred", "subscribe", f"qrscene_ref_{friend.id}"))
    assert member_by_openid("o-referred").referrer_id == friend.id


def test_a_code_naming_nobody_is_ignored_and_the_member_still_joins(wechat, make):
    wechat.send(wechat.event("o-odd", "subscribe", "qrscene_ref_999999"))
    wechat.send(wechat.event("o-odd2", "subscribe", "qrscene_store_NOPE"))
    assert member_by_openid("o-odd").referrer_id is None
    assert member_by_openid("o-odd2").home_store_id is None


def test_unfollowing_keeps_the_member_and_following_again_welcomes_them_back(wechat, make):
    member = make.member(openid="o-back")
    ledger.credit_value(db.session, member.id, 5_000, Cause(kind="topup", ref="t-back"))
    db.session.commit()
    wechat.send(wechat.event("o-back", "subscribe"))
    assert member_by_openid("o-back").followed
    assert wechat.send(wechat.event("o-back", "unsubscribe")) == ""
    gone = member_by_openid("o-back")
    assert gone is not None and not gone.followed and gone.card_no == member.card_no
    reply = wechat.send(wechat.event("o-back", "subscribe", create_time=int(time.time()) + 1))
    again = member_by_openid("o-back")
    assert again.followed and again.id == member.id and member.card_no in reply
    assert count(Member) == 1
    assert ledger.balance(db.session, member.id, "stored_value") == 5_000


def test_scanning_a_store_code_records_a_home_store_only_once(wechat, make):
    first, second = make.store("S001"), make.store("S002")
    make.member(openid="o-scan")
    reply = wechat.send(wechat.event("o-scan", "SCAN", "store_S001"))
    assert first.name in reply
    wechat.send(wechat.event("o-scan", "SCAN", "store_S002", create_time=int(time.time()) + 1))
    assert member_by_openid("o-scan").home_store_id == first.id != second.id


def test_an_old_member_scanning_a_friends_code_is_not_a_referral(wechat, make):
    friend = make.member(openid="o-f2")
    make.member(openid="o-old")  # joined 2026-01-01, long before today
    wechat.send(wechat.event("o-old", "SCAN", f"ref_{friend.id}"))
    assert member_by_openid("o-old").referrer_id is None


# ---------------------------------------------------------------- menu and keywords

def test_menu_clicks_answer_card_points_and_coupons(wechat, make):
    member = make.member(openid="o-click")
    wechat.send(wechat.event("o-click", "subscribe"))
    assert member.card_no in wechat.send(wechat.event("o-click", "CLICK", "MY_CARD", int(time.time()) + 1))
    assert "积分" in wechat.send(wechat.event("o-click", "CLICK", "MY_POINTS", int(time.time()) + 2))
    coupons = wechat.send(wechat.event("o-click", "CLICK", "MY_COUPONS", int(time.time()) + 3))
    assert "/h5/coupons" in coupons                          # the wallet


def test_keywords_answer_with_the_members_figures_in_their_language(wechat, make):
    member = make.member(openid="o-kw")
    ledger.credit_value(db.session, member.id, 12_345, Cause(kind="topup", ref="t1"))
    db.session.commit()
    assert "您的积分：0" in wechat.send(wechat.text("o-kw", "积分"))
    assert "Your points: 0" in wechat.send(wechat.text("o-kw", "Points"))
    assert "¥123.45" in wechat.send(wechat.text("o-kw", "余额"))
    assert "¥123.45" in wechat.send(wechat.text("o-kw", "balance"))
    assert "券包" in wechat.send(wechat.text("o-kw", "优惠券")) and "/h5/coupons" in wechat.send(wechat.text("o-kw", "券"))
    assert "Your coupons" in wechat.send(wechat.text("o-kw", "coupons"))
    assert "储值充值" not in wechat.send(wechat.text("o-kw", "你好"))    # the help lists what exists
    assert member.card_no in wechat.send(wechat.text("o-kw", "会员卡"))
    assert member.card_no in wechat.send(wechat.text("o-kw", "card"))


def test_anything_else_gets_a_polite_help_reply(wechat, make):
    make.member(openid="o-help")
    assert "感谢您的留言" in wechat.send(wechat.text("o-help", "你们几点开门？"))
    assert "Thank you" in wechat.send(wechat.text("o-help", "opening hours?"))
    image = {"ToUserName": "gh_test", "FromUserName": "o-help", "CreateTime": str(int(time.time())),
             "MsgType": "image", "PicUrl": "http://x/y.jpg", "MediaId": "m1", "MsgId": "88001"}
    assert "感谢您的留言" in wechat.send(image)


def test_a_follower_from_before_wxcrm_gets_a_card_when_asking(wechat):
    reply = wechat.send(wechat.text("o-legacy", "会员卡"))
    member = member_by_openid("o-legacy")
    assert member is not None and member.card_no in reply


# ---------------------------------------------------------------- retries and bad requests

def test_a_retried_message_is_handled_once_and_gets_the_same_reply(wechat):
    fields = wechat.text("o-retry", "积分", msg_id=777001)
    first = wechat.send(fields)
    assert wechat.send(fields) == first
    assert count(Member) == 1 and count(InboundEvent) == 1


def test_a_retried_event_is_keyed_by_user_time_and_event(wechat):
    fields = wechat.event("o-evt", "subscribe", create_time=1_760_000_000)
    first = wechat.send(fields)
    assert wechat.send(fields) == first
    assert count(Member) == 1 and count(InboundEvent) == 1
    # the same second, another event, is another event
    wechat.send(wechat.event("o-evt", "CLICK", "MY_POINTS", create_time=1_760_000_000))
    assert count(InboundEvent) == 2


def test_a_bad_signature_is_refused_and_leaves_no_trace(wechat):
    res = wechat.request(wechat.event("o-forged", "subscribe"), tamper="signature")
    assert res.status_code == 403
    assert count(Member) == 0 and count(InboundEvent) == 0 and count(Contact) == 0


def test_an_old_signed_request_is_refused(wechat):
    res = wechat.request(wechat.text("o-old-req", "积分"), timestamp=str(int(time.time()) - 3600))
    assert res.status_code == 403
    assert count(Member) == 0


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><ToUserName>gh</ToUserName><FromUserName>o-evil</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&lol3;</Content><MsgId>1</MsgId></xml>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<xml><FromUserName>o-evil</FromUserName><MsgType>text</MsgType><Content>&e;</Content></xml>"""


def test_hostile_bodies_get_a_4xx_and_change_nothing(wechat):
    for body, status in ((BILLION_LAUGHS, 400), (XXE, 400), (b"<xml><unclosed>", 400), (b"", 400),
                         (b"<notxml/>", 400), (b"<xml>" + b"a" * 70_000 + b"</xml>", 413),
                         (b"<xml><FromUserName>o</FromUserName></xml>", 400)):
        res = wechat.request(raw=body)
        assert 400 <= res.status_code < 500, (body[:40], res.status_code)
        if wechat.crypto is None:
            assert res.status_code == status, (body[:40], res.status_code)
    assert count(Member) == 0 and count(InboundEvent) == 0


def test_hostile_xml_inside_the_encryption_is_refused_too(wechat, app):
    if wechat.crypto is None:
        return
    ts, nonce = str(int(time.time())), "abc"
    env = __import__("xmltodict").parse(wechat.crypto.encrypt_message(BILLION_LAUGHS.decode(), nonce, ts))["xml"]
    body = f"<xml><ToUserName>gh</ToUserName><Encrypt>{env['Encrypt']}</Encrypt></xml>".encode()
    res = requests.post(f"{wechat.url}/wechat/callback", data=body, params={
        "signature": wechat.signature(ts, nonce), "timestamp": ts, "nonce": nonce, "encrypt_type": "aes",
        "msg_signature": env["MsgSignature"]})
    assert res.status_code == 400
    assert count(Member) == 0


def test_safe_mode_refuses_plaintext_and_a_forged_msg_signature(wechat):
    if wechat.crypto is None:
        return
    res = wechat.request(wechat.event("o-x", "subscribe"), tamper="msg_signature")
    assert res.status_code == 403
    plain = __import__("xmltodict").unparse({"xml": wechat.event("o-x", "subscribe")}, full_document=False)
    assert wechat.request(raw=plain.encode()).status_code == 400
    assert count(Member) == 0
