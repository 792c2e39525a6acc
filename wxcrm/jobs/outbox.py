"""The outbox pass: claim due messages (committed at once, so no lock is held while WeChat
answers), send each, and commit each result on its own."""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from wxcrm.config import Settings
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
from wxcrm.timeutil import utcnow


def drain(session: Session, settings: Settings, *, sender: Sender | None = None, now: datetime | None = None,
          limit: int | None = None, rate: RateLimiter | None = None,
          clock: Callable[[], datetime] | None = None) -> DrainReport:
    """One pass. Stops early, handing the rest back, when WeChat says we are sending too fast."""
    clock = clock or (lambda: now or utcnow())
    sender = sender or configured_sender(settings, session.get_bind())
    worker = uuid.uuid4().hex[:12]
    report = DrainReport()
    claim(session, worker, limit or settings.outbox_batch_size, clock())
    session.commit()
    ids = claimed(session, worker)
    report.claimed = len(ids)
    rate = rate or RateLimiter(settings.outbox_rate_per_second)
    for index, message_id in enumerate(ids):
        too_fast = send_claimed(session, sender, settings, message_id, worker, report, clock(), rate)
        session.commit()
        if too_fast:
            report.released = release(session, ids[index + 1:], worker, clock())
            session.commit()
            break
    return report
