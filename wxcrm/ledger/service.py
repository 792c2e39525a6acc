"""Ledger operations. Each takes a session, flushes, never commits.

Every change to a balance goes through ``_post``: it locks the account row
(SELECT ... FOR UPDATE), appends the entry and moves the cached balance in the
same transaction. Nothing here lets a balance go below zero.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from wxcrm.errors import InsufficientBalance
from wxcrm.ledger.models import CAUSES, LedgerAccount, LedgerEntry, LotMovement, PointsLot
from wxcrm.timeutil import add_months, utcnow


@dataclass(frozen=True)
class Cause:
    """Why an entry exists: the kind of cause and the thing's id, plus the rule and staff."""
    kind: str
    ref: str = ""
    transaction_id: int | None = None
    rule_id: int | None = None
    rule_version: int | None = None
    staff_id: int | None = None
    text_zh: str = ""
    text_en: str = ""
    at: datetime | None = None  # when it happened (UTC); default now. History loads pass their own.


def open_accounts(session: Session, member_id: int) -> None:
    """Create a new member's accounts, so later writers only ever lock existing rows."""
    for kind in ("points", "stored_value"):
        session.add(LedgerAccount(member_id=member_id, kind=kind, balance=0))
    session.flush()


_LOCKED = "wxcrm.ledger.locked_accounts"     # (member id, kind) -> the account locked in this transaction
_NEW_LOTS = "wxcrm.ledger.new_lots"          # lots credited in this transaction (held: the map is weak)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _locks_released(session: Session, *args) -> None:
    session.info.pop(_LOCKED, None)
    session.info.pop(_NEW_LOTS, None)


def lock_account(session: Session, member_id: int, kind: str) -> LedgerAccount:
    """The account, read under its row lock; once per transaction (a second call in the
    same transaction, e.g. a purchase that spends and earns points, returns the locked row
    it already holds, whose balance ``_post`` keeps)."""
    held = session.info.get(_LOCKED, {}).get((member_id, kind))
    if held is not None and held in session:
        return held
    account = _lock_account(session, member_id, kind)
    session.info.setdefault(_LOCKED, {})[(member_id, kind)] = account
    return account


def _lock_account(session: Session, member_id: int, kind: str) -> LedgerAccount:
    account = session.scalar(
        select(LedgerAccount).where(LedgerAccount.member_id == member_id, LedgerAccount.kind == kind)
        .with_for_update().execution_options(populate_existing=True))
    if account is None:  # members made before accounts existed, or by hand
        account = LedgerAccount(member_id=member_id, kind=kind, balance=0)
        session.add(account)
        session.flush()
    return account


def balance(session: Session, member_id: int, kind: str) -> int:
    return session.scalar(select(LedgerAccount.balance).where(
        LedgerAccount.member_id == member_id, LedgerAccount.kind == kind)) or 0


def balances(session: Session, member_id: int) -> dict[str, int]:
    """Every account's balance of a member in one read: kind -> balance (0 when missing)."""
    found = dict(session.execute(select(LedgerAccount.kind, LedgerAccount.balance)
                                 .where(LedgerAccount.member_id == member_id)).all())
    return {"points": found.get("points", 0) or 0, "stored_value": found.get("stored_value", 0) or 0, **{
        k: v or 0 for k, v in found.items() if k not in ("points", "stored_value")}}


def _post(session: Session, account: LedgerAccount, amount: int, cause: Cause) -> LedgerEntry:
    if cause.kind not in CAUSES:
        raise ValueError(f"unknown ledger cause {cause.kind!r}")
    new_balance = account.balance + amount
    if new_balance < 0:
        raise InsufficientBalance(f"account {account.id} has {account.balance}, cannot take {-amount}")
    account.balance = new_balance
    entry = LedgerEntry(account_id=account.id, amount=amount, balance_after=new_balance,
                        cause=cause.kind, cause_id=cause.ref, transaction_id=cause.transaction_id,
                        rule_id=cause.rule_id, rule_version=cause.rule_version, staff_id=cause.staff_id,
                        text_zh=cause.text_zh[:255], text_en=cause.text_en[:255], created_at=cause.at or utcnow())
    session.add(entry)
    session.flush()
    return entry


