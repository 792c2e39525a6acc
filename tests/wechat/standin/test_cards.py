"""The card API: member cards and coupons created with WeChat's required fields and
limits; a code a user received is activated, updated, checked and consumed as WeChat
allows; what users do with cards is pushed as WeChat pushes it."""
from __future__ import annotations

import copy

import pytest
from wechatpy.exceptions import WeChatClientException

from tests.wechat.standin.conftest import assert_refused

BASE = {"logo_url": "https://mmbiz.qpic.cn/mmbiz/logo.png", "code_type": "CODE_TYPE_QRCODE", "brand_name": "wxcrm",
        "title": "会员卡", "color": "Color010", "notice": "结账时出示会员卡", "description": "消费积分，生日礼遇",
        "sku": {"quantity": 1000}, "date_info": {"type": "DATE_TYPE_PERMANENT"}}
MEMBER = {"card": {"card_type": "MEMBER_CARD", "member_card": {
    "base_info": BASE, "prerogative": "积分抵现，生日双倍积分", "supply_bonus": True, "supply_balance": False,
    "wx_activate": True}}}


def coupon(card_type: str, **detail) -> dict:
    base = {**BASE, "title": "满100减20", "date_info": {"type": "DATE_TYPE_FIX_TERM", "fixed_term": 30,
                                                      "fixed_begin_term": 0}}
    return {"card": {"card_type": card_type, card_type.lower(): {"base_info": base, **detail}}}


CASH = coupon("CASH", least_cost=10000, reduce_cost=2000)


def call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except WeChatClientException as exc:
        return {"errcode": exc.errcode, "errmsg": exc.errmsg}


def changed(card: dict, path: str, value) -> dict:
    """``card`` with the field at ``path`` (dots) set, or removed when value is ...."""
    card = copy.deepcopy(card)
    target = card["card"][card["card"]["card_type"].lower()]
    *parents, last = path.split(".")
    for part in parents:
        target = target[part]
    if value is ...:
        target.pop(last)
    else:
        target[last] = value
    return card


def get_card(wx, card_id: str, openid: str = "o-k1", **extra) -> str:
    pushed = wx.push("user_get_card", openid, card_id=card_id, **extra)
    assert pushed["_status"] == 200 and pushed["status"] == 200, pushed
    return pushed["code"]


@pytest.mark.parametrize("card, rule, detail", [
    ({"card": {"card_type": "TICKET"}}, "card.type", {}),
    (changed(MEMBER, "base_info.title", ...), "card.required", {"field": "base_info.title"}),
    (changed(MEMBER, "base_info.sku", {}), "card.required", {"field": "base_info.sku"}),
    (changed(MEMBER, "base_info.date_info", ...), "card.required", {"field": "base_info.date_info"}),
    (changed(MEMBER, "prerogative", ...), "card.required", {"field": "prerogative"}),
    (changed(MEMBER, "supply_bonus", ...), "card.required", {"field": "supply_bonus"}),
    (changed(coupon("GENERAL_COUPON"), "base_info.notice", "到店使用"), "card.required",
     {"field": "default_detail"}),
    (changed(MEMBER, "base_info.brand_name", "一二三四五六七八九十一二三"), "card.length",
     {"field": "base_info.brand_name"}),
    (changed(MEMBER, "base_info.title", "一二三四五六七八九十"), "card.length", {"field": "base_info.title"}),
    (changed(MEMBER, "base_info.code_type", "CODE_TYPE_NFC"), "card.code_type", {}),
    (changed(MEMBER, "base_info.color", "#FF0000"), "card.color", {}),
    (changed(MEMBER, "base_info.logo_url", "logo.png"), "card.value", {"field": "base_info.logo_url"}),
    (changed(MEMBER, "base_info.sku", {"quantity": 100_000_001}), "card.quantity", {}),
    (changed(CASH, "base_info.date_info", {"type": "DATE_TYPE_PERMANENT"}), "card.date", {}),
    (changed(CASH, "base_info.date_info", {"type": "DATE_TYPE_FIX_TIME_RANGE", "begin_timestamp": 1700000000,
                                           "end_timestamp": 1600000000}), "card.date", {}),
    (changed(CASH, "reduce_cost", 0), "card.value", {"field": "reduce_cost"}),
    (coupon("DISCOUNT", discount=100), "card.value", {"field": "discount"}),
    (changed(MEMBER, "supply_balance", True), "card.balance", {}),
    (changed(MEMBER, "custom_field1", {"name_type": "FIELD_NAME_TYPE_POINTS"}), "card.custom_field",
     {"field": "custom_field1"}),
    (changed(MEMBER, "custom_field2", {"name_type": "FIELD_NAME_TYPE_COUPON", "url": "coupons"}), "card.custom_field",
     {"field": "custom_field2.url"}),
])
def test_a_card_wechat_would_not_create_is_refused(wxapi, card, rule, detail):
    assert_refused(call(wxapi.card.create, card), rule, **detail)


