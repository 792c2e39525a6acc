"""WeChat's own records: inbound message keys (a retried callback replays its first
reply) and the shared token store (wechatpy's session storage)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wxcrm.extensions import db
from wxcrm.timeutil import utcnow


class InboundEvent(db.Model):
    """One row per WeChat message or event handled. WeChat retries a callback up to
    three times; the unique key makes the second delivery replay the first reply."""
    __tablename__ = "wechat_inbound_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "msg:<MsgId>" or "evt:<FromUserName>:<CreateTime>:<Event>"
    dedup_key: Mapped[str] = mapped_column(String(191), unique=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    reply: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class StoredSecret(db.Model):
    """wechatpy session storage: the access token and JS-SDK ticket, shared by every
    worker. ``refreshing_until`` is a short lease so one worker refreshes at a time."""
    __tablename__ = "wechat_session_store"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    refreshing_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class CallbackNonce(db.Model):
    """A plaintext-mode callback's (timestamp, nonce), kept for the signature window: the
    signature covers only these and the token, not the body, so a captured URL could be sent
    again with another body. The same pair with the same body is WeChat retrying; with another
    body it is refused. Shared by every worker because it is in the database."""
    __tablename__ = "callback_nonces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair: Mapped[str] = mapped_column(String(96), unique=True)   # "timestamp:nonce"
    body_sha256: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