# ---------------------------------------------------------------- points

def expiry_date(earned_on: date, months: int) -> date:
    """Points earned in a month last until the end of the month `months` later."""
    return add_months(earned_on, months, to_month_end=True)


def earn_points(session: Session, member_id: int, points: int, cause: Cause, *, today: date,
                expires_on: date, pending_days: int = 0) -> LedgerEntry:
    """Credit points as a new lot, spendable from today + pending_days."""
    if points <= 0:
        raise ValueError("earn_points needs a positive amount")
    account = lock_account(session, member_id, "points")
    entry = _post(session, account, points, cause)
    lot = PointsLot(account_id=account.id, entry_id=entry.id, points=points, remaining=points,
                    available_from=today + timedelta(days=pending_days), expires_on=expires_on,
                    transaction_id=cause.transaction_id, created_at=entry.created_at)
    session.add(lot)
    session.info.setdefault(_NEW_LOTS, []).append(lot)
    session.flush()
    return entry


def available_points(session: Session, member_id: int, today: date) -> int:
    return session.scalar(
        select(func.coalesce(func.sum(PointsLot.remaining), 0))
        .join(LedgerAccount, LedgerAccount.id == PointsLot.account_id)
        .where(LedgerAccount.member_id == member_id, LedgerAccount.kind == "points",
               PointsLot.remaining > 0, PointsLot.available_from <= today, PointsLot.expires_on >= today)
    ) or 0


def points_columns(member_id: int, today: date) -> tuple:
    """Scalar subqueries for the member's available points, pending points and points
    balance, for a caller that asks them in one query with other facts (the till)."""
    lots = (select(func.coalesce(func.sum(PointsLot.remaining), 0))
            .join(LedgerAccount, LedgerAccount.id == PointsLot.account_id)
            .where(LedgerAccount.member_id == member_id, LedgerAccount.kind == "points", PointsLot.remaining > 0,
                   PointsLot.expires_on >= today))
    available = lots.where(PointsLot.available_from <= today).scalar_subquery()
    pending = lots.where(PointsLot.available_from > today).scalar_subquery()
    held = select(LedgerAccount.balance).where(LedgerAccount.member_id == member_id,
                                               LedgerAccount.kind == "points").scalar_subquery()
    return available, pending, held


def balance_in_session(session: Session, member_id: int, kind: str) -> int | None:
    """The balance of an account this transaction has locked (``lock_account`` reads it
    under the row lock and ``_post`` keeps it), without asking the database; None when
    the transaction has not locked it."""
    held = session.info.get(_LOCKED, {}).get((member_id, kind))
    return held.balance if held is not None and held in session else None


def new_lots(session: Session) -> list[PointsLot]:
    """The points lots this transaction credited (``earn_points``), as they are now."""
    return [lot for lot in session.info.get(_NEW_LOTS, ()) if lot in session]


@dataclass
class PointsSummary:
    balance: int
    available: int
    pending: int
    expiring_30d: int


def points_summary(session: Session, member_id: int, today: date) -> PointsSummary:
    lots = session.execute(
        select(PointsLot.remaining, PointsLot.available_from, PointsLot.expires_on)
        .join(LedgerAccount, LedgerAccount.id == PointsLot.account_id)
        .where(LedgerAccount.member_id == member_id, LedgerAccount.kind == "points", PointsLot.remaining > 0)
    ).all()
    available = sum(r for r, frm, exp in lots if frm <= today and exp >= today)
    pending = sum(r for r, frm, exp in lots if frm > today and exp >= today)
    soon = today + timedelta(days=30)
    expiring = sum(r for r, frm, exp in lots if frm <= today and today <= exp <= soon)
    return PointsSummary(balance=balance(session, member_id, "points"), available=available,
                         pending=pending, expiring_30d=expiring)


