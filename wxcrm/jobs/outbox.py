"""The outbox pass: claim due messages (committed at once, so no lock is held while WeChat
answers), send each, and commit each result on its own. Mass messages go first, in
batches of the same words (``wxcrm.messages.mass``); then the others one by one."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from wxcrm.config import Settings
from wxcrm.messages import mass, quiet
from wxcrm.messages.dispatch import (
    DrainReport,
    RateLimiter,
    Sender,
    claim,
    claimed,
    configured_sender,
    release,
    send_claimed,
)
from wxcrm.messages.models import MassSend, OutboxMessage
from wxcrm.timeutil import utcnow


def drain(session: Session, settings: Settings, *, sender: Sender | None = None, now: datetime | None = None,
          limit: int | None = None, rate: RateLimiter | None = None,
          clock: Callable[[], datetime] | None = None) -> DrainReport:
    """One pass. Stops early, handing the rest back, when WeChat says we are sending too fast."""
    clock = clock or (lambda: now or utcnow())
    sender = sender or configured_sender(settings, session.get_bind())
    worker = uuid.uuid4().hex[:12]
    report = DrainReport()
    rate = rate or RateLimiter(settings.outbox_rate_per_second)
    # quiet hours: marketing waits (every mass message is marketing); service notices go
    hold = quiet.MARKETING_PURPOSES if quiet.in_quiet_hours(settings, clock()) else ()
    sends = [] if hold else mass.claim_sends(session, settings, worker, clock(), report)
    session.commit()
    for index, send_id in enumerate(sends):
        rate.wait()
        too_fast = mass.send(session, sender, settings, send_id, clock(), report)
        session.commit()
        if too_fast:
            _hand_back(session, sends[index + 1:], clock())
            return report
    claim(session, worker, limit or settings.outbox_batch_size, clock(), hold=hold)
    session.commit()
    ids = claimed(session, worker)
    report.claimed += len(ids)
    for index, message_id in enumerate(ids):
        too_fast = send_claimed(session, sender, settings, message_id, worker, report, clock(), rate)
        session.commit()
        if too_fast:
            report.released += release(session, ids[index + 1:], worker, clock())
            session.commit()
            break
    return report


def _hand_back(session: Session, send_ids: list[int], now: datetime) -> None:
    """Mass sends claimed but not made: their messages go back to the queue."""
    for send_id in send_ids:
        session.execute(update(OutboxMessage).where(OutboxMessage.mass_send_id == send_id)
                        .values(status="pending", claimed_by=None, claimed_until=None, mass_send_id=None,
                                next_attempt_at=now).execution_options(synchronize_session=False))
        session.execute(update(MassSend).where(MassSend.id == send_id)
                        .values(status="failed", error="handed back: WeChat asked us to slow down")
                        .execution_options(synchronize_session=False))
    session.commit()
