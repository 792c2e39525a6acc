"""The outbox: every message to a member is a row written in the caller's transaction.

``enqueue`` decides, there and then, which channel may carry the message, following
WeChat's rules, and records why each better channel was skipped:

- template messages are service notices only (``kinds``), need the account's template for
  the purpose, values that fit each keyword's type (``templates``), and reach followers;
- customer-service ("custom") messages only inside a window the user opened, within its
  count (``windows``);
- mass sends reach a member at most four times a calendar month (Beijing time), and go
  out in batches of 2..10,000 followers with the same words (``mass``);
- SMS needs a mainland mobile number and values an SMS template can take (``sms``).

The dispatcher (``dispatch`` and ``mass``, driven by a job) sends rows later, outside any
request; when a channel turns a message down it moves to the next one, and every step is
in the row's ``history``. Functions take a session, flush, never commit.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, String, and_, case, exists, func, insert, literal, select
from sqlalchemy.orm import Session

from wxcrm.config import Settings
from wxcrm.errors import DomainError, NotFound
from wxcrm.members.models import Member
from wxcrm.messages import fate, quiet, sms, templates, windows
from wxcrm.messages.kinds import KINDS, PURPOSES
from wxcrm.messages.massquota import (
    MASS_PER_MONTH,
    mass_month,
    release_mass_send,
    release_mass_sends,
    reserve_mass_send,
    reserve_mass_sends,
)
from wxcrm.messages.models import OutboxMessage
from wxcrm.sqlutil import connection as sql_connection
from wxcrm.sqlutil import ids_in, insert_missing, run
from wxcrm.timeutil import utcnow

__all__ = ["PURPOSES", "MASS_PER_MONTH", "enqueue", "enqueue_many", "reroute", "resend", "status_counts",
           "content_key", "Recipient", "record_user_action"]

TEXT_LIMIT = 600
record_user_action = windows.record_user_action


@dataclass(frozen=True)
class Recipient:
    member_id: int | None
    openid: str | None
    phone: str | None
    followed: bool
    marketing: bool = True      # the member agreed to marketing (and has not opted out)


@dataclass(frozen=True)
class Content:
    """What the message says: its words, its named values, a link."""
    text: str
    fields: Mapping[str, object]
    url: str

    @classmethod
    def of(cls, row: OutboxMessage) -> Content:
        p = row.payload
        return cls(p["source_text"], p.get("source_fields") or {}, p.get("source_url") or "")

    def source(self) -> dict:
        return {"source_text": self.text, "source_fields": dict(self.fields), "source_url": self.url}

    @property
    def body(self) -> str:
        """The words of a customer-service or mass message (the link on its own line)."""
        body = self.text if not self.url else f"{self.text}\n{self.url}"
        return body[:TEXT_LIMIT]


def content_key(text: str) -> str:
    """Messages with the same key may go in one mass send."""
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class Choice:
    channel: str | None
    payload: dict
    steps: list[dict]


def recipient_for(member: Member) -> Recipient:
    return Recipient(member.id, member.openid, member.phone, bool(member.followed), bool(member.marketing_consent))


def _recipient_of(session: Session, row: OutboxMessage) -> Recipient:
    member = session.get(Member, row.member_id) if row.member_id else None
    return recipient_for(member) if member else Recipient(None, row.openid, row.phone, bool(row.openid))


def choose(session: Session, settings: Settings, purpose: str, channels: Sequence[str], to: Recipient,
           content: Content, now: datetime, *, mass_left: int | None = None) -> Choice:
    """The first of ``channels`` that may carry this message to this recipient now (taking a
    customer-service send or a monthly mass send), and a step for each one that may not.
    ``mass_left``: the member's mass sends left this month, when the caller worked it out."""
    steps: list[dict] = []

    def skip(channel: str, code: str, **detail) -> None:
        steps.append(fate.step("skipped", code, channel, now, **detail))

    if KINDS[purpose].marketing and not to.marketing:
        return Choice(None, {}, [fate.step("skipped", "no_consent", None, now)])

    for channel in channels:
        if channel in ("template", "custom", "mass"):
            if not to.openid:
                skip(channel, "no_openid")
                continue
            if not to.followed:
                skip(channel, "not_following")
                continue
        if channel == "template":
            spec = templates.template_for(settings, purpose)
            if spec is None:
                skip(channel, "no_template")
                continue
            try:
                data = spec.data(content.fields)
            except templates.TemplateValueError as exc:
                skip(channel, "template_value", keyword=exc.keyword, value=(exc.value or "")[:40])
                continue
            return Choice(channel, {"template_id": spec.template_id, "data": data, "url": content.url}, steps)
        if channel == "custom":
            try:
                taken = windows.take_send(session, to.openid, now)
            except windows.WindowClosed as exc:
                if exc.last is None:
                    skip(channel, "no_window")
                else:
                    skip(channel, exc.code, last=exc.last)
                continue
            return Choice(channel, {"text": content.body, "window": {"kind": taken.kind,
                                                                     "opened_at": taken.opened_at.isoformat()}},
                          steps)
        if channel == "mass":
            month = mass_month(now)
            if to.member_id is None or (mass_left is not None and mass_left <= 0) or (
                    mass_left is None and not reserve_mass_send(session, to.member_id, month)):
                skip(channel, "mass_month", month=month)
                continue
            return Choice(channel, {"text": content.body, "mass_month": month}, steps)
        if channel == "card":      # a deferred card API call: the values are the whole message
            return Choice(channel, {"text": content.text, **dict(content.fields)}, steps)
        if channel == "sms":
            if not sms.mobile(to.phone):
                skip(channel, "no_phone")
                continue
            try:
                params = sms.params_for(purpose, content.text, content.fields)
            except sms.SmsValueError as exc:
                skip(channel, "sms_value", param=exc.param, value=(exc.value or "")[:40])
                continue
            return Choice(channel, {"template": sms.template_code(settings, purpose), "sign": sms.sign(settings),
                                    "params": params}, steps)
    return Choice(None, {}, steps)


