"""The member as the rules see them before an event: their profile (members), their
purchase history (sales) and the points they can spend (given by the caller, who may
read the ledger; the rules never do)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wxcrm.members.cache import tier_code
from wxcrm.members.models import GroupAccount, Member
from wxcrm.rules.compiler import CompiledRuleSet
from wxcrm.rules.context import MemberFacts
from wxcrm.sales.queries import purchase_history


def member_facts(session: Session, member: Member, *, today: date, compiled: CompiledRuleSet,
                 points_balance: int, before: datetime | None = None) -> MemberFacts:
    """A few aggregate queries; only the spend and purchase windows the compiled rules ask for."""
    windows = sorted(set(compiled.spend_windows) | set(compiled.purchase_windows))
    history = purchase_history(session, member.id, today=today, windows=windows, before=before)
    referrals = session.scalar(select(func.count(Member.id)).where(Member.referrer_id == member.id)) or 0
    group = session.get(GroupAccount, member.group_id) if member.group_id else None
    return MemberFacts(
        id=member.id, joined_on=member.joined_on, tier=tier_code(session, member.tier_id), status=member.status,
        birthday=member.birthday, gender=member.gender, district=member.district,
        group=group.code if group else None, expires_on=member.expires_on,
        purchase_count=history.purchase_count, purchases_in_window=history.purchases_in,
        spend_in_window_fen=history.spend_in, referral_count=referrals, points_balance=points_balance)
