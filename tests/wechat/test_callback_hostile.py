"""Correctly signed but malformed callbacks, in plaintext and safe mode: every one answers
400 (never 5xx) and changes nothing; a plaintext (timestamp, nonce) cannot be replayed with
another body. Signed and encrypted with wechatpy, as WeChat does."""
from __future__ import annotations

import base64
import os
import time
from xml.sax.saxutils import escape

import pytest
import xmltodict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner, random_string

from tests.conftest import AES_KEY
from wxcrm.extensions import db
from wxcrm.ledger.models import LedgerEntry
from wxcrm.members.models import Member
from wxcrm.messages.models import Contact, OutboxMessage
from wxcrm.wechat.adapter.models import CallbackNonce, InboundEvent


class Signed:
    """WeChat's side, over the Flask test client (fast enough for hundreds of examples)."""

    def __init__(self, client, settings, mode: str):
        self.client, self.settings, self.mode = client, settings, mode
        self.crypto = WeChatCrypto(settings.wechat_token, AES_KEY, settings.wechat_app_id) if mode == "safe" else None

    def post(self, xml: str | bytes, *, timestamp: str | None = None, nonce: str | None = None,
             envelope: bytes | None = None):
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or random_string(10)
        signer = WeChatSigner()
        signer.add_data(self.settings.wechat_token, timestamp, nonce)
        params = {"signature": signer.signature, "timestamp": timestamp, "nonce": nonce}
        body = xml.encode() if isinstance(xml, str) else xml
        if self.crypto is not None:
            if envelope is None:
                env = xmltodict.parse(self.crypto.encrypt_message(body.decode("utf-8", "replace"), nonce,
                                                                  timestamp))["xml"]
                params.update(encrypt_type="aes", msg_signature=env["MsgSignature"])
                body = f"<xml><ToUserName>gh_test</ToUserName><Encrypt>{env['Encrypt']}</Encrypt></xml>".encode()
            else:
                signer = WeChatSigner()
                encrypted = xmltodict.parse(envelope)["xml"]["Encrypt"]
                signer.add_data(self.settings.wechat_token, timestamp, nonce, encrypted)
                params.update(encrypt_type="aes", msg_signature=signer.signature)
                body = envelope
        return self.client.post("/wechat/callback", query_string=params, data=body,
                                headers={"Content-Type": "text/xml"})


@pytest.fixture(params=["plain", "safe"])
def signed(request, app, client, configure):
    settings = configure(WECHAT_AES_KEY=AES_KEY if request.param == "safe" else "",
                         WECHAT_MESSAGE_MODE=request.param)
    return Signed(client, settings, request.param)


def footprint() -> tuple[int, ...]:
    db.session.expire_all()
    return tuple(db.session.scalar(select(func.count()).select_from(m))
                 for m in (Member, InboundEvent, Contact, OutboxMessage, LedgerEntry))


def message(**fields) -> str:
    base = {"ToUserName": "gh_test", "FromUserName": "o-fuzz", "CreateTime": str(int(time.time())),
            "MsgType": "text", "Content": "积分", "MsgId": "1234567890123"}
    base.update(fields)
    return "<xml>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in base.items() if v is not None) + "</xml>"


