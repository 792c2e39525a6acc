"""The pay notify under attack: no key or merchant id means no notice is trusted (not even one
"signed" with the empty key), and any body at all is either a verified notice or a rejection
answered as WeChat Pay expects (XML, return_code FAIL)."""
from __future__ import annotations

import pytest
import xmltodict
from hypothesis import given, settings
from hypothesis import strategies as st
from wechatpy.pay.utils import calculate_signature, dict_to_xml

from tests.wechat.test_client import PAY_KEY, notify, standin_settings
from wxcrm.wechat.adapter.pay import PayNoticeRejected, answer_payment_notice, verify_payment_notice


def our_order(no: str) -> int | None:
    return 10000 if no == "T1" else None


@pytest.mark.parametrize("unset", ["wechat_pay_api_key", "wechat_mch_id"])
def test_with_no_key_or_merchant_id_even_a_notice_signed_with_the_empty_key_is_refused(app, unset):
    settings = standin_settings().replace(**{unset: ""})
    fields = {"return_code": "SUCCESS", "result_code": "SUCCESS", "appid": "wx_demo_appid",
              "mch_id": settings.wechat_mch_id, "total_fee": "10000", "out_trade_no": "T1", "nonce_str": "n"}
    forged = dict_to_xml(fields, calculate_signature(fields, "")).encode()
    with pytest.raises(PayNoticeRejected, match="not configured"):
        verify_payment_notice(forged, settings, our_order)
    notice, reply = answer_payment_notice(forged, settings, our_order)
    assert notice is None and xmltodict.parse(reply)["xml"]["return_code"] == "FAIL"


@pytest.mark.parametrize("body", [
    b"", b"not xml", b"<xml>", b"<other/>", b"<xml><a><b>1</b></a></xml>",
    b"<xml><return_code>SUCCESS</return_code><return_code>SUCCESS</return_code></xml>",
    notify().replace(b"<total_fee>", b"<total_fee><x/>"),
    b"\xff\xfe<xml/>", b"<xml>" + b"<a>1</a>" * 20000 + b"</xml>",
])
def test_every_parse_failure_is_a_rejection_answered_with_xml_fail(app, body):
    notice, reply = answer_payment_notice(body, standin_settings(), our_order)
    assert notice is None
    assert xmltodict.parse(reply)["xml"]["return_code"] == "FAIL"


def test_a_genuine_notice_is_answered_success(app):
    notice, reply = answer_payment_notice(notify(), standin_settings(), our_order)
    assert notice.out_trade_no == "T1" and xmltodict.parse(reply)["xml"]["return_code"] == "SUCCESS"


FIELD = st.sampled_from(["return_code", "result_code", "appid", "mch_id", "total_fee", "out_trade_no", "sign",
                         "sign_type", "x"])
TEXT = st.one_of(st.sampled_from(["SUCCESS", "FAIL", "T1", "10000", "HMAC-SHA256", "wx_demo_appid", "1900000109"]),
                 st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30))


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=300),
                 st.lists(st.tuples(FIELD, TEXT), max_size=10).map(
                     lambda fs: ("<xml>" + "".join(f"<{k}><![CDATA[{v.replace(']]>', '')}]]></{k}>" for k, v in fs)
                                 + "</xml>").encode())))
def test_any_body_is_a_notice_or_a_rejection_never_another_error(app, body):
    notice, reply = answer_payment_notice(body, standin_settings(), our_order)
    assert xmltodict.parse(reply)["xml"]["return_code"] == ("SUCCESS" if notice else "FAIL")


def test_the_key_in_use_is_the_standin_key():
    assert len(PAY_KEY) == 32
