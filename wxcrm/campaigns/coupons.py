"""The one place greetings and campaigns reach coupons: an optional hook.

The coupons package (issue 14) issues coupons; until it is installed, ``available()`` is
False, the console offers no coupon field and a greeting or campaign carries none. When
it lands, ``ISSUE`` is its bulk issue function, and nothing else here changes."""
from __future__ import annotations

import importlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from wxcrm.config import Settings
from wxcrm.errors import DomainError


def _issuer():
    try:
        module = importlib.import_module("wxcrm.coupons.service")
    except ImportError:
        return None
    return getattr(module, "issue_to_members", None)


def available() -> bool:
    return _issuer() is not None


def issue(session: Session, settings: Settings, *, template_id: int, member_ids: Sequence[int], ref: str,
          now: datetime) -> int:
    """Issue one coupon of ``template_id`` to each member (idempotent per ``ref`` and member);
    returns how many were issued."""
    issuer = _issuer()
    if issuer is None:
        raise DomainError("coupons are not installed", code="coupons_unavailable")
    return issuer(session, settings, template_id=template_id, member_ids=list(member_ids), ref=ref, now=now)