@pytest.mark.parametrize("card", [MEMBER, CASH, coupon("DISCOUNT", discount=88), coupon("GIFT", gift="饮品一杯"),
                                  coupon("GENERAL_COUPON", default_detail="到店使用"),
                                  coupon("GROUPON", deal_detail="双人套餐")])
def test_cards_with_the_required_fields_are_created(wxapi, card):
    assert wxapi.card.create(card).startswith("p")


def test_a_member_card_is_activated_once_then_its_points_are_set_absolutely(wx, wxapi):
    card_id = wxapi.card.create(MEMBER)
    code = get_card(wx, card_id)
    assert_refused(call(wxapi.card.activate_membercard, "", code), "card.required", field="membership_number")
    assert_refused(call(wxapi.card.activate_membercard, "M-1", "000000000000"), "card.code")
    assert_refused(call(wxapi.card.activate_membercard, "M-1", code, card_id="p-unknown"), "card.id")
    assert_refused(call(wxapi.card.update_membercard, code, card_id, bonus=10), "card.status")
    assert_refused(call(wxapi.card.activate_membercard, "M-1", code, init_balance=5), "card.balance")
    assert wxapi.card.activate_membercard("M-1", code, card_id=card_id, init_bonus=100)["errcode"] == 0
    assert_refused(call(wxapi.card.activate_membercard, "M-1", code, card_id=card_id), "card.status")
    updated = wxapi.card.update_membercard(code, card_id, bonus=1520, add_bonus=20, record_bonus="消费积分")
    assert (updated["result_bonus"], updated["openid"]) == (1520, "o-k1")
    assert_refused(call(wxapi.card.update_membercard, code, card_id, balance=100), "card.balance")
    assert_refused(call(wxapi.card.update_membercard, code, card_id, add_bonus=-2000), "card.value", field="bonus")
    assert_refused(wx.post("/card/membercard/updateuser", {"code": code, "bonus": 1}), "card.id_missing")
    [event] = wx.flush_jobs()
    assert event["event"] == "update_member_card" and event["status"] == 200


def test_a_coupon_is_consumed_once_and_a_member_card_never(wx, wxapi):
    cash_id, member_id = wxapi.card.create(CASH), wxapi.card.create(MEMBER)
    code, member_code = get_card(wx, cash_id), get_card(wx, member_id)
    assert wxapi.card.get_code(code)["can_consume"] is True
    assert wxapi.card.consume_code(code)["openid"] == "o-k1"
    assert_refused(call(wxapi.card.consume_code, code), "card.consumed")
    assert_refused(call(wxapi.card.get_code, code), "card.consumed")
    assert wxapi.card.get_code(code, check_consume=False)["user_card_status"] == "CONSUMED"
    assert_refused(call(wxapi.card.consume_code, member_code), "card.type")
    [event] = wx.flush_jobs()
    assert (event["event"], event["code"]) == ("user_consume_card", code)


def test_what_users_do_with_cards_is_pushed(wx, wxapi):
    card_id = wxapi.card.create(CASH)
    code = get_card(wx, card_id, outer_str="campaign-7")
    assert wx.push("user_view_card", "o-k1", card_id=card_id, code=code)["status"] == 200
    assert wx.push("user_consume_card", "o-k1", card_id=card_id, code=code)["status"] == 200
    other = get_card(wx, card_id)
    assert wx.push("user_del_card", "o-k1", card_id=card_id, code=other)["status"] == 200
    assert_refused(call(wxapi.card.get_code, other), "card.deleted")
    assert wx.push("user_get_card", "o-k1", card_id="p-unknown")["_status"] == 404


def test_a_card_with_no_stock_is_not_given(wx, wxapi):
    card_id = wxapi.card.create(changed(CASH, "base_info.sku", {"quantity": 1}))
    get_card(wx, card_id)
    assert wx.push("user_get_card", "o-k2", card_id=card_id)["_status"] == 409


