"""Plaintext-mode replay guard: remember each signed (timestamp, nonce) with its body.

The caller commits ``remember_nonce`` on its own, first thing; if the pair is already
known (IntegrityError), it rolls back and asks ``seen_with_body``: the same body is WeChat
retrying (the message key makes that harmless), another body is a replay to refuse.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from wxcrm.wechat.adapter.models import CallbackNonce


def _pair(timestamp: str, nonce: str) -> str:
    return f"{timestamp}:{nonce}"


def remember_nonce(session: Session, *, timestamp: str, nonce: str, body: bytes, now: datetime,
                   window_seconds: int) -> None:
    """Record the pair (and forget pairs older than the signature window). Flushes."""
    session.execute(delete(CallbackNonce).where(CallbackNonce.seen_at < now - timedelta(seconds=2 * window_seconds)))
    session.add(CallbackNonce(pair=_pair(timestamp, nonce), body_sha256=hashlib.sha256(body).hexdigest(),
                              seen_at=now))
    session.flush()


def seen_with_body(session: Session, *, timestamp: str, nonce: str, body: bytes) -> bool:
    seen = session.scalar(select(CallbackNonce.body_sha256).where(CallbackNonce.pair == _pair(timestamp, nonce)))
    return seen == hashlib.sha256(body).hexdigest()
