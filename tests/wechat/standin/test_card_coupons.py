"""Card coupons as WeChat treats them: reviewed before users may receive them (the test
whitelist excepted), received through ``wx.addCard`` only with a cardExt signed with the
wx_card api_ticket, within get_limit and the stock; a code is consumed once, made
unavailable once, and neither after it is gone or past its validity."""
from __future__ import annotations

import hashlib
import json
import secrets

from tests.wechat.standin.conftest import assert_refused
from tests.wechat.standin.test_cards import CASH, call, changed

CUSTOM = changed(changed(CASH, "base_info.use_custom_code", True), "base_info.bind_openid", True)


def ext(wxapi, card_id: str, *, code: str = "", openid: str = "", ticket: str | None = None, **extra) -> str:
    """A cardExt signed as WeChat's JS-SDK appendix 4 says (sorted values, SHA-1)."""
    ticket = ticket or wxapi.jsapi.get_jsapi_card_ticket()
    body = {"code": code, "openid": openid, "timestamp": str(1_790_000_000), "nonce_str": secrets.token_hex(8),
            **extra}
    values = sorted([ticket, body["timestamp"], card_id, code, openid, body["nonce_str"]])
    body["signature"] = hashlib.sha1("".join(values).encode()).hexdigest()
    return json.dumps(body)


def add(wx, openid: str, card_id: str, card_ext: str):
    return wx.control("add-card", {"openid": openid, "cardList": [{"cardId": card_id, "cardExt": card_ext}]})


def test_a_card_in_review_is_received_only_by_the_test_whitelist(wx, wxapi):
    wx.control("cards/review-mode", {"manual": True})
    card_id = wxapi.card.create(CASH)
    assert wxapi.card.get(card_id)["cash"]["base_info"]["status"] == "CARD_STATUS_NOT_VERIFY"
    assert wx.push("user_get_card", "o-r1", card_id=card_id)["_status"] == 409
    assert_refused(call(wxapi.card.set_test_whitelist, openids=[f"o-{n}" for n in range(11)]), "card.whitelist")
    assert wxapi.card.set_test_whitelist(openids=["o-r1"])["errcode"] == 0
    assert wx.push("user_get_card", "o-r1", card_id=card_id)["status"] == 200
    rejected = wx.control("cards/review", {"card_id": card_id, "pass": False, "reason": "图片模糊"}).json()
    assert rejected["event"] == "card_not_pass_check"
    assert wxapi.card.get(card_id)["cash"]["base_info"]["status"] == "CARD_STATUS_VERIFY_FAIL"
    assert wx.control("cards/review", {"card_id": card_id, "pass": True}).json()["event"] == "card_pass_check"
    assert wx.push("user_get_card", "o-r2", card_id=card_id)["status"] == 200


def test_a_reviewed_card_says_so_a_moment_later_without_a_flush_of_reports(wx, wxapi):
    card_id = wxapi.card.create(CASH)
    assert [j["kind"] for j in wx.control("jobs", method="GET").json()] == ["review"]
    assert wx.flush_jobs() == []
    assert wx.push("user_get_card", "o-r3", card_id=card_id)["status"] == 200


def test_add_card_checks_the_card_ext_as_wechats_client_does(wx, wxapi):
    card_id = wxapi.card.create(CUSTOM)
    no_code = add(wx, "o-a1", card_id, ext(wxapi, card_id, openid="o-a1")).json()
    assert (no_code["rule"], no_code["errcode"]) == ("card.add_ext", 40080)
    assert add(wx, "o-a1", card_id, ext(wxapi, card_id, code="C1")).json()["errcode"] == 40080      # no openid
    assert add(wx, "o-a2", card_id, ext(wxapi, card_id, code="C1", openid="o-a1")).status_code == 409  # not theirs
    forged = ext(wxapi, card_id, code="C1", openid="o-a1", ticket="not-the-ticket")
    assert "invalid signature" in add(wx, "o-a1", card_id, forged).json()["errMsg"]
    good = ext(wxapi, card_id, code="C1", openid="o-a1", outer_str="h5")
    answer = add(wx, "o-a1", card_id, good).json()
    assert answer["errMsg"] == "addCard:ok" and answer["pushed"][0]["event"] == "user_get_card"
    assert "nonce_str already used" in add(wx, "o-a1", card_id, good).json()["errMsg"]
    again = add(wx, "o-a1", card_id, ext(wxapi, card_id, code="C1", openid="o-a1")).json()
    assert (again["rule"], again["errcode"]) == ("card.add_custom_code", 40056)
    assert wxapi.card.get_code("C1", card_id=card_id)["outer_str"] == "h5"


def test_get_limit_and_stock_bound_what_one_user_receives(wx, wxapi):
    assert_refused(call(wxapi.card.create, changed(CASH, "base_info.get_limit", 0)), "card.get_limit")
    card_id = wxapi.card.create(changed(changed(CASH, "base_info.get_limit", 1), "base_info.sku", {"quantity": 2}))
    assert wx.push("user_get_card", "o-g1", card_id=card_id)["status"] == 200
    refused = wx.push("user_get_card", "o-g1", card_id=card_id)
    assert (refused["_status"], refused["rule"], refused["errcode"]) == (409, "card.get_limit", 45033)
    assert wx.push("user_get_card", "o-g2", card_id=card_id)["status"] == 200
    assert wx.push("user_get_card", "o-g3", card_id=card_id)["rule"] == "card.stock"


def test_a_code_is_made_unavailable_once_and_then_not_consumed(wx, wxapi):
    card_id = wxapi.card.create(CUSTOM)
    add(wx, "o-u1", card_id, ext(wxapi, card_id, code="U1", openid="o-u1"))
    add(wx, "o-u1", card_id, ext(wxapi, card_id, code="U2", openid="o-u1"))
    assert_refused(call(wxapi.card.invalid_code, "U1"), "card.id_missing")          # custom codes need card_id
    assert_refused(wx.post("/card/code/unavailable", {"code": "U1", "card_id": card_id, "reason": "长" * 31}),
                   "card.reason")
    assert wxapi.card.invalid_code("U1", card_id=card_id)["errcode"] == 0
    assert_refused(call(wxapi.card.invalid_code, "U1", card_id=card_id), "card.code_status")
    assert_refused(call(wxapi.card.consume_code, "U1", card_id=card_id), "card.code_status")
    assert wxapi.card.get_code("U1", card_id=card_id, check_consume=False)["user_card_status"] == "UNAVAILABLE"
    assert wxapi.card.consume_code("U2", card_id=card_id)["errcode"] == 0
    assert_refused(call(wxapi.card.invalid_code, "U2", card_id=card_id), "card.consumed")
    assert_refused(call(wxapi.card.invalid_code, "U404", card_id=card_id), "card.code")


def test_a_code_past_its_fixed_term_is_not_consumed(wx, wxapi):
    card_id = wxapi.card.create(CUSTOM)                                      # fixed term of 30 days
    add(wx, "o-e1", card_id, ext(wxapi, card_id, code="E1", openid="o-e1"))
    wx.advance(31 * 86_400)
    wxapi.fetch_access_token()                                               # the old token died meanwhile
    assert wxapi.card.get_code("E1", card_id=card_id)["user_card_status"] == "EXPIRE"
    assert_refused(call(wxapi.card.consume_code, "E1", card_id=card_id), "card.code_status")