def _apply(row: OutboxMessage, choice: Choice, content: Content, now: datetime) -> None:
    """Put a choice on a row: its channel and payload, or parked when nothing can carry it."""
    row.history = list(row.history or []) + choice.steps
    if choice.channel is None:
        row.status = "parked"
        row.history = row.history + [fate.step("parked", "no_channel", None, now)]
        row.payload = content.source()
        row.reason = fate.reason_of([e for e in row.history if e["event"] != "parked"],
                                    parked_without_channel=True)
        row.content_key = None
        row.next_attempt_at = now      # not NULL: a keyed row is inserted with every column given
    else:
        row.channel, row.status = choice.channel, "pending"
        row.payload = choice.payload | content.source()
        row.reason = fate.reason_of(row.history)
        row.content_key = content_key(choice.payload["text"]) if choice.channel == "mass" else None
        row.next_attempt_at = now
    row.claimed_by = row.claimed_until = None


def _wait_out_quiet_hours(row: OutboxMessage, settings: Settings, now: datetime) -> None:
    """A marketing message queued in quiet hours leaves when they end."""
    if row.status != "pending" or not KINDS[row.purpose].marketing:
        return
    until = quiet.next_marketing_moment(settings, now)
    if until > now:
        row.next_attempt_at = until
        row.history = list(row.history or []) + [fate.step("waiting", "quiet_hours", None, now, until=until)]


