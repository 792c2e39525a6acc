"""Read-only figures about members, tiers and group accounts for the console."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from wxcrm.checkout.models import Transaction
from wxcrm.ledger.models import LedgerAccount
from wxcrm.members.models import GroupAccount, Member, Tier


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
               # CASE, not FILTER: MySQL has no aggregate FILTER clause.
               func.sum(case((Transaction.kind == "refund", -Transaction.payable_fen), else_=Transaction.payable_fen)),
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


def tier_counts(session: Session) -> list[tuple[Tier, int]]:
    counts = dict(session.execute(select(Member.tier_id, func.count(Member.id)).group_by(Member.tier_id)).all())
    return [(t, counts.get(t.id, 0)) for t in session.scalars(select(Tier).order_by(Tier.rank))]
