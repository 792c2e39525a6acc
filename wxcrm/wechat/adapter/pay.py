"""WeChat Pay (API v2, MD5 signatures) through wechatpy.pay, with the checks wechatpy
leaves out: a notify must be for our appid and mch_id, signed with our key (compared in
constant time, where wechatpy uses ``==``), and for exactly the amount we asked for.
The top-ups issue builds on ``verify_payment_notice``; nothing here touches the ledger.
"""
from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from wechatpy.pay.utils import calculate_signature, calculate_signature_hmac, dict_to_xml

from wxcrm.config import Settings
from wxcrm.wechat.adapter.xmlguard import HostileXml, checked_xml

log = logging.getLogger(__name__)


class PayNoticeRejected(Exception):
    """The notify cannot be trusted or does not match our order; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PaymentNotice:
    out_trade_no: str
    transaction_id: str
    total_fee: int           # fen
    openid: str
    paid: bool               # result_code == SUCCESS
    raw: dict


def signature_matches(params: Mapping[str, str], api_key: str) -> bool:
    data = {k: v for k, v in params.items() if k != "sign"}
    given = str(params.get("sign", ""))
    if params.get("sign_type") == "HMAC-SHA256":
        expected = calculate_signature_hmac(data, api_key)
    else:
        expected = calculate_signature(data, api_key)
    return hmac.compare_digest(given.encode(), expected.encode())


def verify_payment_notice(body: bytes | str, settings: Settings,
                          expected_total_fee: Callable[[str], int | None]) -> PaymentNotice:
    """Check a pay notify and return what it says. ``expected_total_fee(out_trade_no)`` gives
    the amount (fen) of our order, or None when we have no such order. Anything else raises
    PayNoticeRejected, whatever the body is."""
    if not settings.wechat_pay_api_key or not settings.wechat_mch_id:
        # An empty key would make "signed with an empty key" verify: refuse before reading.
        raise PayNoticeRejected("WeChat Pay is not configured (pay key or merchant id empty)")
    data = _notice_fields(body)
    if data.get("return_code") != "SUCCESS":
        raise PayNoticeRejected(f"return_code {data.get('return_code')}: {data.get('return_msg', '')}")
    if not signature_matches(data, settings.wechat_pay_api_key):
        raise PayNoticeRejected("bad signature")
    if not hmac.compare_digest(data.get("appid", ""), settings.wechat_app_id):
        raise PayNoticeRejected(f"appid {data.get('appid')!r} is not ours")
    if not hmac.compare_digest(data.get("mch_id", ""), settings.wechat_mch_id):
        raise PayNoticeRejected(f"mch_id {data.get('mch_id')!r} is not ours")
    out_trade_no = data.get("out_trade_no", "")
    expected = expected_total_fee(out_trade_no)
    if expected is None:
        raise PayNoticeRejected(f"no order {out_trade_no!r}")
    fee = data.get("total_fee", "")
    if not fee.isdigit() or int(fee) != expected:
        raise PayNoticeRejected(f"total_fee {fee!r} does not match the order's {expected}")
    return PaymentNotice(out_trade_no=out_trade_no, transaction_id=data.get("transaction_id", ""),
                         total_fee=int(fee), openid=data.get("openid", ""),
                         paid=data.get("result_code") == "SUCCESS", raw=data)


def _notice_fields(body: bytes | str) -> dict[str, str]:
    """The notify's flat fields; a duplicated, nested or undecodable one is a rejection."""
    try:
        root = checked_xml(body)
    except HostileXml as exc:
        raise PayNoticeRejected(str(exc)) from exc
    data: dict[str, str] = {}
    for child in root:
        if not isinstance(child.tag, str) or len(child) or child.tag in data:
            raise PayNoticeRejected(f"malformed field {str(child.tag)[:32]!r}")
        text = child.text or ""
        if len(text) > 1024:
            raise PayNoticeRejected(f"field {child.tag} is too long")
        data[child.tag] = text
    return data


def answer_payment_notice(body: bytes | str, settings: Settings,
                          expected_total_fee: Callable[[str], int | None]) -> tuple[PaymentNotice | None, str]:
    """For the notify URL: the verified notice (or None) and the XML to answer WeChat Pay
    with: SUCCESS, or FAIL with the reason (WeChat Pay then retries later)."""
    try:
        return verify_payment_notice(body, settings, expected_total_fee), notice_reply(True)
    except PayNoticeRejected as exc:
        log.warning("wechat pay notify rejected: %s", exc.reason)
        return None, notice_reply(False, exc.reason[:120])


def notice_reply(ok: bool, message: str = "OK") -> str:
    """What WeChat Pay expects back from a notify URL."""
    return dict_to_xml({"return_code": "SUCCESS" if ok else "FAIL", "return_msg": message})


def pay_config_problems(settings: Settings) -> list[str]:
    """What is wrong with WeChat Pay's settings when pay is on (``WXCRM_WECHAT_PAY_ENABLED``, or
    a merchant id set): the merchant's API client certificate and key as readable PEM files
    (refunds are refused without them) and the CA bundle. The key and merchant id themselves
    are checked with the other settings (``wxcrm.config``)."""
    if not (settings.wechat_pay_enabled or settings.wechat_mch_id):
        return []
    problems = []
    for name, path, marker in (("WXCRM_WECHAT_PAY_CERT_PATH", settings.wechat_pay_cert_path, "CERTIFICATE"),
                               ("WXCRM_WECHAT_PAY_KEY_PATH", settings.wechat_pay_key_path, "PRIVATE KEY")):
        problem = _pem_problem(path, marker)
        if problem:
            problems.append(f"{name}: {problem} (refunds need the merchant's API client certificate)")
    if settings.wechat_ca_bundle:
        problem = _pem_problem(settings.wechat_ca_bundle, "CERTIFICATE")
        if problem:
            problems.append(f"WXCRM_WECHAT_CA_BUNDLE: {problem}")
    return problems


def _pem_problem(path: str, marker: str) -> str | None:
    if not path:
        return "not set"
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            text = handle.read(65536)
    except OSError as exc:
        return f"cannot read {path} ({exc.strerror})"
    if f"-----BEGIN {marker}-----" not in text and not (marker == "PRIVATE KEY" and " PRIVATE KEY-----" in text):
        return f"{path} holds no PEM {marker.lower()}"
    return None
