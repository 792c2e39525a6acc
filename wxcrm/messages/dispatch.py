"""The outbox dispatcher: claim due rows, send them, record what happened.

Claiming is its own short transaction (``SELECT ... FOR UPDATE SKIP LOCKED`` where the
database has it, then a guarded UPDATE that only takes rows still due, which is also
the whole mechanism on SQLite), so no lock is held while we wait for WeChat. A claim
expires, so a dispatcher that died mid-send leaves its rows to the next one.

These functions flush; the loop that commits the claim, then each result on its own, is
the job's (``wxcrm.jobs.outbox.drain``), run by the scheduler and by `flask wxcrm outbox-drain`.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session
from wechatpy.exceptions import WeChatClientException

from wxcrm.config import Settings
from wxcrm.messages import outbox
from wxcrm.messages.models import OutboxMessage
from wxcrm.messages.sms import SmsError, sms_sender
from wxcrm.wechat.adapter.client import wechat_client

log = logging.getLogger(__name__)

CLAIM_SECONDS = 120
MAX_BACKOFF = timedelta(hours=1)
# WeChat error codes, by what the dispatcher does about them
RATE_LIMITED = {45009, 45011, 45047, 45048, -1}   # slow down, try again later
WINDOW_CLOSED = {45015}                            # 48 h customer-service window: next channel
UNREACHABLE = {43004, 40003, 43019}                # not following / bad openid / blocked us: next channel
PERMANENT = {40037, 47001, 44002, 45027, 40036}    # our request is wrong: park now


class Unreachable(Exception):
    """This channel will never carry this message to this user."""


class Permanent(Exception):
    """WeChat refused the message itself; retrying cannot help."""


class Transient(Exception):
    def __init__(self, message: str, *, rate_limited: bool = False):
        super().__init__(message)
        self.rate_limited = rate_limited


class Sender:
    """Sends one outbox row through wechatpy or the SMS gateway; raises one of the three
    exceptions above, or returns WeChat's (or the gateway's) message id."""

    def __init__(self, client, sms: Callable[[str, str], str]):
        self.client = client
        self.sms = sms

    def send(self, row: OutboxMessage) -> str:
        p = row.payload
        try:
            if row.channel == "template":
                res = self.client.message.send_template(row.openid, p["template_id"], p["data"], url=p["url"] or None)
                return str(res.get("msgid", ""))
            if row.channel == "custom":
                res = self.client.message.send_text(row.openid, p["text"])
                return str(res.get("msgid", ""))
            if row.channel == "mass":
                res = self.client.message.send_mass_text([row.openid], p["text"],
                                                         client_msg_id=f"outbox-{row.id}")
                return str(res.get("msg_id", ""))
            if row.channel == "sms":
                return self.sms(row.phone, p["text"])
        except WeChatClientException as exc:
            code = exc.errcode
            text = f"wechat {code}: {exc.errmsg}" if code is not None else f"wechat http error: {exc}"
            if code in WINDOW_CLOSED or code in UNREACHABLE:
                raise Unreachable(text) from exc
            if code in PERMANENT:
                raise Permanent(text) from exc
            raise Transient(text, rate_limited=code in RATE_LIMITED) from exc
        except (requests.RequestException, SmsError) as exc:
            raise Transient(f"{type(exc).__name__}: {exc}") from exc
        raise Permanent(f"unknown channel {row.channel}")


class RateLimiter:
    """At most ``rate`` sends a second from this process (a simple token bucket)."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            time.sleep(delay)


@dataclass
class DrainReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    rerouted: int = 0
    parked: int = 0
    released: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"claimed {self.claimed}, sent {self.sent}, retried {self.retried}, rerouted {self.rerouted}, "
                f"parked {self.parked}, released {self.released}")


def _due(now: datetime):
    return or_(and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
               and_(OutboxMessage.status == "sending", OutboxMessage.claimed_until < now))


