"""The jobs themselves: thin wrappers that open an app context and call a service."""
from __future__ import annotations

import logging

from flask import Flask

log = logging.getLogger(__name__)


def dispatch_outbox(app: Flask) -> None:
    from wxcrm.extensions import db
    from wxcrm.wechat.dispatch import drain_outbox
    try:
        report = drain_outbox(db.session, app.config)
        if report.claimed:
            log.info("outbox: %s", report)
    finally:
        db.session.remove()
