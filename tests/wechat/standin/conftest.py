"""Fixtures for the strict stand-in's own tests: calls made over real HTTP the way wxcrm
makes them (wechatpy's clients, their WeChat hosts routed to the stand-in), the
stand-in's HTTPS port for refunds, and a helper that says which rule refused a call.

These tests use wechatpy and the stand-in only, not wxcrm's own modules, so they do not
move when wxcrm's packages do."""
from __future__ import annotations

import threading

import pytest
import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from werkzeug.serving import make_server

from wxcrm.wechat.standin.rules import RULE_BY_ID

APPID, SECRET = "wx_demo_appid", "demo_secret"
MCH_ID, PAY_KEY = "1900000109", "standin-pay-key-32-characters-xx"
# where the stand-in serves each WeChat host (wxcrm's WXCRM_WECHAT_API_BASE routes the same way)
HOSTS = (("https://api.weixin.qq.com/", ""), ("https://mp.weixin.qq.com/", "mp/"),
         ("https://open.weixin.qq.com/", "open/"), ("https://api.mch.weixin.qq.com/", "mch/"))


def route(url: str, base: str) -> str:
    for prefix, path in HOSTS:
        if url.startswith(prefix):
            return base.rstrip("/") + "/" + path + url[len(prefix):]
    return url


class Routed(requests.Session):
    """A requests session for wechatpy that sends WeChat's hosts to the stand-in at ``base``."""

    def __init__(self, base: str):
        super().__init__()
        self.base = base

    def request(self, method, url, *args, **kwargs):
        return super().request(method, route(url, self.base), *args, **kwargs)


def assert_refused(answer, rule_id: str, **detail) -> None:
    """``answer`` (a JSON dict or a WeChatClientException) is WeChat's refusal for ``rule_id``."""
    rule = RULE_BY_ID[rule_id]
    if isinstance(answer, WeChatClientException):
        answer = {"errcode": answer.errcode, "errmsg": answer.errmsg}
    message = rule.message.format(**detail) if detail else rule.message
    assert (answer.get("errcode"), answer.get("errmsg")) == (rule.code, message), answer


class WeChat:
    """Plays wxcrm's side of the wire against the stand-in, and the stand-in's controls."""

    def __init__(self, standin):
        self.standin = standin
        self.url = standin.url
        self._token = ""

    @property
    def run(self):
        return self.standin.app.extensions["standin"]

    def token(self, fresh: bool = False) -> str:
        if fresh or not self._token:
            self._token = requests.get(f"{self.url}/cgi-bin/token", params={
                "grant_type": "client_credential", "appid": APPID, "secret": SECRET}).json()["access_token"]
        return self._token

    def get(self, path: str, **params) -> dict:
        return requests.get(f"{self.url}{path}", params={"access_token": self.token(), **params}).json()

    def post(self, path: str, body: dict | None = None, **params) -> dict:
        return requests.post(f"{self.url}{path}", params={"access_token": self.token(), **params},
                             json=body).json()

    def control(self, path: str, body: dict | None = None, method: str = "POST"):
        return requests.request(method, f"{self.url}/standin/{path}", json=body)

    def follow(self, *openids: str, **extra) -> None:
        assert self.control("users", {"openids": list(openids), **extra}).ok

    def push(self, event: str, openid: str, **fields) -> dict:
        res = self.control("push", {"event": event, "openid": openid, **fields})
        return {**res.json(), "_status": res.status_code}

    def advance(self, seconds: float) -> None:
        """Move the stand-in's clock; the next call fetches a token as wxcrm would."""
        assert self.control("clock", {"advance": seconds}).ok
        self._token = ""

    def flush_jobs(self) -> list[dict]:
        return self.control("jobs/flush").json()


@pytest.fixture
def wx(standin) -> WeChat:
    return WeChat(standin)


@pytest.fixture
def wxapi(standin) -> WeChatClient:
    """wechatpy's own API client, its WeChat hosts routed to the stand-in (as wxcrm's is)."""
    wechat = WeChatClient(APPID, SECRET, auto_retry=False)
    wechat._http = Routed(standin.url)
    return wechat


class NotifyTarget:
    """A merchant notify URL that answers FAIL until told to succeed, recording every POST."""

    def __init__(self, server, answers: list[str]):
        self.server = server
        self.answers = answers
        self.bodies: list[str] = []
        self.url = f"http://127.0.0.1:{server.server_port}/pay/notify"


@pytest.fixture
def notify_target():
    from flask import Flask, request
    target_app = Flask("notify_target")
    holder: dict = {}

    @target_app.post("/pay/notify")
    def receive():
        target = holder["target"]
        target.bodies.append(request.get_data(as_text=True))
        answer = target.answers.pop(0) if target.answers else "SUCCESS"
        return f"<xml><return_code><![CDATA[{answer}]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"

    server = make_server("127.0.0.1", 0, target_app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    holder["target"] = NotifyTarget(server, [])
    yield holder["target"]
    server.shutdown()