def claim(session: Session, worker: str, limit: int, now: datetime) -> None:
    """Mark up to ``limit`` due rows as ours (the caller commits, then reads them with
    ``claimed``).

    Due pending rows are read in the order of the (status, next_attempt_at) index, so
    MySQL stops after ``limit`` rows and locks only those; a sort would lock every
    pending row and leave the other dispatchers nothing to take. Rows whose claim
    expired (a dispatcher died) are picked up after.
    """
    lock = session.get_bind().dialect.name in ("mysql", "mariadb", "postgresql")
    queries = (
        select(OutboxMessage.id).where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id),
        select(OutboxMessage.id).where(OutboxMessage.status == "sending", OutboxMessage.claimed_until < now)
        .order_by(OutboxMessage.id),
    )
    ids: list[int] = []
    for stmt in queries:
        if len(ids) >= limit:
            break
        stmt = stmt.limit(limit - len(ids))
        ids += session.scalars(stmt.with_for_update(skip_locked=True) if lock else stmt)
    if ids:
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids), _due(now))
                        .values(status="sending", claimed_by=worker,
                                claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
                        .execution_options(synchronize_session=False))


def claimed(session: Session, worker: str) -> list[int]:
    """The ids a worker's committed claim holds, in order."""
    return list(session.scalars(select(OutboxMessage.id).where(
        OutboxMessage.claimed_by == worker, OutboxMessage.status == "sending").order_by(OutboxMessage.id)))


def backoff(attempts: int, base_seconds: int) -> timedelta:
    """base, 2*base, 4*base, ... capped at an hour, with up to 20% jitter."""
    delay = min(timedelta(seconds=base_seconds * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)
    return delay * (1 + random.random() * 0.2)


def settle(session: Session, row: OutboxMessage, now: datetime, settings: Settings, report: DrainReport,
           *, remote_id: str | None = None, error: Exception | None = None) -> None:
    """Record what sending did: sent, rerouted to the next channel, retried later or parked."""
    row.claimed_by = row.claimed_until = None
    if error is None:
        row.status, row.sent_at, row.remote_id = "sent", now, (remote_id or "")[:64]
        row.attempts += 1
        report.sent += 1
        return
    row.last_error = str(error)[:500]
    if isinstance(error, Unreachable):
        if row.channel == "mass" and row.member_id:
            outbox.release_mass_send(session, row.member_id, row.created_at, settings.tz)
        outbox.reroute(session, row, str(error), now, settings)
        report.rerouted += row.status == "pending"
        report.parked += row.status == "parked"
        return
    row.attempts += 1
    if isinstance(error, Permanent) or row.attempts >= settings.outbox_max_attempts:
        why = "refused" if isinstance(error, Permanent) else f"failed {row.attempts} times"
        row.status = "parked"
        row.reason = "; ".join(filter(None, [row.reason, f"{row.channel} {why}: {error}"]))[:500]
        if row.channel == "mass" and row.member_id:
            outbox.release_mass_send(session, row.member_id, row.created_at, settings.tz)
        report.parked += 1
        return
    row.status = "pending"
    row.next_attempt_at = now + backoff(row.attempts, settings.outbox_retry_seconds)
    report.retried += 1


def release(session: Session, ids: list[int], worker: str, now: datetime) -> int:
    """Hand unsent claimed rows back without counting an attempt."""
    if not ids:
        return 0
    return session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.claimed_by == worker)
                           .values(status="pending", claimed_by=None, claimed_until=None,
                                   next_attempt_at=now + timedelta(seconds=30))
                           .execution_options(synchronize_session=False)).rowcount


def configured_sender(settings: Settings, engine) -> Sender:
    """The Sender for these settings: wxcrm's WeChat client and the configured SMS provider."""
    return Sender(wechat_client(settings, engine), sms_sender(settings))


def send_claimed(session: Session, sender: Sender, settings: Settings, message_id: int, worker: str,
                 report: DrainReport, now: datetime, rate: RateLimiter) -> bool:
    """Send one claimed row and settle it. Returns True when WeChat said we are sending too
    fast, so the pass should stop and hand the rest back."""
    row = session.get(OutboxMessage, message_id)
    if row is None or row.claimed_by != worker:
        return False
    rate.wait()
    try:
        remote_id = sender.send(row)
    except (Unreachable, Permanent, Transient) as exc:
        log.info("outbox %s (%s/%s): %s", row.id, row.purpose, row.channel, exc)
        report.errors.append(f"{row.id}: {exc}")
        settle(session, row, now, settings, report, error=exc)
        return isinstance(exc, Transient) and exc.rate_limited
    settle(session, row, now, settings, report, remote_id=remote_id)
    return False
