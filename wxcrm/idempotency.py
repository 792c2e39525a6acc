"""Idempotency keys for every write that comes from outside (invariant 3).

The key row is inserted in the same transaction as the write it guards. A second
request with the same key either waits on the unique index until the first commits
(then replays its stored answer) or, if the first rolled back, proceeds itself. The
request that called ``run_once`` commits, once, after it returns.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String, UniqueConstraint, bindparam, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from wxcrm.extensions import db
from wxcrm.sqlutil import connection as sql_connection
from wxcrm.sqlutil import run
from wxcrm.timeutil import utcnow


class IdempotencyKey(db.Model):
    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(64))  # e.g. "transactions" or "refund:123"
    key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("scope", "key"),)


_KEYS = IdempotencyKey.__table__
_CLAIM = insert(_KEYS)
_ANSWER = (update(_KEYS).where(_KEYS.c.id == bindparam("row_id"))
           .values(status_code=bindparam("answer_status"), response=bindparam("answer", type_=JSON)))


class IdempotencyConflict(Exception):
    """The key was used before with a different request body."""


@dataclass
class Replay:
    status_code: int
    response: dict


def request_fingerprint(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).hexdigest()


def find_replay(session: Session, scope: str, key: str, fingerprint: str) -> Replay | None:
    row = session.scalar(select(IdempotencyKey).where(IdempotencyKey.scope == scope,
                                                      IdempotencyKey.key == key))
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise IdempotencyConflict(key)
    return Replay(row.status_code, row.response)


def run_once(session: Session, scope: str, key: str, payload: object, write, *,
             claim_first: bool = True) -> tuple[int, dict, bool]:
    """Run ``write() -> (status, body)`` once per (scope, key); the caller commits.

    Returns (status, body, replayed). The key row is claimed first, so a concurrent
    request with the same key waits on the unique index and then replays the
    first answer instead of doing the work twice. If ``write`` raises, everything
    is rolled back, the key included, so a corrected request may use it again.

    ``claim_first=False`` (the till's purchases and refunds, issue 11): the key row goes in
    once, with its answer, after the work: one statement instead of two. A repeat still
    never writes twice: it does the work in its own transaction and its key insert then
    fails on the unique index (waiting for the first to commit, if need be), so all of it
    rolls back and the first answer is replayed; a repeat whose work is refused (the code
    already paid, the purchase already refunded) replays the first answer too. Only for
    writes with no effect outside this database (a repeat may run them to the end).
    """
    from sqlalchemy.exc import IntegrityError

    fingerprint = request_fingerprint(payload)
    session.flush()     # the caller's pending work goes first, as an ORM flush of the row did
    if not claim_first:
        return _run_then_claim(session, scope, key, fingerprint, write)
    # Claim the key first: a new key (nearly every request) costs one INSERT; a key in use
    # fails on the unique index (after the other request commits, if it is still running)
    # and its first answer is read back. Both writes are Core statements built once (issue 11).
    try:
        row_id = run(sql_connection(session), _CLAIM, {"scope": scope, "key": key, "request_hash": fingerprint,
                                                          "status_code": 0, "response": {},
                                                          "created_at": utcnow()}).lastrowid
    except IntegrityError:
        session.rollback()
        replay = find_replay(session, scope, key, fingerprint)
        if replay is None:  # the other request rolled back between our insert and our read
            raise
        return replay.status_code, replay.response, True
    try:
        status, body = write()
        session.flush()
        run(sql_connection(session), _ANSWER, {"row_id": row_id, "answer_status": status, "answer": body})
    except BaseException as exc:
        _refused(session, exc)
        raise
    return status, body, False


def _run_then_claim(session: Session, scope: str, key: str, fingerprint: str, write) -> tuple[int, dict, bool]:
    from sqlalchemy.exc import IntegrityError

    try:
        status, body = write()
        session.flush()
    except Exception as exc:
        replay = _replay_after_refusal(session, scope, key, fingerprint)   # a repeat refused for being one
        if replay is not None:
            return replay.status_code, replay.response, True
        _refused(session, exc)
        raise
    except BaseException as exc:
        _refused(session, exc)
        raise
    try:
        run(sql_connection(session), _CLAIM, {"scope": scope, "key": key, "request_hash": fingerprint,
                                                 "status_code": status, "response": body, "created_at": utcnow()})
    except IntegrityError:
        session.rollback()      # the work too: the first request's answer stands
        replay = find_replay(session, scope, key, fingerprint)
        if replay is None:      # the other request rolled back between our insert and our read
            raise
        return replay.status_code, replay.response, True
    return status, body, False


def _replay_after_refusal(session: Session, scope: str, key: str, fingerprint: str) -> Replay | None:
    """After ``write`` raised: the first answer, if this was a repeat (IdempotencyConflict if
    the key was used with another body). A database that cannot answer leaves the original
    error to be raised (None)."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        session.rollback()
        return find_replay(session, scope, key, fingerprint)
    except SQLAlchemyError:
        return None


def _refused(session: Session, exc: BaseException) -> None:
    """``write`` raised: everything rolls back. What a refusal must leave behind although
    the work rolled back (a wrong one-time code's try): the error carries it, and it is
    committed on its own."""
    session.rollback()
    remember = getattr(exc, "after_rollback", None)
    if remember is not None:
        remember(session)
        session.commit()
