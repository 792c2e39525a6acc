"""Mass sends as WeChat takes them (群发, https://developers.weixin.qq.com/doc/service/api/notify/message/api_masssend.html):
one call carries one content to 2..10,000 openids, at most 100 calls a day; WeChat
silently filters users past four mass messages a month (or no longer following) and
says only how many, in the MASSSENDJOBFINISH event it pushes afterwards.

So pending mass messages with the same words (``content_key``) are claimed together and
split into as few calls as fit (25,000 -> 3 calls of 8,334/8,333/8,333, never one alone).
A message alone waits for company as long as its kind allows, then goes by the member's
next channel. When the report comes, the members wxcrm can tell were filtered (not
following, or past four this month counting mass sends made elsewhere) move to their
next channel; the rest of a shortfall is recorded on the send and shown with each of
its messages ("WeChat did not deliver n of N and does not say to whom"), never dropped
silently; when WeChat filtered everyone, every message moves.

Functions flush; ``wxcrm.jobs.outbox.drain`` commits the claim, then each send's result.
"""
from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from wxcrm.config import Settings
from wxcrm.members.models import Member
from wxcrm.messages import fate, outbox
from wxcrm.messages.dispatch import ChannelError, backoff
from wxcrm.messages.errcodes import Fate
from wxcrm.messages.kinds import KINDS
from wxcrm.messages.massquota import day_start, mass_month, next_day, over_limit
from wxcrm.messages.models import MassSend, OutboxMessage

log = logging.getLogger(__name__)

MASS_MIN, MASS_MAX = 2, 10_000
CALLS_PER_DAY = 100
CLAIM_SECONDS = 300
DUPLICATE_DELAY = timedelta(seconds=60)