def _take_from_lots(session: Session, entry: LedgerEntry, lots: list[PointsLot], points: int) -> int:
    """Take up to `points` from `lots` in order, recording each movement. Returns what was taken."""
    taken = 0
    for lot in lots:
        if taken == points:
            break
        take = min(lot.remaining, points - taken)
        if take <= 0:
            continue
        lot.remaining -= take
        session.add(LotMovement(entry_id=entry.id, lot_id=lot.id, points=-take))
        taken += take
    session.flush()
    return taken


def spend_points(session: Session, member_id: int, points: int, cause: Cause, *, today: date) -> LedgerEntry:
    """Spend available (not pending, not expired) points, nearest expiry first."""
    if points <= 0:
        raise ValueError("spend_points needs a positive amount")
    account = lock_account(session, member_id, "points")
    lots = list(session.scalars(
        select(PointsLot).where(PointsLot.account_id == account.id, PointsLot.remaining > 0,
                                PointsLot.available_from <= today, PointsLot.expires_on >= today)
        .order_by(PointsLot.expires_on, PointsLot.id).with_for_update()))
    available = sum(lot.remaining for lot in lots)
    if available < points:
        raise InsufficientBalance(f"member has {available} points available, asked to use {points}",
                                  code="insufficient_points")
    entry = _post(session, account, -points, cause)
    _take_from_lots(session, entry, lots, points)
    return entry


def restore_spent_points(session: Session, spend_entry_id: int, points: int, cause: Cause) -> LedgerEntry | None:
    """Put `points` of an earlier spend back into the lots it came from (a refund of a
    purchase paid partly with points), latest-expiring lot first."""
    if points <= 0:
        return None
    spend = session.get(LedgerEntry, spend_entry_id)
    account = lock_account(session, session.get(LedgerAccount, spend.account_id).member_id, "points")
    # Per lot: what this spend took, less what earlier reversals of it already put back.
    reversal_ids = select(LedgerEntry.id).where(LedgerEntry.cause == "redeem_reversal",
                                               LedgerEntry.cause_id == str(spend_entry_id))
    room = {lot_id: -net for lot_id, net in session.execute(
        select(LotMovement.lot_id, func.sum(LotMovement.points))
        .where((LotMovement.entry_id == spend_entry_id) | LotMovement.entry_id.in_(reversal_ids))
        .group_by(LotMovement.lot_id)).all() if net < 0}
    if sum(room.values()) < points:
        raise ValueError(f"spend {spend_entry_id} has only {sum(room.values())} points left to restore")
    entry = _post(session, account, points, Cause(**{**cause.__dict__, "kind": "redeem_reversal",
                                                     "ref": str(spend_entry_id)}))
    lots = session.scalars(select(PointsLot).where(PointsLot.id.in_(room))
                           .order_by(PointsLot.expires_on.desc(), PointsLot.id.desc()).with_for_update())
    left = points
    for lot in lots:
        put = min(room[lot.id], left)
        lot.remaining += put
        session.add(LotMovement(entry_id=entry.id, lot_id=lot.id, points=put))
        left -= put
        if left == 0:
            break
    session.flush()
    return entry


def claw_back_points(session: Session, member_id: int, points: int, cause: Cause, *,
                     prefer_transaction_id: int | None = None) -> tuple[LedgerEntry | None, int]:
    """Take back up to `points` earned points (a refund). The purchase's own lots go first,
    then any other lot, nearest expiry first, pending ones included.

    Returns (entry, shortfall): the points that could not be taken because the member
    has already spent them. No balance ever goes below zero.
    """
    if points <= 0:
        return None, 0
    account = lock_account(session, member_id, "points")
    lots = list(session.scalars(
        select(PointsLot).where(PointsLot.account_id == account.id, PointsLot.remaining > 0)
        .order_by(PointsLot.expires_on, PointsLot.id).with_for_update()))
    if prefer_transaction_id is not None:
        lots.sort(key=lambda lot: lot.transaction_id != prefer_transaction_id)  # stable: own lots first
    take = min(points, sum(lot.remaining for lot in lots))
    if take == 0:
        return None, points
    entry = _post(session, account, -take, cause)
    _take_from_lots(session, entry, lots, take)
    return entry, points - take


