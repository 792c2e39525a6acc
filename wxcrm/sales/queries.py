"""Read-only questions about the record of sales: a member's history as the rules see it,
and figures for the console. Every query here reads; none writes."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from wxcrm.sales.models import Transaction, TransactionBenefit
from wxcrm.timeutil import add_months


def signed_payable():
    """A transaction's money with its sign: + for a purchase, - for a refund (CASE, not
    FILTER: MySQL has no aggregate FILTER clause). The one definition of "net spend"."""
    return case((Transaction.kind == "refund", -Transaction.payable_fen), else_=Transaction.payable_fen)


@dataclass(frozen=True)
class PurchaseHistory:
    """A member's purchases before an event: lifetime count, and count and net spend over
    the last N days for each N asked."""
    purchase_count: int
    purchases_in: dict[int, int]
    spend_in: dict[int, int]


def purchase_history(session: Session, member_id: int, *, today: date, windows: list[int],
                     before: datetime | None = None) -> PurchaseHistory:
    """One aggregate query: lifetime purchases, and per window (last N business days,
    today included) purchases and net spend."""
    q = select(*history_columns(today, windows)).where(Transaction.member_id == member_id)
    if before is not None:
        q = q.where(Transaction.created_at < before)
    return history_from_row(session.execute(q).one(), windows)


def history_columns(today: date, windows: list[int], *, since: dict | None = None) -> list:
    """The aggregate columns of ``purchase_history`` over a member's transactions, for a
    caller that asks them in one query with other facts (the till). ``since``: per window,
    the date (or a bound parameter for it, in a statement built once) its days count after."""
    sign = signed_payable()
    is_purchase = case((Transaction.kind == "purchase", 1), else_=0)
    cols = [func.coalesce(func.sum(is_purchase), 0)]
    for days in windows:
        since_day = since[days] if since is not None else today - timedelta(days=days)
        cols.append(func.coalesce(func.sum(case((Transaction.business_date > since_day, is_purchase), else_=0)), 0))
        cols.append(func.coalesce(func.sum(case((Transaction.business_date > since_day, sign), else_=0)), 0))
    return cols


def history_from_row(row, windows: list[int]) -> PurchaseHistory:
    """``history_columns`` (the first columns of ``row``) as a PurchaseHistory."""
    return PurchaseHistory(purchase_count=int(row[0]),
                           purchases_in={d: int(row[1 + 2 * i]) for i, d in enumerate(windows)},
                           spend_in={d: int(row[2 + 2 * i]) for i, d in enumerate(windows)})


def rolling_year_spend_column(today, *, start=None):
    """A member's net spend over the rolling 12 months to ``today`` as an aggregate column
    over their transactions (``net_spend_by_member`` for one member, inside another query).
    ``today`` and ``start`` may be bound parameters (a statement built once)."""
    start = rolling_year_start(today) if start is None else start
    inside = (Transaction.business_date > start) & (Transaction.business_date <= today)
    return func.coalesce(func.sum(case((inside, signed_payable()), else_=0)), 0)


def rolling_year_start(today: date) -> date:
    """Rolling 12-month spend counts the business dates after this one, up to today: the
    one definition tiers, the group page and the demo share."""
    return add_months(today, -12)


def net_spend_by_member(session: Session, member_ids, *, today: date) -> dict[int, int]:
    """Each member's net spend (purchases less refunds) over the rolling 12 months to ``today``."""
    ids = list(member_ids)
    if not ids:
        return {}
    rows = session.execute(select(Transaction.member_id, func.coalesce(func.sum(signed_payable()), 0))
                           .where(Transaction.member_id.in_(ids), Transaction.business_date > rolling_year_start(today),
                                  Transaction.business_date <= today)
                           .group_by(Transaction.member_id)).all()
    found = {member_id: int(total) for member_id, total in rows}
    return {member_id: found.get(member_id, 0) for member_id in ids}


def earlier_purchases(session: Session, member_id: int, transaction_id: int) -> int:
    """How many purchases the member made other than ``transaction_id``."""
    return session.scalar(select(func.count(Transaction.id)).where(
        Transaction.member_id == member_id, Transaction.kind == "purchase", Transaction.id != transaction_id)) or 0


def benefits_by_rule(session: Session, transaction_id: int) -> list[tuple[int, int, int]]:
    """(rule id, points, fen) each rule gave on one transaction."""
    return [(rule_id, int(points or 0), int(fen or 0)) for rule_id, points, fen in session.execute(
        select(TransactionBenefit.rule_id, func.sum(TransactionBenefit.points), func.sum(TransactionBenefit.amount_fen))
        .where(TransactionBenefit.transaction_id == transaction_id, TransactionBenefit.rule_id.is_not(None))
        .group_by(TransactionBenefit.rule_id)).all()]


def net_fen(kind: str, payable_fen: int) -> int:
    """``signed_payable`` for a transaction already in memory (the backtest's replay)."""
    return -payable_fen if kind == "refund" else payable_fen
