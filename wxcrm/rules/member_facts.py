"""The member as the rules see them before an event: their profile (members), their
purchase history (sales) and the points they can spend (given by the caller, who may
read the ledger; the rules never do)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wxcrm.members.cache import tier_code
from wxcrm.members.models import GroupAccount, Member
from wxcrm.rules.compiler import CompiledRuleSet
from wxcrm.rules.context import MemberFacts, UsageCounts
from wxcrm.sales.queries import PurchaseHistory, purchase_history


@dataclass(frozen=True)
class KnownFacts:
    """What a caller already read in its own query (the till reads the member's history,
    referrals, points and limit counters in one): the member's facts then need no query of
    their own. ``usage``: the limited rules' counters (as ``usage.usage_for`` answers) of
    the event ``usage_event`` under the rule set ``usage_of``; None: not read."""
    history: PurchaseHistory
    referral_count: int
    usage: Mapping[int, UsageCounts] | None = None
    usage_of: CompiledRuleSet | None = field(default=None, compare=False)
    usage_event: str | None = None

    def usage_read_for(self, compiled: CompiledRuleSet, event: str) -> Mapping[int, UsageCounts] | None:
        """The counters, if they were read for this rule set and event (else None: ask)."""
        if self.usage is not None and self.usage_of is compiled and self.usage_event == event:
            return self.usage
        return None


def fact_windows(compiled: CompiledRuleSet) -> list[int]:
    """The spend and purchase windows (days) the compiled rules ask about."""
    return sorted(set(compiled.spend_windows) | set(compiled.purchase_windows))


def referral_count_column(member_id: int):
    """How many members this member referred, as a scalar subquery."""
    return select(func.count(Member.id)).where(Member.referrer_id == member_id).scalar_subquery()


def member_facts(session: Session, member: Member, *, today: date, compiled: CompiledRuleSet,
                 points_balance: int, before: datetime | None = None, known: KnownFacts | None = None) -> MemberFacts:
    """A few aggregate queries (none with ``known``); only the spend and purchase windows
    the compiled rules ask for."""
    if known is not None:
        history, referrals = known.history, known.referral_count
    else:
        history = purchase_history(session, member.id, today=today, windows=fact_windows(compiled), before=before)
        referrals = session.scalar(select(referral_count_column(member.id))) or 0
    group = session.get(GroupAccount, member.group_id) if member.group_id else None
    return MemberFacts(
        id=member.id, joined_on=member.joined_on, tier=tier_code(session, member.tier_id), status=member.status,
        birthday=member.birthday, gender=member.gender, district=member.district,
        group=group.code if group else None, expires_on=member.expires_on,
        purchase_count=history.purchase_count, purchases_in_window=history.purchases_in,
        spend_in_window_fen=history.spend_in, referral_count=referrals, points_balance=points_balance)
