"""SMS the way China's gateways take it (Aliyun, Tencent Cloud): an approved signature
(【brand】), an approved template code and its parameters, to a mainland mobile number.
wxcrm never sends free text by SMS.

Each purpose has a template code (``kinds``; ``WXCRM_SMS_TEMPLATE_IDS`` renames them to
the codes the gateway gave the merchant, ``purpose=SMS_123,...``) whose ${names} are the
message's values; ``text`` is the message's words (greetings and campaigns). Values are
checked as gateways check them (at most 35 characters, no links) before sending.

A provider is anything with ``send(SmsMessage) -> id`` raising ``SmsRefused`` (the
gateway's code; ``errcodes`` says what it means) or ``SmsUnavailable``. ``log`` writes
the message to the log; ``standin`` posts it to the WeChat stand-in's gateway. A real
gateway is an ``HttpSmsGateway``: say how a message becomes a request and how an answer
reads, and register it in ``PROVIDERS``.
"""
from __future__ import annotations

import logging
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import requests

from wxcrm.config import Settings
from wxcrm.messages.kinds import KINDS

log = logging.getLogger(__name__)

PARAM_LIMIT = 35
LINK = re.compile(r"https?://|www\.", re.IGNORECASE)
MOBILE = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$")


@dataclass(frozen=True)
class SmsMessage:
    phone: str
    sign: str
    template: str
    params: Mapping[str, str] = field(default_factory=dict)


class SmsRefused(Exception):
    """The gateway refused the message: ``code`` is its error code."""

    def __init__(self, code: str, message: str):
        super().__init__(f"sms {code}: {message}")
        self.code = code
        self.message = message


class SmsUnavailable(Exception):
    """The gateway could not be reached or answered nonsense: try again later."""


class SmsValueError(ValueError):
    """A value cannot go in an SMS template parameter: ``param`` and ``value`` say which."""

    def __init__(self, param: str, value: str | None):
        super().__init__(f"{param} {value!r}")
        self.param = param
        self.value = value


def template_code(settings: Settings, purpose: str) -> str:
    return settings.sms_template_ids.get(purpose) or KINDS[purpose].sms_template


def sign(settings: Settings) -> str:
    return settings.sms_sign or settings.brand_name


def params_for(purpose: str, text: str, values: Mapping[str, object]) -> dict[str, str]:
    """The SMS template's parameters for a message, or SmsValueError for one that a
    gateway would refuse (too long, a link, missing). Nothing is cut."""
    params = {}
    for name in KINDS[purpose].sms_params:
        # "text" is the message's words, or its shorter SMS version when the caller gave one
        # (a greeting that names its coupon: the words, the coupon, what fits 35 characters)
        raw = (values.get("sms_text") or text) if name == "text" else values.get(name)
        value = None if raw is None else str(raw).strip()
        if not value or len(value) > PARAM_LIMIT or LINK.search(value):
            raise SmsValueError(name, value)
        params[name] = value
    return params


def mobile(phone: str | None) -> bool:
    return bool(phone and MOBILE.match(phone))


# ---------------------------------------------------------------- providers

class LogSms:
    """Writes each message to the log (development without a gateway)."""

    def send(self, message: SmsMessage) -> str:
        masked = message.phone[:3] + "****" + message.phone[-4:]
        log.warning("SMS (log provider) to %s: 【%s】%s %s", masked, message.sign, message.template,
                    dict(message.params))
        return "log-" + uuid.uuid4().hex[:12]


class HttpSmsGateway(ABC):
    """The shape of a real gateway: one HTTPS request per message."""

    def __init__(self, settings: Settings):
        self.timeout = settings.wechat_http_timeout

    @abstractmethod
    def request_for(self, message: SmsMessage) -> tuple[str, dict]:
        """(url, keyword arguments for requests.post): signed as the gateway wants."""

    @abstractmethod
    def message_id(self, response: requests.Response) -> str:
        """The gateway's id for an accepted message, or SmsRefused with its code."""

    def send(self, message: SmsMessage) -> str:
        url, kwargs = self.request_for(message)
        try:
            response = requests.post(url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise SmsUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return self.message_id(response)


class StandinSms(HttpSmsGateway):
    """The WeChat stand-in's gateway (``POST /sms/send``), shaped like Aliyun's SendSms."""

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.url = settings.wechat_api_base.rstrip("/") + "/sms/send"

    def request_for(self, message: SmsMessage) -> tuple[str, dict]:
        return self.url, {"json": {"phone": message.phone, "sign": message.sign, "template_id": message.template,
                                   "params": dict(message.params)}}

    def message_id(self, response: requests.Response) -> str:
        try:
            data = response.json()
        except ValueError as exc:
            raise SmsUnavailable(f"HTTP {response.status_code}: not JSON") from exc
        if not isinstance(data, dict):
            raise SmsUnavailable(f"HTTP {response.status_code}: {data!r}"[:200])
        if data.get("code") != "OK":
            if response.status_code >= 500 or not data.get("code"):
                raise SmsUnavailable(f"HTTP {response.status_code}: {data}"[:200])
            raise SmsRefused(str(data["code"]), str(data.get("message", "")))
        return str(data.get("id") or data.get("biz_id") or "")


PROVIDERS: dict[str, Callable[[Settings], object]] = {
    "log": lambda settings: LogSms(),
    "standin": StandinSms,
}


def sms_provider(settings: Settings):
    """The configured provider (``WXCRM_SMS_PROVIDER``)."""
    make = PROVIDERS.get(settings.sms_provider)
    if make is None:
        raise ValueError(f"unknown SMS provider {settings.sms_provider!r} (known: {', '.join(PROVIDERS)})")
    return make(settings)


def config_problems(settings: Settings) -> list[str]:
    problems = []
    if settings.sms_provider not in PROVIDERS:
        problems.append(f"WXCRM_SMS_PROVIDER: unknown provider {settings.sms_provider!r}")
    for purpose in settings.sms_template_ids:
        if purpose not in KINDS or "sms" not in KINDS[purpose].channels:
            problems.append(f"WXCRM_SMS_TEMPLATE_IDS: {purpose} never goes by SMS")
    if not sign(settings).strip():
        problems.append("WXCRM_SMS_SIGN: empty (and WXCRM_BRAND_NAME too)")
    return problems