def test_the_activation_form_and_the_users_submission(wx, wxapi):
    card_id, cash_id = wxapi.card.create(MEMBER), wxapi.card.create(CASH)
    form = {"required_form": {"common_field_id_list": ["USER_FORM_INFO_FLAG_MOBILE", "USER_FORM_INFO_FLAG_BIRTHDAY"]},
            "optional_form": {"custom_field_list": ["喜欢的门店"]}}
    assert_refused(call(wxapi.card.set_activate_user_form, "p-unknown", **form), "card.id")
    assert_refused(call(wxapi.card.set_activate_user_form, cash_id, **form), "card.type")
    assert_refused(call(wxapi.card.set_activate_user_form, card_id,
                        required_form={"common_field_id_list": ["USER_FORM_INFO_FLAG_SHOE_SIZE"]}),
                   "card.value", field="required_form.common_field_id_list")
    code = get_card(wx, card_id)
    assert wx.push("submit_membercard_user_info", "o-k1", card_id=card_id, code=code)["_status"] == 409
    assert wxapi.card.set_activate_user_form(card_id, **form)["errcode"] == 0
    submitted = wx.push("submit_membercard_user_info", "o-k1", card_id=card_id, code=code,
                        info={"USER_FORM_INFO_FLAG_MOBILE": "13800138000", "喜欢的门店": "南京西路店"})
    assert submitted["status"] == 200
    info = wxapi.card.get_activate_info(submitted["activate_ticket"])
    assert info["common_field_list"] == [{"name": "USER_FORM_INFO_FLAG_MOBILE", "value": "13800138000"}]
    assert_refused(call(wxapi.card.get_activate_info, "forged-ticket"), "card.ticket")


def test_a_wxcard_mass_message_names_a_card_created_here(wx, wxapi):
    card_id = wxapi.card.create(CASH)
    wx.follow("o-k1", "o-k2")
    answer = wxapi.message.send_mass_card(["o-k1", "o-k2"], card_id)
    assert answer["msg_id"]
    assert [p["event"] for p in wx.flush_jobs()] == ["MASSSENDJOBFINISH"]


FIELDED = changed(changed(MEMBER, "custom_field1", {"name_type": "FIELD_NAME_TYPE_LEVEL",
                                                    "url": "https://crm.example.com/h5/"}),
                  "custom_field3", {"name": "储值"})


def test_a_member_cards_fields_hold_twelve_bytes_and_only_the_fields_it_was_made_with(wx, wxapi):
    """The member fields (tier, coupons, stored value on wxcrm's card): a value is at most
    4 Chinese characters / 12 bytes, set at activation or by updateuser, and only for a
    custom_field the card was created with."""
    card_id = wxapi.card.create(FIELDED)
    code = get_card(wx, card_id)
    assert_refused(call(wxapi.card.activate_membercard, "M-9", code, card_id=card_id,
                        init_custom_field_value1="钻石黑金会员"), "card.field_value", field="init_custom_field_value1")
    assert wxapi.card.activate_membercard("M-9", code, card_id=card_id, init_bonus=0,
                                          init_custom_field_value1="金卡会员",
                                          init_custom_field_value3="12.50")["errcode"] == 0
    assert_refused(call(wxapi.card.update_membercard, code, card_id, bonus=5, custom_field_value2="3"),
                   "card.field_value", field="custom_field_value2")        # the card has no custom_field2
    assert_refused(call(wxapi.card.update_membercard, code, card_id, bonus=5, custom_field_value3="1234567890.00"),
                   "card.field_value", field="custom_field_value3")
    wxapi.card.update_membercard(code, card_id, bonus=5, custom_field_value1="银卡", custom_field_value3="99999999.99")
    [row] = [c for c in wx.control("cards", method="GET").json()["codes"] if c["code"] == code]
    assert (row["bonus"], row["custom_field_value1"], row["custom_field_value3"]) == (5, "银卡", "99999999.99")


def test_a_custom_code_changes_once_to_a_code_not_in_use(wx, wxapi):
    """card/code/update (wxcrm: a member's card replaced): card_id needed, the old code must
    exist and not be deleted, the new one free; afterwards the old code is unknown."""
    card_id = wxapi.card.create(changed(MEMBER, "base_info.use_custom_code", True))
    code = get_card(wx, card_id, code="880000000001")
    other = get_card(wx, card_id, openid="o-k2", code="880000000002")
    assert_refused(wx.post("/card/code/update", {"code": code, "new_code": "880000000009"}), "card.id_missing")
    assert_refused(call(wxapi.card.update_code, card_id, code, ""), "card.required", field="new_code")
    assert_refused(call(wxapi.card.update_code, card_id, code, other), "card.code_taken")
    assert wxapi.card.update_code(card_id, code, "880000000009")["errcode"] == 0
    assert_refused(call(wxapi.card.update_code, card_id, code, "880000000010"), "card.code")
    assert wxapi.card.get_code("880000000009", card_id=card_id)["openid"] == "o-k1"
    wx.push("user_del_card", "o-k2", card_id=card_id, code=other)
    assert_refused(call(wxapi.card.update_code, card_id, other, "880000000011"), "card.deleted")
