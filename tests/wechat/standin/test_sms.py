"""The SMS gateway works like China's: an approved signature and template with all its
parameters, to a mainland mobile number, verification codes flow-controlled; tests read
the one-time code the gateway kept."""
from __future__ import annotations

import pytest
import requests

from wxcrm.wechat.standin.rules import RULE_BY_ID

CODE = {"phone": "13800138000", "sign": "wxcrm", "template_id": "SMS_VERIFY_CODE", "params": {"code": "204816"}}


def send(standin, body: dict) -> requests.Response:
    return requests.post(f"{standin.url}/sms/send", json=body)


def assert_sms_refused(res: requests.Response, rule_id: str, **detail) -> None:
    rule = RULE_BY_ID[rule_id]
    message = rule.message.format(**detail) if detail else rule.message
    assert res.status_code == 400 and res.json() == {"code": rule.code, "message": message}, res.text


@pytest.mark.parametrize("change, rule, detail", [
    ({"phone": "02166888866"}, "sms.phone", {}),
    ({"phone": "+1 415 555 0100"}, "sms.phone", {}),
    ({"sign": "某某商城"}, "sms.sign", {}),
    ({"template_id": "SMS_FREE_TEXT"}, "sms.template", {}),
    ({"params": {}}, "sms.missing", {"name": "code"}),
    ({"params": {"code": "12"}}, "sms.params", {"name": "code"}),
    ({"template_id": "SMS_MARKETING", "params": {"text": "详见 https://evil.example"}}, "sms.params",
     {"name": "text"}),
])
def test_a_message_a_gateway_would_not_take_is_refused(standin, change, rule, detail):
    assert_sms_refused(send(standin, {**CODE, **change}), rule, **detail)


def test_wxcrms_free_text_message_is_not_an_sms_a_gateway_sends(standin):
    assert_sms_refused(send(standin, {"phone": "13800138000", "text": "积分 +20"}), "sms.sign")


def test_the_code_is_sent_and_readable_and_flow_controlled(standin, wx):
    res = send(standin, CODE)
    assert res.status_code == 200 and res.json()["code"] == "OK" and res.json()["id"]
    [message] = wx.control("sms?phone=13800138000", method="GET").json()
    assert message["params"]["code"] == "204816" and message["text"].startswith("【wxcrm】您的验证码为204816")
    assert_sms_refused(send(standin, CODE), "sms.rate", window="分钟")
    for _ in range(4):
        wx.advance(60)
        assert send(standin, CODE).status_code == 200
    wx.advance(60)
    assert_sms_refused(send(standin, CODE), "sms.rate", window="小时")
    assert send(standin, {**CODE, "phone": "+8613900000000"}).status_code == 200   # another phone
    assert send(standin, {**CODE, "template_id": "SMS_TOPUP_DONE",
                          "params": {"amount": "100", "balance": "250"}}).status_code == 200   # not a code


def test_a_marketing_template_carries_the_opt_out(wx):
    assert wx.control("sms-templates", {"template_id": "SMS_SALE", "content": "${text}", "kind": "marketing"}) \
        .status_code == 400
    assert wx.control("sms-templates", {"template_id": "SMS_SALE", "content": "会员日${text}，拒收请回复R",
                                        "kind": "marketing"}).ok