def take_off_new_points(session: Session, member_id: int, points: int, cause: Cause) -> LedgerEntry:
    """Take ``points`` off the lots this occasion has just credited (``cause.kind`` and
    ``cause.ref`` name the occasion): a multiplier below 100 % reduces what the same
    purchase earned, with an entry of its own naming its rule. Never touches other lots."""
    if points <= 0:
        raise ValueError("take_off_new_points needs a positive amount")
    account = lock_account(session, member_id, "points")
    lots = list(session.scalars(
        select(PointsLot).join(LedgerEntry, LedgerEntry.id == PointsLot.entry_id)
        .where(PointsLot.account_id == account.id, PointsLot.remaining > 0, LedgerEntry.amount > 0,
               LedgerEntry.cause == cause.kind, LedgerEntry.cause_id == cause.ref)
        .order_by(PointsLot.id.desc()).with_for_update()))
    if sum(lot.remaining for lot in lots) < points:
        raise ValueError(f"{cause.kind} {cause.ref} credited fewer than {points} points")
    entry = _post(session, account, -points, cause)
    _take_from_lots(session, entry, lots, points)
    return entry


def expire_points(session: Session, today: date, *, member_id: int | None = None,
                  job_run: str = "") -> int:
    """Expire every lot whose last day is before `today`. One entry per account. Returns points expired."""
    q = (select(PointsLot.account_id).where(PointsLot.remaining > 0, PointsLot.expires_on < today)
         .distinct())
    if member_id is not None:
        q = q.join(LedgerAccount, LedgerAccount.id == PointsLot.account_id).where(
            LedgerAccount.member_id == member_id)
    total = 0
    for account_id in list(session.scalars(q)):
        account = session.get(LedgerAccount, account_id)
        account = lock_account(session, account.member_id, "points")
        lots = list(session.scalars(select(PointsLot).where(
            PointsLot.account_id == account.id, PointsLot.remaining > 0, PointsLot.expires_on < today)
            .order_by(PointsLot.expires_on, PointsLot.id).with_for_update()))
        points = sum(lot.remaining for lot in lots)
        if points == 0:
            continue
        entry = _post(session, account, -points, Cause(
            "expiry", ref=job_run or today.isoformat(),
            text_zh=f"{points} 积分已于 {today.isoformat()} 前到期", text_en=f"{points} points expired before {today.isoformat()}"))
        _take_from_lots(session, entry, lots, points)
        total += points
    return total


def reset_points(session: Session, member_id: int, cause: Cause) -> int:
    """Take every remaining point to zero (e.g. at membership expiry). Returns the points removed."""
    account = lock_account(session, member_id, "points")
    lots = list(session.scalars(select(PointsLot).where(
        PointsLot.account_id == account.id, PointsLot.remaining > 0).order_by(PointsLot.id).with_for_update()))
    points = account.balance
    if points == 0:
        return 0
    entry = _post(session, account, -points, cause)
    _take_from_lots(session, entry, lots, points)
    return points


def adjust_points(session: Session, member_id: int, points: int, cause: Cause, *, today: date,
                  expires_on: date) -> LedgerEntry:
    """A staff correction: + makes a lot, - spends like a purchase would (pending included)."""
    if points > 0:
        return earn_points(session, member_id, points, cause, today=today, expires_on=expires_on)
    entry, shortfall = claw_back_points(session, member_id, -points, cause)
    if shortfall:
        raise InsufficientBalance(f"member has fewer than {-points} points", code="insufficient_points")
    return entry


# ---------------------------------------------------------------- stored value

