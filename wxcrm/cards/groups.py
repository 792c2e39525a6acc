"""Group accounts' cards: attach a member's card to a company or club account, detach it,
and the group's cards with their 12-month spend and points. Each change is in the member's
history with who and why."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from wxcrm.errors import N_, DomainError
from wxcrm.ledger.models import LedgerAccount
from wxcrm.members import service as members
from wxcrm.members.models import GroupAccount, Member
from wxcrm.sales.models import Transaction
from wxcrm.sales.queries import rolling_year_start, signed_payable


@dataclass
class GroupCard:
    member: Member
    points: int
    spend_12m_fen: int
    purchases_12m: int


def attach_card(session: Session, group: GroupAccount, member: Member, *, staff_id: int, reason: str,
                at: datetime) -> None:
    if member.status == "closed":
        raise DomainError(N_("this membership is closed"), code="member_closed")
    if member.group_id == group.id:
        return
    if member.group_id is not None:
        raise DomainError(N_("this card belongs to another group account: detach it first"), code="card_in_group")
    member.group_id = group.id
    members.record_change(session, member, "group", "", group.code, source="staff", staff_id=staff_id,
                          reason=reason, at=at)


def detach_card(session: Session, group: GroupAccount, member: Member, *, staff_id: int, reason: str,
                at: datetime) -> None:
    if member.group_id != group.id:
        raise DomainError(N_("this card is not in the group account"), code="card_not_in_group")
    member.group_id = None
    members.record_change(session, member, "group", group.code, "", source="staff", staff_id=staff_id,
                          reason=reason, at=at)


def group_cards(session: Session, group: GroupAccount, today: date) -> list[GroupCard]:
    since = rolling_year_start(today)
    people = list(session.scalars(select(Member).where(Member.group_id == group.id).order_by(Member.card_no)))
    ids = [m.id for m in people]
    if not ids:
        return []
    points = dict(session.execute(select(LedgerAccount.member_id, LedgerAccount.balance)
                                  .where(LedgerAccount.member_id.in_(ids), LedgerAccount.kind == "points")).all())
    spend = {mid: (int(total or 0), int(count or 0)) for mid, total, count in session.execute(
        select(Transaction.member_id, func.sum(signed_payable()),
               func.sum(case((Transaction.kind == "purchase", 1), else_=0)))
        .where(Transaction.member_id.in_(ids), Transaction.business_date > since, Transaction.business_date <= today)
        .group_by(Transaction.member_id)).all()}
    return [GroupCard(m, int(points.get(m.id) or 0), *spend.get(m.id, (0, 0))) for m in people]