def enqueue(session: Session, settings: Settings, *, purpose: str, text: str, member: Member | None = None,
            openid: str | None = None, fields: Mapping[str, object] | None = None, url: str | None = None,
            dedup_key: str | None = None, now: datetime | None = None,
            read_back: bool = True, phone: str | None = None) -> OutboxMessage | None:
    """Queue one message in the caller's transaction and return its row.

    ``phone``: text this number instead of the member's (a code proving a new number is theirs).

    ``text`` is the message in words (customer service, mass, the SMS ``text`` parameter);
    ``fields`` are its named values (``kinds``: e.g. store, change, balance) that fill the
    WeChat and SMS templates. With ``dedup_key`` a second call returns the first row. A
    message no channel may carry is stored parked, with the reason. ``read_back=False``
    (a key new by construction, e.g. a just-made transaction's) writes the row without
    reading the outbox before or after, and returns None.
    """
    _check(purpose, text)
    now = now or utcnow()
    if dedup_key and read_back:
        existing = session.scalar(select(OutboxMessage).where(OutboxMessage.dedup_key == dedup_key))
        if existing is not None:
            return existing
    to = recipient_for(member) if member is not None else Recipient(None, openid, None, bool(openid))
    if phone:
        to = Recipient(to.member_id, to.openid, phone, to.followed)
    content = Content(text, dict(fields or {}), url or "")
    start = {"purpose": purpose, "channel": PURPOSES[purpose][0], "member_id": to.member_id, "openid": to.openid,
             "phone": to.phone, "dedup_key": dedup_key, "attempts": 0, "last_error": "", "created_at": now,
             "next_attempt_at": now,
             "remote_id": "", "history": []}
    if dedup_key is not None and not read_back:
        # A new key (a just-made transaction's): a plain Core insert of a plain row, no ORM
        # instance (issue 11); the unique index still refuses a second row.
        row = _Row.__new__(_Row)
        row.__dict__.update(dict.fromkeys(_ROW_COLUMNS), **start)
        _apply(row, choose(session, settings, purpose, PURPOSES[purpose], to, content, now), content, now)
        _wait_out_quiet_hours(row, settings, now)
        run(sql_connection(session), _INSERT_ROW, {c: getattr(row, c) for c in _ROW_COLUMNS})
        return None
    row = OutboxMessage(**start)
    _apply(row, choose(session, settings, purpose, PURPOSES[purpose], to, content, now), content, now)
    _wait_out_quiet_hours(row, settings, now)
    if dedup_key is None:
        session.add(row)
        session.flush()
        return row
    # A concurrent caller with the same key: whichever commits first wins, the other gets its row.
    values = {c.key: getattr(row, c.key) for c in OutboxMessage.__table__.columns if c.key != "id"}
    insert_missing(session, OutboxMessage, "dedup_key", **values)
    return session.scalar(select(OutboxMessage).where(OutboxMessage.dedup_key == dedup_key))


def _check(purpose: str, text: str) -> None:
    if purpose not in KINDS:
        raise DomainError(f"unknown message purpose {purpose}", code="unknown_message_purpose")
    if not text.strip():
        raise DomainError("a message needs text", code="empty_message")


CHUNK = 10_000


_ROW_COLUMNS = tuple(c.key for c in OutboxMessage.__table__.columns if c.key != "id")
_PER_MEMBER = ("member_id", "openid", "phone", "dedup_key")
_INSERT_ROW = insert(OutboxMessage.__table__)


class _Row:
    """An outbox row being built for a bulk insert (a plain object: building 100,000 ORM
    instances costs seconds)."""

    def __init__(self, **values):
        self.__dict__.update(dict.fromkeys(_ROW_COLUMNS), status="pending", reason="", mass_send_id=None,
                             content_key=None, sent_at=None, claimed_by=None, claimed_until=None,
                             next_attempt_at=values["created_at"], **values)


def _literal(value, type_):
    """A value for every row of an ``INSERT ... SELECT``; JSON as its text with Chinese as
    it is (not ``\\uXXXX``): a third of the bytes for each of a campaign's many rows."""
    if isinstance(type_, JSON):
        return literal(json.dumps(value, ensure_ascii=False), String())
    return literal(value, type_)