def move_points(session: Session, from_member_id: int, to_member_id: int, cause: Cause) -> int:
    """Move every remaining point from one member to another (two members of the same
    person merged): one entry out, one in, both naming ``cause``; each lot moves with its
    dates (pending stays pending, expiry stays). Returns the points moved."""
    first, second = sorted((from_member_id, to_member_id))
    accounts = {m: lock_account(session, m, "points") for m in (first, second)}
    source, target = accounts[from_member_id], accounts[to_member_id]
    lots = list(session.scalars(select(PointsLot).where(PointsLot.account_id == source.id, PointsLot.remaining > 0)
                                .order_by(PointsLot.expires_on, PointsLot.id).with_for_update()))
    total = sum(lot.remaining for lot in lots)
    if total <= 0:
        return 0
    out = _post(session, source, -total, cause)
    into = _post(session, target, total, cause)
    for lot in lots:
        moved, lot.remaining = lot.remaining, 0
        session.add(LotMovement(entry_id=out.id, lot_id=lot.id, points=-moved))
        session.add(PointsLot(account_id=target.id, entry_id=into.id, points=moved, remaining=moved,
                              available_from=lot.available_from, expires_on=lot.expires_on,
                              transaction_id=lot.transaction_id, created_at=into.created_at))
    session.flush()
    return total


def credit_value(session: Session, member_id: int, amount_fen: int, cause: Cause) -> LedgerEntry:
    if amount_fen <= 0:
        raise ValueError("credit_value needs a positive amount")
    return _post(session, lock_account(session, member_id, "stored_value"), amount_fen, cause)


def debit_value(session: Session, member_id: int, amount_fen: int, cause: Cause) -> LedgerEntry:
    if amount_fen <= 0:
        raise ValueError("debit_value needs a positive amount")
    account = lock_account(session, member_id, "stored_value")
    if account.balance < amount_fen:
        raise InsufficientBalance(f"stored value {account.balance} fen, asked {amount_fen}",
                                  code="insufficient_stored_value")
    return _post(session, account, -amount_fen, cause)


# ---------------------------------------------------------------- reading and audit

def entries_page(session: Session, member_id: int, kind: str, *, before_id: int | None = None,
                 limit: int = 50) -> list[LedgerEntry]:
    q = (select(LedgerEntry).join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
         .where(LedgerAccount.member_id == member_id, LedgerAccount.kind == kind))
    if before_id is not None:
        q = q.where(LedgerEntry.id < before_id)
    return list(session.scalars(q.order_by(LedgerEntry.id.desc()).limit(limit)))


@dataclass
class Discrepancy:
    account_id: int
    member_id: int
    kind: str
    cached: int
    entries_sum: int
    lots_sum: int | None
    problem: str


def audit(session: Session) -> list[Discrepancy]:
    """Recompute every balance from its entries (and, for points, its lots)."""
    sums = dict(session.execute(select(LedgerEntry.account_id, func.sum(LedgerEntry.amount))
                                .group_by(LedgerEntry.account_id)).all())
    lot_sums = dict(session.execute(select(PointsLot.account_id, func.sum(PointsLot.remaining))
                                    .group_by(PointsLot.account_id)).all())
    last_after = dict(session.execute(
        select(LedgerEntry.account_id, LedgerEntry.balance_after)
        .where(LedgerEntry.id.in_(select(func.max(LedgerEntry.id)).group_by(LedgerEntry.account_id)))).all())
    bad: list[Discrepancy] = []
    for acc in session.scalars(select(LedgerAccount).order_by(LedgerAccount.id)):
        total = int(sums.get(acc.id) or 0)
        lots = int(lot_sums.get(acc.id) or 0) if acc.kind == "points" else None
        problems = []
        if total != acc.balance:
            problems.append("balance differs from the sum of entries")
        if acc.balance < 0 or total < 0:
            problems.append("negative balance")
        if lots is not None and lots != total:
            problems.append("points lots differ from the sum of entries")
        if acc.id in last_after and int(last_after[acc.id]) != total:
            problems.append("last entry's balance_after differs from the sum of entries")
        if problems:
            bad.append(Discrepancy(acc.id, acc.member_id, acc.kind, acc.balance, total, lots, "; ".join(problems)))
    return bad
