"""One running stand-in: configuration, memory, clock, deferred work, and the way it
pushes events into wxcrm. Handlers reach it with ``rt()``."""
from __future__ import annotations

import threading

import requests
from flask import current_app

from wxcrm.wechat.standin.clock import StandinClock
from wxcrm.wechat.standin.config import StandinConfig
from wxcrm.wechat.standin.push import WeChatPusher
from wxcrm.wechat.standin.scheduler import Scheduler
from wxcrm.wechat.standin.smstemplates import default_sms_templates
from wxcrm.wechat.standin.state import State
from wxcrm.wechat.standin.templates import default_templates

PUSH_LOG = 500


class Runtime:
    def __init__(self, app):
        self.app = app
        self.state = State()
        self.clock = StandinClock()
        self.scheduler = Scheduler(self.clock)
        self._ca = None
        self._ca_lock = threading.Lock()
        self.install_defaults()

    @property
    def cfg(self) -> StandinConfig:
        return self.app.config["STANDIN"]

    def now(self) -> float:
        return self.clock.now()

    def install_defaults(self) -> None:
        with self.state.lock:
            self.state.templates = default_templates()
            self.state.sms_templates = default_sms_templates()

    def reset(self) -> None:
        """Everything back to a new stand-in: memory, clock, deferred work."""
        with self.state.lock:
            for delivery in self.state.notifications:
                delivery.cancelled = True
            self.scheduler.clear()
            self.state.clear()
            self.install_defaults()
        self.scheduler.wait_idle()   # a report taken just before the clear finishes its push first
        self.clock.reset()

    @property
    def ca(self):
        """The test CA and the merchant's client certificate, made on first use."""
        from wxcrm.wechat.standin.tls import StandinCA
        with self._ca_lock:
            if self._ca is None:
                self._ca = StandinCA.load_or_create(self.cfg.cert_dir, self.cfg.mch_id)
            return self._ca

    # ---------------------------------------------------------------- pushing into wxcrm

    def pusher(self) -> WeChatPusher:
        cfg = self.cfg
        return WeChatPusher(callback_url=cfg.callback_url, token=cfg.token, appid=cfg.appid, aes_key=cfg.aes_key,
                            account=cfg.account)

    def push(self, fields: dict, **detail) -> dict:
        """Sign (and encrypt) ``fields`` and POST them to wxcrm's callback; log what came back."""
        entry = {"at": self.now(), "event": fields.get("Event") or fields.get("MsgType"),
                 "openid": fields.get("FromUserName", ""), **detail}
        try:
            result = self.pusher().push(fields)
            entry.update(status=result.status, reply=result.reply)
        except requests.RequestException as exc:
            entry.update(status=0, reply=f"{type(exc).__name__}: {exc}")
        with self.state.lock:
            self.state.pushes.append(entry)
            del self.state.pushes[:-PUSH_LOG]
        return entry

    def push_later(self, fields: dict, label: str, **detail) -> None:
        """A push WeChat makes some time after the call that caused it (job reports, card events)."""
        self.scheduler.add(self.cfg.job_report_delay, "report", label, lambda: self.push(fields, **detail))


def rt() -> Runtime:
    return current_app.extensions["standin"]