def _key_of(dedup_prefix: str | None):
    """The SQL expression of a member's dedup key, ``{prefix}:m{member_id}`` (as ``enqueue_many``'s
    Python spells it), or NULL without a prefix."""
    if not dedup_prefix:
        return literal(None, String())
    # CONCAT of the id itself, not of CAST(id AS CHAR): a CAST takes the connection's collation
    # and a comparison with ``dedup_key`` (the table's) then fails on MariaDB when the two differ
    # ("Illegal mix of collations"); a number converted by CONCAT yields to the column's.
    return literal(f"{dedup_prefix}:m", String()).concat(Member.id)


# a member's facts in one number (``recipients``): fewer columns to read for 100,000 members
CONSENT, FOLLOWED, IN_WINDOW, QUEUED = 1, 2, 4, 8


def recipients(purpose: str, now: datetime, dedup_prefix: str | None = None):
    """The SELECT ``enqueue_many`` reads its members with, one row a member: id, openid,
    phone and ``flags``, the sum of CONSENT (marketing consent), FOLLOWED, IN_WINDOW (a
    follower with a customer-service window open, when the purpose may use one) and QUEUED
    (a row keyed ``{dedup_prefix}:m{id}`` exists). A caller that reads its members anyway
    (a campaign's next batch) joins and filters this and passes the rows as
    ``enqueue_many(people=...)``."""
    flags = case((Member.marketing_consent.is_(True), CONSENT), else_=0) \
        + case((Member.followed.is_(True), FOLLOWED), else_=0)
    if "custom" in PURPOSES[purpose]:
        flags = flags + case((and_(Member.openid.is_not(None), Member.followed.is_(True),
                                   windows.open_window_exists(Member.openid, now)), IN_WINDOW), else_=0)
    if dedup_prefix:
        flags = flags + case((exists(select(OutboxMessage.id).where(OutboxMessage.dedup_key == _key_of(dedup_prefix))),
                              QUEUED), else_=0)
    return select(Member.id, Member.openid, Member.phone, flags.label("flags"))


def _recipient(p) -> Recipient:
    """A row of ``recipients`` as a Recipient."""
    return Recipient(p[0], p[1], p[2], bool(p[3] & FOLLOWED), bool(p[3] & CONSENT))


