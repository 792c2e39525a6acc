"""Coupons with greetings and campaigns: the template a marketer may attach, the bulk issue
(``wxcrm.coupons.bulk``: one coupon per member and ref, within stock and per-member
limits), and the words that name the coupon in the greeting or campaign message.

A member who gets the coupon gets the message that names it; a member the coupon did not
reach (the stock ran out, the member's limit) gets the message without it."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from wxcrm.config import Settings
from wxcrm.coupons.bulk import BulkIssue, holders_of, issue_to_members, ref_counts
from wxcrm.coupons.models import CouponTemplate
from wxcrm.coupons.service import worth_words
from wxcrm.errors import DomainError, NotFound
from wxcrm.messages.sms import PARAM_LIMIT

__all__ = ["BulkIssue", "issue", "attachable", "check_template", "wording", "counts", "holders_of"]


def available() -> bool:
    """Coupons are part of wxcrm (kept for the pages that ask)."""
    return True


def attachable(session: Session) -> list[CouponTemplate]:
    """The templates a marketer may attach: active ones, newest first."""
    return list(session.scalars(select(CouponTemplate).where(CouponTemplate.active.is_(True))
                                .order_by(CouponTemplate.id.desc())))


def check_template(session: Session, template_id: int) -> CouponTemplate:
    tpl = session.get(CouponTemplate, template_id)
    if tpl is None:
        raise NotFound(f"no coupon template {template_id}", code="coupon_template_not_found",
                       fields={"coupon_template_id": "unknown"})
    if not tpl.active:
        raise DomainError(f"coupon template {tpl.code} is not active", code="coupon_template_inactive",
                          fields={"coupon_template_id": "inactive"}, params={"code": tpl.code})
    return tpl


def issue(session: Session, settings: Settings, *, template_id: int, member_ids: Sequence[int], ref: str,
          now: datetime) -> BulkIssue:
    """One coupon of ``template_id`` to each member (idempotent per ``ref`` and member)."""
    return issue_to_members(session, settings, template_id=template_id, member_ids=member_ids, ref=ref, now=now,
                            channel="campaign", reason=ref)


def wording(tpl: CouponTemplate, text: str) -> tuple[str, str]:
    """The message that names the coupon: (its words, the words of its SMS). The SMS
    template's parameter takes at most 35 characters, so the SMS says what fits: the
    message and the coupon, else the coupon alone, else the message alone."""
    worth, _ = worth_words(tpl)
    line = f"送您一张{tpl.title_zh}（{worth}），已放入您的券包，到店出示会员码即可使用。"
    short = f"送您{tpl.title_zh}，已放入券包"
    full = f"{text}{line}"
    for candidate in (full, f"{text}{short}", short, text):
        if len(candidate) <= PARAM_LIMIT:
            return full, candidate
    return full, text


def counts(session: Session, ref: str) -> dict[str, int]:
    """The coupons ``ref`` issued: {"issued": n, "used": n}."""
    return ref_counts(session, ref)
