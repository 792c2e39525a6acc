"""Where SMS fallbacks go. The campaigns package will bring real SMS providers; until then
``log`` writes the message to the log and ``standin`` posts it to the WeChat stand-in
(so the demo and the tests can see it)."""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import requests

from wxcrm.config import Settings

log = logging.getLogger(__name__)


class SmsError(Exception):
    pass


def sms_sender(settings: Settings) -> Callable[[str, str], str]:
    """A function (phone, text) -> provider message id, raising SmsError on failure."""
    if settings.sms_provider == "standin":
        base = settings.wechat_api_base.rstrip("/")
        timeout = settings.wechat_http_timeout

        def send_to_standin(phone: str, text: str) -> str:
            try:
                res = requests.post(f"{base}/sms/send", json={"phone": phone, "text": text}, timeout=timeout)
                res.raise_for_status()
                return str(res.json()["id"])
            except (requests.RequestException, KeyError, ValueError) as exc:
                raise SmsError(str(exc)) from exc
        return send_to_standin

    def send_to_log(phone: str, text: str) -> str:
        log.warning("SMS (log provider) to %s: %s", phone[:3] + "****" + phone[-4:], text)
        return "log-" + uuid.uuid4().hex[:12]
    return send_to_log