def enqueue_many(session: Session, settings: Settings, *, purpose: str, text: str,
                 member_ids: Sequence[int] = (), people: Sequence | None = None,
                 fields: Mapping[str, object] | None = None, url: str | None = None, dedup_prefix: str | None = None,
                 now: datetime | None = None) -> dict[str, int]:
    """The same message to many members (a campaign, a greeting), set-based, with the
    channel each would get from ``enqueue``. Members are read (with whether they are in a
    customer-service window and already queued: ``recipients``), and mass counters read
    and written, ten thousand at a time; ``people``: the rows of ``recipients`` the caller
    read instead of ``member_ids``. The members fall into a handful of kinds (consent,
    WeChat account, follows, a mass send left this month, a mobile number): the channel,
    payload and history are worked out once per kind, and each kind's rows are written by
    one ``INSERT ... SELECT`` from ``members`` (no value is sent per member). A member
    inside a customer-service window takes a send from it, one by one (few do). With
    ``dedup_prefix`` each member's row is keyed ``{prefix}:m{member_id}`` and a member
    already queued is skipped. Returns how many went to each channel (and "parked",
    "skipped")."""
    _check(purpose, text)
    now = now or utcnow()
    if dedup_prefix and len(dedup_prefix) > 170:
        raise DomainError("the dedup prefix is too long", code="dedup_prefix_too_long")
    content = Content(text, dict(fields or {}), url or "")
    channels = PURPOSES[purpose]
    marketing = KINDS[purpose].marketing
    month = mass_month(now)
    counts: dict[str, int] = {}

    def count(row) -> None:
        name = row.channel if row.status == "pending" else "parked"
        counts[name] = counts.get(name, 0) + 1

    table = OutboxMessage.__table__
    same = [name for name in _ROW_COLUMNS if name not in _PER_MEMBER]
    conn = sql_connection(session)
    total = len(people) if people is not None else len(member_ids)
    for start in range(0, total, CHUNK):
        if people is not None:
            found = people[start:start + CHUNK]
            chunk = [int(p[0]) for p in found]
        else:
            chunk = [int(mid) for mid in member_ids[start:start + CHUNK]]
            found = conn.execute(recipients(purpose, now, dedup_prefix).where(ids_in(Member.id, chunk))).all()
        done = {p[0] for p in found if p[3] & QUEUED}
        if done:
            chunk = [mid for mid in chunk if mid not in done]
            counts["skipped"] = counts.get("skipped", 0) + len(done)
        if not chunk:
            continue
        known = {p[0]: p for p in found if not p[3] & QUEUED}
        mass_left = reserve_mass_sends(session, [p[0] for p in known.values()
                                                 if p[1] and p[3] & FOLLOWED and not p[3] & IN_WINDOW
                                                 and (p[3] & CONSENT or not marketing)],
                                       month) if "mass" in channels else {}
        kinds: dict[tuple, list[int]] = {}
        one_by_one = []
        give_back: list[int] = []
        for mid in chunk:
            p = known.get(mid)
            if p is None:
                continue
            if p[3] & IN_WINDOW:
                one_by_one.append(_recipient(p))
                continue
            kinds.setdefault((p[3] & (CONSENT | FOLLOWED), bool(p[1]), mass_left.get(mid), sms.mobile(p[2])),
                             []).append(mid)
        for kind, mids in kinds.items():
            to = _recipient(known[mids[0]])    # any member of the kind gets the same choice
            # a follower outside every window: customer service is skipped as ``choose`` would
            windowless = "custom" in channels and to.openid and to.followed and (to.marketing or not marketing)
            usable = tuple(c for c in channels if c != "custom") if windowless else channels
            choice = choose(session, settings, purpose, usable, to, content, now, mass_left=kind[2])
            if choice.channel != "mass" and kind[2]:
                give_back += mids
            row = _Row(purpose=purpose, member_id=None, openid=None, phone=None, dedup_key=None, attempts=0,
                       last_error="", created_at=now, remote_id="", history=[], channel=channels[0])
            if windowless:
                choice.steps.insert(0, fate.step("skipped", "no_window", "custom", now))
            _apply(row, choice, content, now)
            _wait_out_quiet_hours(row, settings, now)
            name = row.channel if row.status == "pending" else "parked"
            counts[name] = counts.get(name, 0) + len(mids)
            rows = select(*[_literal(getattr(row, name), table.c[name].type) for name in same],
                          Member.id, Member.openid, Member.phone, _key_of(dedup_prefix)) \
                .where(ids_in(Member.id, mids)).order_by(Member.id)
            session.execute(insert(table).from_select(same + list(_PER_MEMBER), rows))
        rows = []
        for to in one_by_one:          # inside a window: a send taken from it, member by member
            mid = to.member_id
            choice = choose(session, settings, purpose, channels, to, content, now, mass_left=mass_left.get(mid))
            if choice.channel != "mass" and mass_left.get(mid):
                give_back.append(mid)
            row = _Row(purpose=purpose, member_id=mid, openid=to.openid, phone=to.phone,
                       dedup_key=f"{dedup_prefix}:m{mid}" if dedup_prefix else None, attempts=0, last_error="",
                       created_at=now, remote_id="", history=[], channel=channels[0])
            _apply(row, choice, content, now)
            _wait_out_quiet_hours(row, settings, now)
            count(row)
            rows.append({key: getattr(row, key) for key in _ROW_COLUMNS})
        if rows:
            sql_connection(session).execute(insert(OutboxMessage.__table__), rows)
        release_mass_sends(session, give_back, month)
    session.flush()
    return counts


