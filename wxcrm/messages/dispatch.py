"""The outbox dispatcher: claim due rows, send them, record what happened.

Claiming is its own short transaction (``SELECT ... FOR UPDATE SKIP LOCKED`` where the
database has it, then a guarded UPDATE that only takes rows still due, which is also
the whole mechanism on SQLite), so no lock is held while we wait for WeChat. A claim
expires, so a dispatcher that died mid-send leaves its rows to the next one.

Mass messages are not claimed here: ``mass`` sends them in batches. What an error means
(this message, this member, the whole account, the token) is ``errcodes``' table.

These functions flush; the loop that commits the claim, then each result on its own, is
the job's (``wxcrm.jobs.outbox.drain``), run by the scheduler and by `flask wxcrm outbox-drain`.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session
from wechatpy.exceptions import WeChatClientException

from wxcrm.config import Settings
from wxcrm.messages import cardcalls, fate, outbox, windows
from wxcrm.messages.errcodes import Fate, fate_of_sms, fate_of_wechat
from wxcrm.messages.models import Contact, OutboxMessage
from wxcrm.messages.sms import SmsMessage, SmsRefused, SmsUnavailable, sms_provider
from wxcrm.timeutil import utcnow
from wxcrm.wechat.adapter.client import wechat_client

log = logging.getLogger(__name__)

CLAIM_SECONDS = 120
CLOSED_WINDOW = (45015, 45047)   # WeChat says the customer-service windows are closed or used up
MAX_BACKOFF = timedelta(hours=1)


class ChannelError(Exception):
    """WeChat or the SMS gateway did not take the message: ``fate`` (``errcodes``) says
    what that means, ``code`` is their error code (None for a transport failure)."""

    def __init__(self, fate: Fate, code: int | str | None, message: str):
        super().__init__(f"{'wechat' if isinstance(code, int) else 'sms' if code else 'http'} "
                         f"{code if code is not None else 'error'}: {message}"[:500])
        self.fate = fate
        self.code = code
        self.message = message


class Sender:
    """Sends one outbox row (or one mass send) through wechatpy or the SMS provider; raises
    ChannelError, or returns WeChat's (or the gateway's) message id."""

    def __init__(self, client, sms):
        self.client = client
        self.sms = sms

    def send(self, row: OutboxMessage) -> str:
        p = row.payload
        with _errors():
            if row.channel == "template":
                res = self.client.message.send_template(row.openid, p["template_id"], p["data"], url=p["url"] or None)
                return str(res.get("msgid", ""))
            if row.channel == "custom":
                res = self.client.message.send_text(row.openid, p["text"])
                return str(res.get("msgid", ""))
            if row.channel == "sms":
                return self.sms.send(SmsMessage(row.phone, p["sign"], p["template"], p["params"]))
            if row.channel == "card":   # a deferred card API call (messages.cardcalls)
                return cardcalls.send(self.client, row)
        raise ChannelError(Fate.PERMANENT, None, f"channel {row.channel} is not sent one by one")

    def send_mass(self, openids: list[str], text: str, client_msg_id: str) -> str:
        with _errors():
            res = self.client.message.send_mass_text(openids, text, client_msg_id=client_msg_id)
            return str(res.get("msg_id", ""))


class _errors:
    """Turns wechatpy's, requests' and the SMS provider's failures into ChannelError."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None:
            return False
        if isinstance(exc, WeChatClientException):
            code = exc.errcode if isinstance(exc.errcode, int) else None
            message = exc.errmsg if code is not None else str(exc)
            raise ChannelError(fate_of_wechat(code), code, str(message)) from exc
        if isinstance(exc, SmsRefused):
            raise ChannelError(fate_of_sms(exc.code), exc.code, exc.message) from exc
        if isinstance(exc, (requests.RequestException, SmsUnavailable)):
            raise ChannelError(Fate.RETRY, None, f"{type(exc).__name__}: {exc}") from exc
        return False


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
    mass_calls: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"claimed {self.claimed}, sent {self.sent} ({self.mass_calls} mass sends), retried {self.retried}, "
                f"rerouted {self.rerouted}, parked {self.parked}, released {self.released}")


def _due(now: datetime):
    return or_(and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
               and_(OutboxMessage.status == "sending", OutboxMessage.claimed_until < now))


def claim(session: Session, worker: str, limit: int, now: datetime, *, hold: tuple[str, ...] = ()) -> None:
    """Mark up to ``limit`` due rows (not mass) as ours (the caller commits, then reads
    them with ``claimed``). Rows of the ``hold`` purposes wait (marketing in quiet hours).

    Due pending rows are read in the order of the (status, next_attempt_at) index, so
    MySQL stops after ``limit`` rows and locks only those; a sort would lock every
    pending row and leave the other dispatchers nothing to take. Rows whose claim
    expired (a dispatcher died) are picked up after.
    """
    lock = session.get_bind().dialect.name in ("mysql", "mariadb", "postgresql")
    queries = (
        select(OutboxMessage.id).where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now,
                                       OutboxMessage.channel != "mass",
                                       *((OutboxMessage.purpose.not_in(hold),) if hold else ()))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id),
        select(OutboxMessage.id).where(OutboxMessage.status == "sending", OutboxMessage.claimed_until < now,
                                       OutboxMessage.mass_send_id.is_(None))
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
        OutboxMessage.claimed_by == worker, OutboxMessage.status == "sending",
        OutboxMessage.mass_send_id.is_(None)).order_by(OutboxMessage.id)))