MALFORMED = {
    "duplicated tag": message().replace("</xml>", "<MsgType>event</MsgType></xml>"),
    "nested tag": message().replace("<Content>积分</Content>", "<Content><b>积分</b></Content>"),
    "nested FromUserName": message().replace("<FromUserName>o-fuzz</FromUserName>",
                                             "<FromUserName><x>o</x></FromUserName>"),
    "non-numeric MsgId": message(MsgId="12ab"),
    "300-digit MsgId": message(MsgId="9" * 300),
    "MsgId over BIGINT": message(MsgId=str(2**63)),
    "500-character FromUserName": message(FromUserName="o" * 500),
    "FromUserName with markup characters": message(FromUserName="o<'\"&"),
    "no MsgType": message(MsgType=None),
    "no FromUserName": message(FromUserName=None),
    "CreateTime not a number": message(CreateTime="yesterday"),
    "subscribe with a 300-digit time": message(MsgType="event", Event="subscribe", MsgId=None, CreateTime="9" * 300),
    "unknown root": "<msg><MsgType>text</MsgType></msg>",
    "not XML": "积分",
    "empty": "",
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_each_malformed_but_signed_message_is_a_400_that_changes_nothing(signed, case):
    before = footprint()
    res = signed.post(MALFORMED[case])
    assert res.status_code == 400, (case, res.status_code, res.data[:200])
    assert footprint() == before


def test_safe_mode_random_ciphertext_and_bad_padding_are_4xx_not_500(app, client, configure):
    """Garbage that decrypts to some other "appid" is a 403 (not ours); the rest 400."""
    signed = Signed(client, configure(WECHAT_AES_KEY=AES_KEY, WECHAT_MESSAGE_MODE="safe"), "safe")
    before = footprint()
    envelopes = [base64.b64encode(os.urandom(n)).decode() for n in (16, 32, 48, 37, 1)] + ["!!!!", "", "A" * 64]
    good = xmltodict.parse(signed.crypto.encrypt_message(message(), "n1", str(int(time.time()))))["xml"]["Encrypt"]
    raw = base64.b64decode(good)
    envelopes.append(base64.b64encode(raw[:-16]).decode())          # a block short: bad padding
    envelopes.append(base64.b64encode(raw[:-1] + bytes([raw[-1] ^ 0xFF])).decode())
    for encrypted in envelopes:
        envelope = f"<xml><ToUserName>gh_test</ToUserName><Encrypt>{encrypted}</Encrypt></xml>".encode()
        res = signed.post(b"", envelope=envelope)
        assert res.status_code in (400, 403), (encrypted[:20], res.status_code)
    assert footprint() == before


def test_a_plaintext_url_replayed_with_another_body_is_refused(app, client, configure):
    signed = Signed(client, configure(WECHAT_AES_KEY="", WECHAT_MESSAGE_MODE="plain"), "plain")
    ts, nonce = str(int(time.time())), "captured1"
    body = message(FromUserName="o-alice", MsgId="1001", CreateTime=ts)
    first = signed.post(body, timestamp=ts, nonce=nonce)
    assert first.status_code == 200
    retry = signed.post(body, timestamp=ts, nonce=nonce)
    assert retry.status_code == 200 and retry.data == first.data  # WeChat retrying: same answer
    before = footprint()
    forged = signed.post(message(FromUserName="o-victim", MsgId="1002"), timestamp=ts, nonce=nonce)
    assert forged.status_code == 403
    assert footprint() == before
    assert db.session.scalar(select(func.count()).select_from(CallbackNonce)) == 1


# ---------------------------------------------------------------- generated messages

TAGS = ["ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId", "Event", "EventKey", "Content",
        "Ticket", "ScanCodeInfo", "PicUrl", "Latitude", "x"]
SAFE_TEXT = st.characters(blacklist_categories=("Cs",))
VALUES = st.one_of(
    st.sampled_from(["gh_test", "o-fuzz", "o-other", "text", "event", "image", "location", "subscribe",
                     "unsubscribe", "SCAN", "CLICK", "VIEW", "积分", "余额", "qrscene_store_S001", "ref_1",
                     "store_S001", "MENU_POINTS", "1796000000", "-1", "0"]),
    st.from_regex(r"\d{1,30}", fullmatch=True),
    st.text(alphabet=SAFE_TEXT, max_size=40),
    st.integers(min_value=60, max_value=3000).map(lambda n: "o" * n),
)
LEAF = st.tuples(st.sampled_from(TAGS), VALUES)
NODE = st.recursive(LEAF, lambda kids: st.tuples(st.sampled_from(TAGS), st.lists(kids, max_size=3)), max_leaves=6)
REQUIRED = [("ToUserName", "gh_test"), ("FromUserName", "o-fuzz"), ("CreateTime", "1796000000")]


def render(node) -> str:
    tag, content = node
    inner = "".join(render(c) for c in content) if isinstance(content, list) else escape(content)
    return f"<{tag}>{inner}</{tag}>"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(nodes=st.lists(NODE, max_size=8), with_required=st.booleans())
def test_generated_messages_never_give_a_5xx_and_a_4xx_changes_nothing(signed, nodes, with_required):
    if with_required:
        nodes = [*REQUIRED, *nodes]
    xml = "<xml>" + "".join(render(n) for n in nodes) + "</xml>"
    before = footprint()
    res = signed.post(xml)
    assert res.status_code < 500, (xml[:300], res.data[:300])
    if res.status_code >= 400:
        assert footprint() == before, xml[:300]
