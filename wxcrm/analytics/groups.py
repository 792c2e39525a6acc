"""Group accounts in figures: members, rolling 12-month net spend and purchases (the same
window the tiers use: a group's spend is the sum of its cards'), points held, and the
tier that spend reaches."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from wxcrm.benefits.tiers import tier_for_spend
from wxcrm.ledger.models import LedgerAccount
from wxcrm.members.models import GroupAccount, Member, Tier
from wxcrm.sales.models import Transaction
from wxcrm.sales.queries import rolling_year_start, signed_payable


@dataclass
class GroupFigures:
    group: GroupAccount
    members: int
    spend_12m_fen: int
    purchases_12m: int
    points: int
    tier: Tier | None = None


def group_figures(session: Session, today: date) -> list[GroupFigures]:
    since = rolling_year_start(today)
    members = dict(session.execute(select(Member.group_id, func.count(Member.id))
                                   .where(Member.group_id.is_not(None)).group_by(Member.group_id)).all())
    spend = {gid: (int(total or 0), int(count or 0)) for gid, total, count in session.execute(
        select(Member.group_id,
               func.sum(signed_payable()),
               func.sum(case((Transaction.kind == "purchase", 1), else_=0)))
        .join(Transaction, Transaction.member_id == Member.id)
        .where(Member.group_id.is_not(None), Transaction.business_date > since, Transaction.business_date <= today)
        .group_by(Member.group_id)).all()}
    points = dict(session.execute(select(Member.group_id, func.sum(LedgerAccount.balance))
                                  .join(LedgerAccount, (LedgerAccount.member_id == Member.id)
                                        & (LedgerAccount.kind == "points"))
                                  .where(Member.group_id.is_not(None)).group_by(Member.group_id)).all())
    tiers = list(session.scalars(select(Tier).order_by(Tier.rank)))
    return [GroupFigures(g, members.get(g.id, 0), spend.get(g.id, (0, 0))[0], spend.get(g.id, (0, 0))[1],
                         int(points.get(g.id) or 0), tier_for_spend(tiers, spend.get(g.id, (0, 0))[0]))
            for g in session.scalars(select(GroupAccount).order_by(GroupAccount.code))]
