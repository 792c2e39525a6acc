"""/wechat/callback: where WeChat pushes messages and events.

GET answers the URL check (echostr). POST: size cap, signature (403, no trace but a log
line), timestamp freshness, AES decryption by WXCRM_WECHAT_MESSAGE_MODE (safe: always;
compatible: when WeChat sent it encrypted; plain: never), defusedxml and a field-by-field
check before wechatpy parses (anything malformed is a 400 that changes nothing), in
plaintext a (timestamp, nonce) replay guard, then wxcrm.wechat.events in one transaction,
and a reply built by wechatpy (encrypted when the message was).
"""
from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, abort, request
from sqlalchemy.exc import IntegrityError
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature
from werkzeug.exceptions import HTTPException

from wxcrm.config import current_settings
from wxcrm.extensions import db
from wxcrm.timeutil import Clock, utcnow
from wxcrm.wechat.adapter import replay
from wxcrm.wechat.adapter.xmlguard import MAX_BODY_BYTES, HostileXml, checked_message, checked_xml
from wxcrm.wechat.faces import events

log = logging.getLogger(__name__)

bp = Blueprint("wechat", __name__)
# WeChat's clocks are right; a signed request older than this is a replay, not a retry.
MAX_AGE_SECONDS = 600


def _reject(status: int, why: str):
    log.warning("wechat callback rejected (%s): %s from %s", status, why, request.remote_addr)
    abort(Response(why if status != 403 else "forbidden", status=status, mimetype="text/plain"))


def _check_request_signature() -> tuple[str, str]:
    args = request.args
    signature, timestamp, nonce = args.get("signature", ""), args.get("timestamp", ""), args.get("nonce", "")
    try:
        check_signature(current_settings().wechat_token, signature, timestamp, nonce)
    except InvalidSignatureException:
        _reject(403, "bad signature")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_AGE_SECONDS:
        _reject(403, "stale timestamp")
    return timestamp, nonce


def _crypto() -> WeChatCrypto | None:
    settings = current_settings()
    key = settings.wechat_aes_key
    return WeChatCrypto(settings.wechat_token, key, settings.wechat_app_id) if key else None


@bp.get("/callback")
def verify_url():
    """WeChat's server-configuration check: echo echostr if the signature is ours."""
    _check_request_signature()
    return Response(request.args.get("echostr", ""), mimetype="text/plain")


@bp.post("/callback")
def receive():
    if (request.content_length or 0) > MAX_BODY_BYTES:
        _reject(413, "body too large")
    timestamp, nonce = _check_request_signature()
    body = request.stream.read(MAX_BODY_BYTES + 1)
    settings = current_settings()
    msg, crypto = _message(body, timestamp, nonce, settings)
    if crypto is None:
        _refuse_replay(timestamp, nonce, body)

    ctx = events.Context(settings=settings, clock=Clock.now(settings.tz))
    try:
        reply, replayed = events.receive(db.session, msg, ctx)
        db.session.commit()
    except IntegrityError:  # a concurrent delivery of the same message committed first
        db.session.rollback()
        reply, replayed = events.stored_reply(db.session, events.dedup_key(msg)) or "", True
    except Exception:
        db.session.rollback()
        raise
    if replayed:
        log.info("wechat callback replayed %s", events.dedup_key(msg))
    return _render(reply, msg, crypto, nonce)


def _message(body: bytes, timestamp: str, nonce: str, settings):
    """The checked message, and the crypto to answer with (None: answer in plaintext).
    Everything malformed, however it is malformed, is a 400 and touches nothing."""
    mode = settings.wechat_message_mode
    encrypted = request.args.get("encrypt_type") == "aes"
    try:
        root = checked_xml(body)
        crypto = _crypto() if mode != "plain" and encrypted else None
        if mode == "safe" and crypto is None:
            _reject(400, "safe mode: message is not encrypted")
        if crypto is not None:
            encrypted_text = root.findtext("Encrypt")
            if not encrypted_text:
                _reject(400, "no Encrypt element")
            try:
                inner = crypto.decrypt_message({"Encrypt": encrypted_text}, request.args.get("msg_signature", ""),
                                               timestamp, nonce)
            except InvalidSignatureException:
                _reject(403, "bad msg_signature")
            except InvalidAppIdException:
                _reject(403, "message for another appid")
            except Exception as exc:  # noqa: BLE001 - random ciphertext, bad padding, short blocks...
                _reject(400, f"cannot decrypt: {type(exc).__name__}")
            root = checked_xml(inner)
        else:
            inner = body.decode("utf-8")
        checked_message(root)
        msg = parse_message(inner)
        if isinstance(msg, dict) or not msg.type:
            raise ValueError("no message type")
    except HostileXml as exc:
        _reject(400, str(exc))
    except HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - wechatpy refusing what we let through is still bad input
        _reject(400, f"not a WeChat message: {type(exc).__name__}")
    return msg, crypto


def _refuse_replay(timestamp: str, nonce: str, body: bytes) -> None:
    """Plaintext mode: the signature does not cover the body, so a (timestamp, nonce) seen
    with another body is a captured URL replayed; the same body is WeChat retrying."""
    if len(nonce) > 64 or len(timestamp) > 16:
        _reject(400, "nonce too long")
    try:
        replay.remember_nonce(db.session, timestamp=timestamp, nonce=nonce, body=body, now=utcnow(),
                              window_seconds=MAX_AGE_SECONDS)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if not replay.seen_with_body(db.session, timestamp=timestamp, nonce=nonce, body=body):
            _reject(403, "timestamp and nonce already used with another body")


def _render(reply: str, msg, crypto: WeChatCrypto | None, nonce: str) -> Response:
    if not reply:
        return Response("success", mimetype="text/plain")  # WeChat's "nothing to say"
    xml = TextReply(message=msg, content=reply).render()
    if crypto is not None:
        xml = crypto.encrypt_message(xml, nonce)
    return Response(xml, mimetype="application/xml")
