"""Customer-service windows, per WeChat user, from the actions that really open them
(客服消息下发规则, https://developers.weixin.qq.com/doc/offiaccount/Customer_Service/Customer_Service_Messages.html):

    the user sends a message             5 messages within 48 hours
    a follow, a QR scan, a menu click    3 messages within 1 minute
    a payment                            no count, 48 hours

Opening a view (VIEW), WeChat's job reports and card events open nothing. A new action
of a kind replaces that kind's window; a send takes one message from the open window
that closes first (as WeChat counts). Outside every window WeChat answers 45015, past
the count 45047: both mean this member, not the account.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from wxcrm.messages.models import Contact
from wxcrm.sqlutil import insert_missing

# kind -> (messages allowed or None, how long it stays open)
WINDOWS: dict[str, tuple[int | None, timedelta]] = {
    "message": (5, timedelta(hours=48)),
    "event": (3, timedelta(minutes=1)),
    "payment": (None, timedelta(hours=48)),
}
# what the user did -> the window it opens
ACTIONS = {"message": "message", "follow": "event", "scan": "event", "menu": "event", "payment": "payment"}


@dataclass(frozen=True)
class Taken:
    """The window a message took one send from (to give it back if the message never goes)."""
    kind: str
    opened_at: datetime


class WindowClosed(Exception):
    """No window can carry a message now; ``code`` is window_closed or window_used."""

    def __init__(self, code: str, last: datetime | None):
        super().__init__(code)
        self.code = code
        self.last = last


def _contact(session: Session, openid: str, *, lock: bool) -> Contact | None:
    stmt = select(Contact).where(Contact.openid == openid)
    return session.scalar(stmt.with_for_update() if lock else stmt)


def record_user_action(session: Session, openid: str, action: str, at: datetime) -> None:
    """The user did ``action`` (message, follow, scan, menu, payment) at ``at``: its window opens."""
    kind = ACTIONS[action]
    contact = _contact(session, openid, lock=True)
    if contact is None:
        insert_missing(session, Contact, "openid", openid=openid, message_used=0, event_used=0)
        contact = _contact(session, openid, lock=True)
    opened = getattr(contact, f"{kind}_at")
    if opened is None or at >= opened:
        setattr(contact, f"{kind}_at", at)
        if kind != "payment":
            setattr(contact, f"{kind}_used", 0)
    session.flush()


def _open_windows(contact: Contact | None, now: datetime) -> list[tuple[datetime, str]]:
    """(closes at, kind) of the open windows, the soonest to close first."""
    if contact is None:
        return []
    found = []
    for kind, (_, length) in WINDOWS.items():
        opened = getattr(contact, f"{kind}_at")
        if opened is not None and opened <= now < opened + length:
            found.append((opened + length, kind))
    return sorted(found)


def take_send(session: Session, openid: str, now: datetime) -> Taken:
    """Take one customer-service message from the user's open windows (the row is locked,
    so two messages cannot both take the last one); WindowClosed when none can."""
    contact = _contact(session, openid, lock=True)
    windows = _open_windows(contact, now)
    if not windows:
        raise WindowClosed("window_closed", last_action(contact))
    for _, kind in windows:
        allowed = WINDOWS[kind][0]
        if allowed is None:
            return Taken(kind, getattr(contact, f"{kind}_at"))
        used = getattr(contact, f"{kind}_used")
        if used < allowed:
            setattr(contact, f"{kind}_used", used + 1)
            return Taken(kind, getattr(contact, f"{kind}_at"))
    raise WindowClosed("window_used", last_action(contact))


def give_back(session: Session, openid: str, taken: Taken) -> None:
    """A message that took a send did not go: its send returns to the window, if that
    window is still the one it took from."""
    allowed = WINDOWS[taken.kind][0]
    if allowed is None:
        return
    contact = _contact(session, openid, lock=True)
    if contact is not None and getattr(contact, f"{taken.kind}_at") == taken.opened_at:
        setattr(contact, f"{taken.kind}_used", max(getattr(contact, f"{taken.kind}_used") - 1, 0))


def exhaust(session: Session, openid: str) -> None:
    """WeChat said the user's windows are closed or used up (45015, 45047): believe it, so
    the next message does not try customer service again until the user acts again."""
    contact = _contact(session, openid, lock=True)
    if contact is not None:
        contact.message_used, contact.event_used = WINDOWS["message"][0], WINDOWS["event"][0]
        contact.payment_at = None


def any_open(session: Session, openid: str, now: datetime) -> bool:
    """Has the user an open window with a send left (checked again just before sending)?
    A message queued earlier has taken its send already, so a used-up count still counts."""
    return bool(_open_windows(_contact(session, openid, lock=False), now))


def last_action(contact: Contact | None) -> datetime | None:
    if contact is None:
        return None
    times = [t for t in (contact.message_at, contact.event_at, contact.payment_at) if t is not None]
    return max(times) if times else None


def _open_conditions(now: datetime) -> list:
    return [getattr(Contact, f"{kind}_at") > now - length for kind, (_, length) in WINDOWS.items()]


def open_window_exists(openid_column, now: datetime):
    """SQL: the user of ``openid_column`` has a window open now (as ``openids_with_open_window``
    says), for a SELECT that reads members anyway."""
    return exists(select(Contact.id).where(Contact.openid == openid_column, or_(*_open_conditions(now))))


def openids_with_open_window(session: Session, openids: list[str], now: datetime) -> set[str]:
    """Which of these users have a window open now (one query per thousand)."""
    found: set[str] = set()
    conditions = _open_conditions(now)
    for start in range(0, len(openids), 1000):
        found |= set(session.scalars(select(Contact.openid).where(
            Contact.openid.in_(openids[start:start + 1000]), or_(*conditions))))
    return found
