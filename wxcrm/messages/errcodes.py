"""What an error from WeChat or the SMS gateway means for a message: the one table the
dispatcher reads (``fate_of_wechat``, ``fate_of_sms``).

- PERMANENT: the message itself is wrong (template, data, content); retrying cannot help,
  so it is parked at once with the reason.
- MEMBER: this channel cannot reach this member now (window closed or used up, not
  following, blocked): the message moves to the member's next channel; the pass goes on.
- RATE_LIMIT: the account is sending too fast or used a daily quota: the pass stops and
  hands its other messages back without counting an attempt.
- TOKEN: the access token was refused; the client fetches a new one and repeats the call
  once, so the dispatcher only sees it when that failed too, and retries later.
- ALREADY_SENT: a repeated mass send WeChat already took (the same clientmsgid within 24 h).
- RETRY (anything else, HTTP errors): try again later with back-off, park after N tries.

Sources: WeChat's global return codes
(https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html),
the message APIs' pages (customer service, template, mass send) and the SMS gateway's
codes (Aliyun SendSms); the stand-in's rules table (``/standin/rules.json``) cites each.
"""
from __future__ import annotations

from enum import Enum


class Fate(str, Enum):
    PERMANENT = "permanent"
    MEMBER = "member"
    RATE_LIMIT = "rate_limit"
    TOKEN = "token"
    ALREADY_SENT = "already_sent"
    RETRY = "retry"


WECHAT_CODES: dict[int, tuple[Fate, str]] = {
    # the message is wrong
    40007: (Fate.PERMANENT, "invalid media_id"),
    40008: (Fate.PERMANENT, "invalid message type"),
    40036: (Fate.PERMANENT, "invalid template_id size"),
    40037: (Fate.PERMANENT, "invalid template_id"),
    40073: (Fate.PERMANENT, "invalid card id"),
    40056: (Fate.PERMANENT, "invalid card code"),
    40071: (Fate.PERMANENT, "invalid card type"),
    41012: (Fate.PERMANENT, "missing card id"),
    45030: (Fate.PERMANENT, "the card has no API permission"),
    44002: (Fate.PERMANENT, "empty post data"),
    44004: (Fate.PERMANENT, "empty content"),
    45002: (Fate.PERMANENT, "content too long"),
    45027: (Fate.PERMANENT, "template conflicts with the account's industry"),
    45028: (Fate.PERMANENT, "no mass-send quota for sendall"),
    47001: (Fate.PERMANENT, "data format error"),
    47003: (Fate.PERMANENT, "template data invalid"),
    48001: (Fate.PERMANENT, "the account may not use this API"),
    # this member, this channel
    40003: (Fate.MEMBER, "invalid openid"),
    40130: (Fate.MEMBER, "a mass send needs two or more openids"),
    43004: (Fate.MEMBER, "the user does not follow the account"),
    43019: (Fate.MEMBER, "the user is in the account's blacklist"),
    43101: (Fate.MEMBER, "the user refused messages"),
    45015: (Fate.MEMBER, "outside the customer-service window"),
    45047: (Fate.MEMBER, "the customer-service window's messages are used up"),
    # the whole account: back off
    -1: (Fate.RATE_LIMIT, "WeChat is busy"),
    45009: (Fate.RATE_LIMIT, "the API's daily quota is used up"),
    45011: (Fate.RATE_LIMIT, "API calls too frequent"),
    # the token: refreshed by the client
    40001: (Fate.TOKEN, "access token invalid"),
    40014: (Fate.TOKEN, "access token invalid"),
    41001: (Fate.TOKEN, "access token missing"),
    42001: (Fate.TOKEN, "access token expired"),
    # a mass send's clientmsgid WeChat has seen within 24 hours: it went out
    45065: (Fate.ALREADY_SENT, "WeChat already has this mass send"),
}

SMS_CODES: dict[str, tuple[Fate, str]] = {
    "isv.MOBILE_NUMBER_ILLEGAL": (Fate.MEMBER, "not a mainland mobile number"),
    "isv.BLACK_KEY_CONTROL_LIMIT": (Fate.PERMANENT, "the text has blocked words"),
    "isv.SMS_SIGNATURE_ILLEGAL": (Fate.PERMANENT, "the signature is not approved"),
    "isv.SMS_TEMPLATE_ILLEGAL": (Fate.PERMANENT, "the template is not approved"),
    "isv.TEMPLATE_MISSING_PARAMETERS": (Fate.PERMANENT, "a template parameter is missing"),
    "isv.TEMPLATE_PARAMS_ILLEGAL": (Fate.PERMANENT, "a template parameter is invalid"),
    "isv.BUSINESS_LIMIT_CONTROL": (Fate.RETRY, "too many messages to this phone for now"),
    "isv.DAY_LIMIT_CONTROL": (Fate.RATE_LIMIT, "the account's daily SMS limit is used up"),
    "isv.AMOUNT_NOT_ENOUGH": (Fate.RATE_LIMIT, "the SMS account has no balance"),
}


def fate_of_wechat(errcode: int | None) -> Fate:
    """What a WeChat errcode means for the message (None: an HTTP failure: retry)."""
    found = WECHAT_CODES.get(errcode) if errcode is not None else None
    return found[0] if found else Fate.RETRY


def fate_of_sms(code: str | None) -> Fate:
    found = SMS_CODES.get(code or "")
    return found[0] if found else Fate.RETRY


def codes_table() -> list[tuple[str, str, str, str]]:
    """(source, code, fate, meaning) for every known code, for the README and the console."""
    rows = [("wechat", str(code), fate.value, meaning) for code, (fate, meaning) in WECHAT_CODES.items()]
    rows += [("sms", code, fate.value, meaning) for code, (fate, meaning) in SMS_CODES.items()]
    return sorted(rows, key=lambda r: (r[0], r[2], r[1]))