def backoff(attempts: int, base_seconds: int) -> timedelta:
    """base, 2*base, 4*base, ... capped at an hour, with up to 20% jitter."""
    delay = min(timedelta(seconds=base_seconds * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)
    return delay * (1 + random.random() * 0.2)


def moved_step(row: OutboxMessage, error: ChannelError, now: datetime) -> dict:
    code = "sms_member" if row.channel == "sms" else "wechat_member"
    return fate.step("moved", code, row.channel, now, errcode=error.code, error=error.message[:120])


def settle(session: Session, row: OutboxMessage, now: datetime, settings: Settings, report: DrainReport,
           *, remote_id: str | None = None, error: ChannelError | None = None) -> None:
    """Record what sending did: sent, moved to the next channel, retried later or parked."""
    row.claimed_by = row.claimed_until = None
    if error is None or error.fate == Fate.ALREADY_SENT:
        row.status, row.sent_at, row.remote_id = "sent", now, (remote_id or "")[:64]
        row.attempts += 1
        report.sent += 1
        return
    row.last_error = str(error)[:500]
    if error.fate == Fate.MEMBER:
        was_custom = row.channel == "custom"
        outbox.reroute(session, row, moved_step(row, error, now), now, settings)
        if was_custom and error.code in CLOSED_WINDOW and row.openid:
            windows.exhaust(session, row.openid)
        report.rerouted += row.status == "pending"
        report.parked += row.status == "parked"
        return
    row.attempts += 1
    if error.fate == Fate.PERMANENT:
        outbox.park(session, row, fate.step("parked", "refused", row.channel, now, error=str(error)[:160]))
        report.parked += 1
        return
    if row.attempts >= settings.outbox_max_attempts:
        outbox.park(session, row, fate.step("parked", "failed_n", row.channel, now, attempts=row.attempts,
                                            error=str(error)[:160]))
        report.parked += 1
        return
    row.status = "pending"
    row.next_attempt_at = now + backoff(row.attempts, settings.outbox_retry_seconds)
    row.history = list(row.history or []) + [fate.step("retrying", "failed", row.channel, now,
                                                        attempt=row.attempts, error=str(error)[:160])]
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
    return Sender(wechat_client(settings, engine), sms_provider(settings))


def send_claimed(session: Session, sender: Sender, settings: Settings, message_id: int, worker: str,
                 report: DrainReport, now: datetime, rate: RateLimiter) -> bool:
    """Send one claimed row and settle it. Returns True when WeChat said the account is
    sending too fast, so the pass should stop and hand the rest back."""
    row = session.get(OutboxMessage, message_id)
    if row is None or row.claimed_by != worker:
        return False
    if row.channel == "custom" and row.openid and not windows.any_open(session, row.openid, now):
        # the window closed while the message waited: no call that WeChat would refuse
        last = windows.last_action(session.scalar(select(Contact).where(Contact.openid == row.openid)))
        outbox.reroute(session, row, fate.step("moved", "window_closed", "custom", now, last=last), now, settings)
        report.rerouted += row.status == "pending"
        report.parked += row.status == "parked"
        return False
    rate.wait()
    try:
        remote_id = sender.send(row)
    except ChannelError as exc:
        log.info("outbox %s (%s/%s): %s (%s)", row.id, row.purpose, row.channel, exc, exc.fate.value)
        report.errors.append(f"{row.id}: {exc}")
        settle(session, row, now, settings, report, error=exc)
        return exc.fate == Fate.RATE_LIMIT
    settle(session, row, now, settings, report, remote_id=remote_id)
    return False


def send_now(session: Session, settings: Settings, message_id: int, *, sender: Sender | None = None,
             now: datetime | None = None) -> bool:
    """Send one committed pending row at once (a one-time code the cashier is waiting for),
    instead of waiting for the next pass; the caller commits the result. Claimed like any
    row, so a dispatcher pass that took it first sends it instead. True when it went."""
    now = now or utcnow()
    worker = f"now-{message_id}"
    taken = session.execute(update(OutboxMessage).where(OutboxMessage.id == message_id, _due(now))
                            .values(status="sending", claimed_by=worker,
                                    claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
                            .execution_options(synchronize_session=False)).rowcount
    session.commit()
    if not taken:
        return False
    sender = sender or configured_sender(settings, session.get_bind())
    report = DrainReport()
    send_claimed(session, sender, settings, message_id, worker, report, now, RateLimiter(0))
    row = session.get(OutboxMessage, message_id)
    return row is not None and row.status == "sent"