def split(count: int, calls_left: int) -> list[int]:
    """Sizes of the calls for ``count`` recipients: as few as fit, as even as can be
    (so none is below two), at most ``calls_left`` calls (the rest wait)."""
    if count < MASS_MIN or calls_left <= 0:
        return []
    calls = min(-(-count // MASS_MAX), calls_left)
    count = min(count, calls * MASS_MAX)
    return [count // calls + (1 if i < count % calls else 0) for i in range(calls)]


def calls_today(session: Session, now: datetime) -> int:
    """Mass-send calls the account made today (Beijing), ours and those made elsewhere."""
    return session.scalar(select(func.count(MassSend.id)).where(
        MassSend.created_at >= day_start(now),
        MassSend.status.in_(("sending", "submitted", "reported", "outside")))) or 0


def _due_mass(now: datetime):
    return and_(OutboxMessage.channel == "mass", OutboxMessage.status == "pending",
                OutboxMessage.next_attempt_at <= now)


def claim_sends(session: Session, settings: Settings, worker: str, now: datetime, report) -> list[int]:
    """Group the due mass messages by their words, handle the ones alone, and claim the
    rest as mass sends (MassSend rows, status "sending"). Returns their ids."""
    sends = _recover(session, worker, now)
    groups = session.execute(select(OutboxMessage.content_key, func.count(OutboxMessage.id))
                             .where(_due_mass(now)).group_by(OutboxMessage.content_key)
                             .order_by(func.min(OutboxMessage.id))).all()
    calls_left = CALLS_PER_DAY - calls_today(session, now)
    for key, count in groups:
        if count < MASS_MIN:
            _alone(session, settings, key, now, report)
            continue
        if calls_left <= 0:
            _wait_for_tomorrow(session, key, now)
            continue
        made = _claim_group(session, key, worker, now, calls_left)
        calls_left -= len(made)
        sends += made
    report.claimed += sum(s.recipients for s in session.scalars(select(MassSend).where(MassSend.id.in_(sends)))) \
        if sends else 0
    return sends


def _recover(session: Session, worker: str, now: datetime) -> list[int]:
    """Mass sends a dispatcher claimed and never finished (it died, or WeChat never
    answered): sent again as they were, under the same clientmsgid, so WeChat answers
    45065 if the first call did reach it (and the messages count as sent)."""
    cutoff = now - timedelta(seconds=CLAIM_SECONDS)
    taken = []
    for send_id in session.scalars(select(MassSend.id).where(MassSend.status == "sending",
                                                             MassSend.created_at < cutoff)):
        won = session.execute(update(MassSend).where(MassSend.id == send_id, MassSend.status == "sending",
                                                     MassSend.created_at < cutoff).values(created_at=now)
                              .execution_options(synchronize_session=False)).rowcount
        if won:
            session.execute(update(OutboxMessage).where(OutboxMessage.mass_send_id == send_id)
                            .values(claimed_by=worker, claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
                            .execution_options(synchronize_session=False))
            taken.append(send_id)
    return taken


def _alone(session: Session, settings: Settings, key: str | None, now: datetime, report) -> None:
    """A message with no company: it waits as long as its kind allows, then goes by the
    member's next channel (customer service in a window, a template for a service notice, SMS)."""
    row = session.scalar(select(OutboxMessage).where(_due_mass(now), OutboxMessage.content_key == key)
                         .with_for_update())
    if row is None:
        return
    kind = KINDS[row.purpose]
    until = row.created_at + kind.mass_wait
    if now < until:
        history = list(row.history or [])
        if not history or history[-1].get("code") != "mass_company":
            row.history = history + [fate.step("waiting", "mass_company", "mass", now, until=until)]
        return
    outbox.reroute(session, row, fate.step("moved", "mass_alone", "mass", now), now, settings,
                   channels=kind.lone_channels)
    report.rerouted += row.status == "pending"
    report.parked += row.status == "parked"


def _wait_for_tomorrow(session: Session, key: str | None, now: datetime) -> None:
    session.execute(update(OutboxMessage).where(_due_mass(now), OutboxMessage.content_key == key)
                    .values(next_attempt_at=next_day(now), reason="mass: today's 100 mass sends are used")
                    .execution_options(synchronize_session=False))


def _claim_group(session: Session, key: str | None, worker: str, now: datetime, calls_left: int) -> list[int]:
    """Claim the group's due messages (one UPDATE; another dispatcher gets none of them)
    and split them into mass sends of 2..10,000 different openids."""
    session.execute(update(OutboxMessage).where(_due_mass(now), OutboxMessage.content_key == key)
                    .values(status="sending", claimed_by=worker, claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
                    .execution_options(synchronize_session=False))
    mine = and_(OutboxMessage.claimed_by == worker, OutboxMessage.status == "sending",
                OutboxMessage.content_key == key, OutboxMessage.mass_send_id.is_(None))
    rows = session.execute(select(OutboxMessage.id, OutboxMessage.openid).where(mine)
                           .order_by(OutboxMessage.id)).all()
    seen: set[str] = set()
    keep, later = [], []
    for row in rows:
        (later if row.openid in seen else keep).append(row)
        seen.add(row.openid)
    sizes = split(len(keep), calls_left)
    used = sum(sizes)
    # the same member twice, or past today's calls: back to pending, for the next pass
    _unclaim(session, [r.id for r in later] + [r.id for r in keep[used:]], now + DUPLICATE_DELAY)
    made, start = [], 0
    text = session.scalar(select(OutboxMessage.payload).where(OutboxMessage.id == keep[0].id))["text"] \
        if used else ""
    for size in sizes:
        chunk = keep[start:start + size]
        start += size
        digest = hashlib.sha1(("\n".join([key or ""] + sorted(r.openid for r in chunk))).encode()).hexdigest()
        send = MassSend(content_key=key, recipients=size, client_msg_id=f"wxcrm-{digest[:32]}", status="sending",
                        error="", created_at=now, report_status="", unexplained=0)
        session.add(send)
        session.flush()
        session.execute(update(OutboxMessage).where(mine, OutboxMessage.id >= chunk[0].id,
                                                    OutboxMessage.id <= chunk[-1].id)
                        .values(mass_send_id=send.id).execution_options(synchronize_session=False))
        made.append(send.id)
    log.info("mass: %d messages with the same words in %d sends (%s)", used, len(made), text[:30])
    return made


def _unclaim(session: Session, ids: list[int], when: datetime) -> None:
    for start in range(0, len(ids), 1000):
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids[start:start + 1000]))
                        .values(status="pending", claimed_by=None, claimed_until=None, next_attempt_at=when)
                        .execution_options(synchronize_session=False))


def send(session: Session, sender, settings: Settings, send_id: int, now: datetime, report) -> bool:
    """Make one mass-send call and record it on the send and its messages. True when
    WeChat said the account is over its limits (the pass should stop)."""
    mass = session.get(MassSend, send_id)
    of_send = OutboxMessage.mass_send_id == send_id
    openids = list(session.scalars(select(OutboxMessage.openid).where(of_send).order_by(OutboxMessage.id)))
    text = session.scalar(select(OutboxMessage.payload).where(of_send).limit(1))["text"]
    try:
        msg_id = sender.send_mass(openids, text, mass.client_msg_id)
    except ChannelError as exc:
        report.errors.append(f"mass send {send_id}: {exc}")
        if exc.fate != Fate.ALREADY_SENT:
            return _failed(session, settings, mass, exc, now, report)
        msg_id = ""
    mass.status, mass.msg_id, mass.submitted_at = "submitted", msg_id or None, now
    session.execute(update(OutboxMessage).where(of_send)
                    .values(status="sent", sent_at=now, remote_id=msg_id, attempts=OutboxMessage.attempts + 1,
                            claimed_by=None, claimed_until=None).execution_options(synchronize_session=False))
    report.sent += len(openids)
    report.mass_calls += 1
    early = session.scalar(select(MassSend).where(MassSend.msg_id == msg_id, MassSend.status == "outside")) \
        if msg_id else None
    if early is not None:   # its report came before we had written the msg_id down
        _apply_report(session, settings, mass, early.report_status, early.total_count or 0, early.filter_count or 0,
                      early.sent_count or 0, early.error_count or 0, now)
        session.delete(early)
    session.flush()
    return False


def _failed(session: Session, settings: Settings, mass: MassSend, error, now: datetime, report) -> bool:
    """The call failed: by the errcode table, its messages retry, move or park."""
    mass.status, mass.error = "failed", str(error)[:500]
    of_send = OutboxMessage.mass_send_id == mass.id
    if error.fate == Fate.RATE_LIMIT:
        session.execute(update(OutboxMessage).where(of_send)
                        .values(status="pending", claimed_by=None, claimed_until=None, mass_send_id=None,
                                next_attempt_at=now + timedelta(seconds=settings.outbox_retry_seconds),
                                last_error=str(error)[:500]).execution_options(synchronize_session=False))
        report.released += mass.recipients
        return True
    rows = list(session.scalars(select(OutboxMessage).where(of_send)))
    for row in rows:
        row.last_error = str(error)[:500]
        row.claimed_by = row.claimed_until = None
        if error.fate == Fate.MEMBER:
            outbox.reroute(session, row, fate.step("moved", "wechat_member", "mass", now, errcode=error.code,
                                                   error=error.message[:120]), now, settings,
                           channels=KINDS[row.purpose].lone_channels)
            report.rerouted += row.status == "pending"
            report.parked += row.status == "parked"
            continue
        row.attempts += 1
        row.mass_send_id = None
        if error.fate == Fate.PERMANENT or row.attempts >= settings.outbox_max_attempts:
            code = "refused" if error.fate == Fate.PERMANENT else "failed_n"
            outbox.park(session, row, fate.step("parked", code, "mass", now, attempts=row.attempts,
                                                error=str(error)[:160]))
            report.parked += 1
        else:
            row.status = "pending"
            row.next_attempt_at = now + backoff(row.attempts, settings.outbox_retry_seconds)
            report.retried += 1
    session.flush()
    return False


# ---------------------------------------------------------------- the report

def record_report(session: Session, settings: Settings, *, msg_id: str, status: str, total: int, filter_count: int,
                  sent: int, errors: int, now: datetime) -> MassSend:
    """WeChat's MASSSENDJOBFINISH: record it on our send and move the messages of members
    it did not reach; a report for a send we did not make is a mass send made elsewhere,
    which counts against every member's four this month."""
    mass = session.scalar(select(MassSend).where(MassSend.msg_id == msg_id, MassSend.status != "outside"))
    if mass is None:
        mass = session.scalar(select(MassSend).where(MassSend.msg_id == msg_id))
        if mass is None:
            mass = MassSend(content_key=None, recipients=total, client_msg_id="", msg_id=msg_id, status="outside",
                            error="", created_at=now, unexplained=0)
            session.add(mass)
        mass.report_status, mass.reported_at = status[:64], now
        mass.total_count, mass.filter_count, mass.sent_count, mass.error_count = total, filter_count, sent, errors
        session.flush()
        log.info("mass send %s made outside wxcrm: counted against every member for %s", msg_id, mass_month(now))
        return mass
    if mass.status == "reported":
        return mass
    _apply_report(session, settings, mass, status, total, filter_count, sent, errors, now)
    session.flush()
    return mass


def _apply_report(session: Session, settings: Settings, mass: MassSend, status: str, total: int, filter_count: int,
                  sent: int, errors: int, now: datetime) -> None:
    mass.status, mass.reported_at, mass.report_status = "reported", now, status[:64]
    mass.total_count, mass.filter_count, mass.sent_count, mass.error_count = total, filter_count, sent, errors
    filtered = max(total - filter_count, 0)
    missed = filtered + errors
    failed = sent == 0 and filter_count > 0 and not status.lower().startswith("send success")
    if not missed and not failed:
        return
    rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.mass_send_id == mass.id,
                                                            OutboxMessage.status == "sent")))
    if filtered >= len(rows):
        movers = [(row, "mass_filtered") for row in rows]
    elif failed or missed >= len(rows):
        movers = [(row, "mass_failed") for row in rows]
    else:
        member_ids = [r.member_id for r in rows if r.member_id]
        unfollowed = set(session.scalars(select(Member.id).where(Member.id.in_(member_ids),
                                                                  Member.followed.is_(False)))) if member_ids else set()
        past_four = over_limit(session, member_ids, mass_month(mass.submitted_at or now))
        movers = [(row, "mass_unfollowed" if row.member_id in unfollowed else "mass_past_four") for row in rows
                  if row.member_id in unfollowed | past_four]
    for row, code in movers:
        row.status = "sending"   # reroute from a sent row: it never arrived
        outbox.reroute(session, row, fate.step("moved", code, "mass", now, detail=status[:40], send=mass.id), now,
                       settings, channels=KINDS[row.purpose].lone_channels)
        row.sent_at, row.remote_id = None, ""
    mass.unexplained = max(missed - len(movers), 0) if not failed else 0
