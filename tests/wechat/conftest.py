"""WeChat test fixtures: the stand-in on a real port, wxcrm pointed at it, and a
WeChat-server helper that builds requests with wechatpy's own crypto."""
from __future__ import annotations

import threading
import time

import pytest
import requests
import xmltodict
from werkzeug.serving import make_server
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner, random_string

from wxcrm.wechat.standin import StandinConfig, create_standin_app

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat shows it


class Standin:
    def __init__(self, server, app):
        self.server = server
        self.app = app
        self.url = f"http://127.0.0.1:{server.server_port}"

    @property
    def state(self):
        return self.app.extensions["standin_state"]

    def calls(self, path: str = "") -> list[dict]:
        return [c for c in requests.get(f"{self.url}/standin/calls.json", params={"path": path}).json()
                if not c.get("failed")]

    def fail_next(self, count: int, errcode: int = -1, http_status: int = 200, path: str = "/cgi-bin/message"):
        requests.post(f"{self.url}/standin/fail-next", json={"count": count, "errcode": errcode,
                                                              "http_status": http_status, "path": path})

    def reset(self):
        requests.post(f"{self.url}/standin/reset")


@pytest.fixture(scope="session")
def _standin_server(app, live_server):
    cfg = StandinConfig.from_wxcrm(app.config, callback_url=f"{live_server.url}/wechat/callback")
    cfg.mch_id, cfg.pay_api_key = "1900000109", "standin-pay-key-32-characters-xx"
    standin_app = create_standin_app(cfg)
    server = make_server("127.0.0.1", 0, standin_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Standin(server, standin_app)
    server.shutdown()


@pytest.fixture
def standin(app, _standin_server):
    """The stand-in, reset, with wxcrm's API base and SMS pointed at it for this test."""
    saved = {k: app.config[k] for k in ("WXCRM_WECHAT_API_BASE", "WXCRM_SMS_PROVIDER", "WXCRM_WECHAT_MCH_ID",
                                        "WXCRM_WECHAT_PAY_API_KEY", "WXCRM_OUTBOX_RATE_PER_SECOND")}
    app.config.update(WXCRM_WECHAT_API_BASE=_standin_server.url, WXCRM_SMS_PROVIDER="standin",
                      WXCRM_WECHAT_MCH_ID="1900000109", WXCRM_WECHAT_PAY_API_KEY="standin-pay-key-32-characters-xx",
                      WXCRM_OUTBOX_RATE_PER_SECOND=1000)
    _standin_server.reset()
    _standin_server.state.tokens.clear()
    yield _standin_server
    app.config.update(saved)


class WeChatServer:
    """Plays WeChat: signs (and in safe mode encrypts) with wechatpy, posts over HTTP."""

    def __init__(self, url: str, token: str, appid: str, aes_key: str = ""):
        self.url, self.token, self.appid, self.aes_key = url, token, appid, aes_key
        self.crypto = WeChatCrypto(token, aes_key, appid) if aes_key else None
        self._msg_id = int(time.time() * 1000)

    def signature(self, timestamp: str, nonce: str) -> str:
        signer = WeChatSigner()
        signer.add_data(self.token, timestamp, nonce)
        return signer.signature

    def request(self, fields: dict | None = None, *, raw: bytes | None = None, timestamp: str | None = None,
                nonce: str | None = None, tamper: str | None = None) -> requests.Response:
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or random_string(10)
        params = {"signature": self.signature(timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
        body = raw
        if body is None:
            xml = xmltodict.unparse({"xml": fields}, full_document=False)
            if self.crypto is None:
                body = xml.encode()
            else:
                env = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, timestamp))["xml"]
                params.update(encrypt_type="aes", msg_signature=env["MsgSignature"])
                body = xmltodict.unparse({"xml": {"ToUserName": "gh_test", "Encrypt": env["Encrypt"]}},
                                         full_document=False).encode()
        if tamper == "signature":
            params["signature"] = "0" * 40
        if tamper == "msg_signature":
            params["msg_signature"] = "0" * 40
        return requests.post(f"{self.url}/wechat/callback", params=params, data=body,
                             headers={"Content-Type": "text/xml"}, timeout=10)

    def reply_text(self, res: requests.Response) -> str:
        assert res.status_code == 200, res.text
        if res.text == "success":
            return ""
        data = xmltodict.parse(res.text)["xml"]
        if self.crypto is not None:
            data = xmltodict.parse(self.crypto.decrypt_message(res.text, data["MsgSignature"], data["TimeStamp"],
                                                               data["Nonce"]))["xml"]
        return data["Content"]

    def event(self, openid: str, event: str, key: str | None = None, create_time: int | None = None) -> dict:
        fields = {"ToUserName": "gh_test", "FromUserName": openid, "CreateTime": str(create_time or int(time.time())),
                  "MsgType": "event", "Event": event}
        if key is not None:
            fields["EventKey"] = key
        return fields

    def text(self, openid: str, content: str, msg_id: int | None = None) -> dict:
        self._msg_id += 1
        return {"ToUserName": "gh_test", "FromUserName": openid, "CreateTime": str(int(time.time())),
                "MsgType": "text", "Content": content, "MsgId": str(msg_id or self._msg_id)}

    def send(self, fields: dict) -> str:
        return self.reply_text(self.request(fields))


@pytest.fixture(params=["plaintext", "safe"])
def wechat(request, app, live_server):
    """WeChat's server, in plaintext mode and in safe (AES) mode."""
    aes = AES_KEY if request.param == "safe" else ""
    saved = app.config["WXCRM_WECHAT_AES_KEY"]
    app.config["WXCRM_WECHAT_AES_KEY"] = aes
    yield WeChatServer(live_server.url, app.config["WXCRM_WECHAT_TOKEN"], app.config["WXCRM_WECHAT_APP_ID"], aes)
    app.config["WXCRM_WECHAT_AES_KEY"] = saved
