"""Playing WeChat's side of the callback: build an event, sign it, encrypt it in safe mode
(wechatpy's own crypto), POST it to wxcrm and read the reply."""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import requests
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner, random_string

_msg_ids = itertools.count(int(time.time() * 1000))


@dataclass
class PushResult:
    status: int
    reply: str          # the text wxcrm answered, decrypted ("" for none)
    raw: str            # the body as it came back


class WeChatPusher:
    def __init__(self, *, callback_url: str, token: str, appid: str, aes_key: str = "",
                 account: str = "gh_standin", timeout: float = 10):
        self.callback_url = callback_url
        self.token = token
        self.appid = appid
        self.aes_key = aes_key
        self.account = account
        self.timeout = timeout

    # -- what a user does

    def event_xml(self, openid: str, event: str, key: str | None = None, *, create_time: int | None = None,
                  **extra) -> dict:
        fields = {"ToUserName": self.account, "FromUserName": openid,
                  "CreateTime": str(create_time or int(time.time())), "MsgType": "event", "Event": event}
        if key is not None:
            fields["EventKey"] = key
        fields.update(extra)
        return fields

    def follow_xml(self, openid: str, scene: str | None = None) -> dict:
        if scene:
            return self.event_xml(openid, "subscribe", f"qrscene_{scene}", Ticket="standin-ticket")
        return self.event_xml(openid, "subscribe")

    def follow(self, openid: str, scene: str | None = None, **kw) -> PushResult:
        return self.push(self.follow_xml(openid, scene), **kw)

    def scan(self, openid: str, scene: str, **kw) -> PushResult:
        return self.push(self.event_xml(openid, "SCAN", scene, Ticket="standin-ticket"), **kw)

    def unfollow(self, openid: str, **kw) -> PushResult:
        return self.push(self.event_xml(openid, "unsubscribe"), **kw)

    def click(self, openid: str, key: str, **kw) -> PushResult:
        return self.push(self.event_xml(openid, "CLICK", key), **kw)

    def view(self, openid: str, url: str, **kw) -> PushResult:
        return self.push(self.event_xml(openid, "VIEW", url), **kw)

    def text_xml(self, openid: str, content: str, *, msg_id: int | None = None) -> dict:
        return {"ToUserName": self.account, "FromUserName": openid, "CreateTime": str(int(time.time())),
                "MsgType": "text", "Content": content, "MsgId": str(msg_id or next(_msg_ids))}

    def text(self, openid: str, content: str, *, msg_id: int | None = None, **kw) -> PushResult:
        return self.push(self.text_xml(openid, content, msg_id=msg_id), **kw)

    # -- the wire

    def signed_request(self, fields: dict, *, timestamp: str | None = None, nonce: str | None = None) -> tuple[dict, bytes]:
        """Query parameters and body exactly as WeChat would send them."""
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or random_string(10)
        xml = xmltodict.unparse({"xml": fields}, full_document=False)
        signer = WeChatSigner()
        signer.add_data(self.token, timestamp, nonce)
        params = {"signature": signer.signature, "timestamp": timestamp, "nonce": nonce,
                  "openid": fields.get("FromUserName", "")}
        if not self.aes_key:
            return params, xml.encode()
        envelope = xmltodict.parse(WeChatCrypto(self.token, self.aes_key, self.appid)
                                   .encrypt_message(xml, nonce, timestamp))["xml"]
        params.update(encrypt_type="aes", msg_signature=envelope["MsgSignature"])
        body = xmltodict.unparse({"xml": {"ToUserName": self.account, "Encrypt": envelope["Encrypt"]}},
                                 full_document=False)
        return params, body.encode()

    def push(self, fields: dict, **kw) -> PushResult:
        params, body = self.signed_request(fields, **kw)
        res = requests.post(self.callback_url, params=params, data=body,
                            headers={"Content-Type": "text/xml"}, timeout=self.timeout)
        return PushResult(res.status_code, self.read_reply(res.text) if res.ok else "", res.text)

    def read_reply(self, body: str) -> str:
        if not body or body == "success":
            return ""
        data = xmltodict.parse(body)["xml"]
        if self.aes_key:
            plain = WeChatCrypto(self.token, self.aes_key, self.appid).decrypt_message(
                body, data["MsgSignature"], data["TimeStamp"], data["Nonce"])
            data = xmltodict.parse(plain)["xml"]
        return data.get("Content") or ""
