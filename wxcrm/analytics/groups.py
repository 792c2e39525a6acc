"""Group accounts in figures: members, 12-month net spend and purchases, points held."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from wxcrm.ledger.models import LedgerAccount
from wxcrm.members.models import GroupAccount, Member
from wxcrm.sales.models import Transaction
from wxcrm.sales.queries import signed_payable


@dataclass
class GroupFigures:
    group: GroupAccount
    members: int
    spend_12m_fen: int
    purchases_12m: int
    points: int


def group_figures(session: Session, today: date) -> list[GroupFigures]:
    since = today - timedelta(days=365)
    members = dict(session.execute(select(Member.group_id, func.count(Member.id))
                                   .where(Member.group_id.is_not(None)).group_by(Member.group_id)).all())
    spend = {gid: (int(total or 0), int(count or 0)) for gid, total, count in session.execute(
        select(Member.group_id,
               func.sum(signed_payable()),
               func.sum(case((Transaction.kind == "purchase", 1), else_=0)))
        .join(Transaction, Transaction.member_id == Member.id)
        .where(Member.group_id.is_not(None), Transaction.business_date >= since)
        .group_by(Member.group_id)).all()}
    points = dict(session.execute(select(Member.group_id, func.sum(LedgerAccount.balance))
                                  .join(LedgerAccount, (LedgerAccount.member_id == Member.id)
                                        & (LedgerAccount.kind == "points"))
                                  .where(Member.group_id.is_not(None)).group_by(Member.group_id)).all())
    return [GroupFigures(g, members.get(g.id, 0), spend.get(g.id, (0, 0))[0], spend.get(g.id, (0, 0))[1],
                         int(points.get(g.id) or 0))
            for g in session.scalars(select(GroupAccount).order_by(GroupAccount.code))]
