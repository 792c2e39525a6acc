"""Per-worker caches of what every sale reads and what rarely changes: API tokens and their
staff, stores, tiers (and, in ``wxcrm.rules.live``, the compiled rule set).

One cheap check keeps them true: the ``reference_revision`` row holds a token that every
write to those tables changes, in the writer's transaction (a session hook below, and
``rules.storage`` for the rules). A request reads the token once (remembered on its session
until the transaction ends); a cache filled under another token is emptied first. So a
revoked token, a disabled cashier or a closed store stops working on every worker at the
next request after the change commits.

Cached rows are detached copies, never attached to any session: a caller gets its own
instance through ``attach`` (what ``session.merge(copy, load=False)`` makes, more cheaply; no
SQL). Each cache is an LRU with a maximum size, so a worker's memory stays flat however many
tokens or stores there are.
"""
from __future__ import annotations

import threading
import uuid
import weakref
from collections import OrderedDict
from typing import Callable, TypeVar

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, make_transient_to_detached

from wxcrm.members.models import ApiToken, ReferenceRevision, Staff, Store, Tier
from wxcrm.sqlutil import add_as_loaded, run_scalar
from wxcrm.sqlutil import connection as sql_connection

T = TypeVar("T")
WATCHED = (ApiToken, Staff, Store, Tier)
_INFO_KEY = "wxcrm.reference_token"


_READ_TOKEN = select(ReferenceRevision.__table__.c.token).where(ReferenceRevision.__table__.c.id == 1)


def reference_stamp(session: Session) -> tuple[str, str]:
    """(the database's URL, the reference token) as this transaction sees them: one Core read
    per transaction, remembered on the session (a cache filled under another stamp is stale)."""
    stamp = session.info.get(_INFO_KEY)
    if stamp is None:
        conn = sql_connection(session)
        token = run_scalar(conn, _READ_TOKEN) or ""
        stamp = session.info[_INFO_KEY] = (_url_text(conn.engine), token)
    return stamp


_URLS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _url_text(engine) -> str:
    """The engine's URL as text, made once per engine (issue 11: once per request was measurable)."""
    text = _URLS.get(engine)
    if text is None:
        text = _URLS[engine] = str(engine.url)
    return text


def reference_token(session: Session) -> str:
    """The reference token as this transaction sees it (one read per transaction)."""
    return reference_stamp(session)[1]


def bump_reference(session: Session) -> None:
    """Change the token in the caller's transaction: every worker's caches refill after it commits."""
    from wxcrm.sqlutil import insert_missing
    token = uuid.uuid4().hex
    insert_missing(session, ReferenceRevision, "id", id=1, token=token)
    session.execute(update(ReferenceRevision).where(ReferenceRevision.id == 1).values(token=token))
    session.info[_INFO_KEY] = (_url_text(session.get_bind()), token)


@event.listens_for(Session, "after_flush")
def _bump_on_reference_writes(session: Session, flush_context) -> None:
    changed = any(isinstance(obj, WATCHED) for obj in session.new) or \
        any(isinstance(obj, WATCHED) for obj in session.deleted) or \
        any(isinstance(obj, WATCHED) and session.is_modified(obj, include_collections=False) for obj in session.dirty)
    if changed:
        bump_reference(session)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _forget_token(session: Session, *args) -> None:
    session.info.pop(_INFO_KEY, None)


def detached_copy(obj: T) -> T:
    """A detached instance with ``obj``'s column values, safe to keep across sessions."""
    mapper = obj.__mapper__
    copy = mapper.class_manager.new_instance()   # instrumented, without running __init__
    for attr in mapper.column_attrs:
        setattr(copy, attr.key, getattr(obj, attr.key))
    make_transient_to_detached(copy)
    return copy


class ReferenceCache:
    """An LRU of values computed from the reference tables, emptied when the token moves."""

    def __init__(self, name: str, maxsize: int):
        self.name = name
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._stamp: tuple[str, str] | None = None
        self._data: OrderedDict = OrderedDict()

    def get(self, session: Session, key, load: Callable[[Session], T]) -> T:
        stamp = reference_stamp(session)
        with self._lock:
            if stamp != self._stamp:
                self._data.clear()
                self._stamp = stamp
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = load(session)
        with self._lock:
            if stamp == self._stamp:
                self._data[key] = value
                while len(self._data) > self.maxsize:
                    self._data.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._data)


tokens = ReferenceCache("tokens", 4096)     # token hash -> (token id, staff copy) or None
stores = ReferenceCache("stores", 4096)     # store code -> store copy or None
tiers = ReferenceCache("tiers", 1)          # () -> [tier copies by rank]


def attach(session: Session, copy: T | None) -> T | None:
    """The caller's own instance of a cached copy, in its session, without SQL. An instance
    the session already holds is returned as it is (its unflushed changes kept)."""
    if copy is None:
        return None
    existing = session.identity_map.get(copy.__mapper__.identity_key_from_instance(copy))
    if existing is not None:
        return existing
    # what ``session.merge(copy, load=False)`` makes, a persistent clean instance with the
    # copy's column values, without its per-attribute merge (issue 11: the till attaches its
    # staff, token and store on every sale)
    loaded = copy.__dict__     # its columns only: a related instance would be shared across sessions
    return add_as_loaded(session, type(copy),
                         {a.key: loaded[a.key] for a in copy.__mapper__.column_attrs if a.key in loaded})


def cached_tiers(session: Session) -> list[Tier]:
    """Detached copies of every tier by rank, shared by the worker: read, never change them."""
    return tiers.get(session, (), lambda s: [detached_copy(t) for t in s.scalars(select(Tier).order_by(Tier.rank))])


def tier_code(session: Session, tier_id: int | None) -> str | None:
    """A tier's code by id, from the worker's cache (the rules' member facts)."""
    return next((t.code for t in cached_tiers(session) if t.id == tier_id), None) if tier_id else None