def release(session: Session, row: OutboxMessage) -> None:
    """The row leaves its channel without having gone: give back what it took there."""
    p = row.payload or {}
    if row.channel == "mass" and row.member_id and p.get("mass_month"):
        release_mass_send(session, row.member_id, p["mass_month"])
    elif row.channel == "custom" and row.openid and p.get("window"):
        taken = windows.Taken(p["window"]["kind"], datetime.fromisoformat(p["window"]["opened_at"]))
        windows.give_back(session, row.openid, taken)


def reroute(session: Session, row: OutboxMessage, why: dict, now: datetime, settings: Settings,
            channels: Sequence[str] | None = None) -> None:
    """This channel cannot carry the message (refused at send time, alone in a mass send,
    filtered by WeChat): record why and try the next channels (or ``channels``)."""
    release(session, row)
    purpose_channels = PURPOSES[row.purpose]
    if channels is None:
        channels = purpose_channels[purpose_channels.index(row.channel) + 1:] \
            if row.channel in purpose_channels else ()
    channels = [c for c in channels if c != row.channel]
    content = Content.of(row)
    choice = choose(session, settings, row.purpose, channels, _recipient_of(session, row), content, now)
    moved = dict(why, to=choice.channel) if choice.channel else why
    row.history = list(row.history or []) + [moved]
    row.mass_send_id = None
    _apply(row, choice, content, now)


def park(session: Session, row: OutboxMessage, why: dict) -> None:
    """Give up on the message (refused for good, or failed too often), keeping why."""
    release(session, row)
    row.status = "parked"
    row.history = list(row.history or []) + [why]
    row.reason = fate.reason_of(row.history)
    row.claimed_by = row.claimed_until = None


def record_template_report(session: Session, settings: Settings, *, msgid: str, status: str,
                           now: datetime) -> OutboxMessage | None:
    """WeChat's TEMPLATESENDJOBFINISH for a template message we sent: a member who blocks
    template messages gets it by the next channel; a failure on WeChat's side is retried."""
    row = session.scalar(select(OutboxMessage).where(OutboxMessage.remote_id == msgid,
                                                     OutboxMessage.channel == "template",
                                                     OutboxMessage.status == "sent").with_for_update())
    if row is None or status == "success":
        return row
    row.status = "sending"   # it never arrived: it goes again, by the next channel or this one
    row.sent_at, row.remote_id = None, ""
    if "block" in status:
        reroute(session, row, fate.step("moved", "template_blocked", "template", now), now, settings)
    else:
        row.status, row.next_attempt_at = "pending", now
        row.history = list(row.history or []) + [fate.step("retrying", "template_failed", "template", now)]
    session.flush()
    return row


def resend(session: Session, message_id: int, settings: Settings, now: datetime | None = None) -> OutboxMessage:
    """Put a parked message back in the queue, choosing its channel afresh (the member may
    have followed again, written to us, or entered a phone number since)."""
    now = now or utcnow()
    row = session.scalar(select(OutboxMessage).where(OutboxMessage.id == message_id).with_for_update())
    if row is None:
        raise NotFound(f"no outbox message {message_id}", code="outbox_message_not_found")
    if row.status != "parked":
        raise DomainError(f"message {message_id} is {row.status}, not parked", code="outbox_not_parked")
    content = Content.of(row)
    choice = choose(session, settings, row.purpose, PURPOSES[row.purpose], _recipient_of(session, row), content,
                    now)
    if choice.channel is None:
        row.reason = fate.reason_of(choice.steps, parked_without_channel=True)
        raise DomainError(row.reason, code="outbox_cannot_go")
    row.history = list(row.history or []) + [fate.step("resent", "console", None, now)]
    row.attempts, row.last_error, row.mass_send_id = 0, "", None
    _apply(row, Choice(choice.channel, choice.payload, choice.steps), content, now)
    row.reason = fate.reason_of(choice.steps)
    session.flush()
    return row


def status_counts(session: Session) -> dict[str, int]:
    return dict(session.execute(select(OutboxMessage.status, func.count(OutboxMessage.id))
                                .group_by(OutboxMessage.status)).all())
