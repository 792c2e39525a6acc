"""Plaintext-mode replay guard: remember each signed (timestamp, nonce) with its body.

The caller commits ``remember_nonce`` on its own, first thing; if the pair is already
known (IntegrityError), it rolls back and asks ``seen_with_body``: the same body is WeChat
retrying (the message key makes that harmless), another body is a replay to refuse.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import DateTime, bindparam, delete, insert, select
from sqlalchemy.orm import Session

from wxcrm.sqlutil import connection as sql_connection
from wxcrm.sqlutil import run
from wxcrm.wechat.adapter.models import CallbackNonce


def _pair(timestamp: str, nonce: str) -> str:
    return f"{timestamp}:{nonce}"


def remember_nonce(session: Session, *, timestamp: str, nonce: str, body: bytes, now: datetime,
                   window_seconds: int) -> None:
    """Record the pair (and forget pairs older than the signature window): two Core statements
    built once (every callback makes them; the ORM's insert and flush cost a callback more than
    its reply)."""
    conn = sql_connection(session)
    run(conn, _FORGET, {"before": now - timedelta(seconds=2 * window_seconds)})
    run(conn, _REMEMBER, {"pair": _pair(timestamp, nonce), "body_sha256": hashlib.sha256(body).hexdigest(),
                          "seen_at": now})


_NONCES = CallbackNonce.__table__
_FORGET = delete(_NONCES).where(_NONCES.c.seen_at < bindparam("before", type_=DateTime))
_REMEMBER = insert(_NONCES)


def seen_with_body(session: Session, *, timestamp: str, nonce: str, body: bytes) -> bool:
    seen = session.scalar(select(CallbackNonce.body_sha256).where(CallbackNonce.pair == _pair(timestamp, nonce)))
    return seen == hashlib.sha256(body).hexdigest()
