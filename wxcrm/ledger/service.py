"""Ledger operations. Each takes a session, flushes, never commits.

Every change to a balance goes through ``_post``: it locks the account row
(SELECT ... FOR UPDATE), appends the entry and moves the cached balance in the
same transaction. Nothing here lets a balance go below zero.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import Integer, ScalarSelect, bindparam, case, event, func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from wxcrm.errors import InsufficientBalance
from wxcrm.ledger.models import CAUSES, LedgerAccount, LedgerEntry, LotMovement, PointsLot, ValueLot, ValueMovement
from wxcrm.sqlutil import as_loaded, packed, run, run_scalar
from wxcrm.sqlutil import connection as sql_connection
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
_NEW_LOTS = "wxcrm.ledger.new_lots"          # lot id -> the points lots credited in this transaction
_SAVEPOINTS = "wxcrm.ledger.savepoints"      # savepoint -> (locked, new lots) as they were when it began


def _locks_released(session: Session) -> None:
    session.info.pop(_LOCKED, None)
    session.info.pop(_NEW_LOTS, None)
    session.info.pop(_SAVEPOINTS, None)


@event.listens_for(Session, "after_transaction_create")
def _savepoint_begun(session: Session, transaction) -> None:
    """A savepoint remembers the held accounts' balances and the new lots as they were, so
    that rolling it back (a preview) puts them back: the rows stay locked (InnoDB keeps
    row locks until the transaction ends), but the entries the savepoint wrote are gone."""
    if transaction.nested:
        held = {k: HeldAccount(a.id, a.member_id, a.kind, a.balance) for k, a in session.info.get(_LOCKED, {}).items()}
        lots = {k: replace(lot) for k, lot in session.info.get(_NEW_LOTS, {}).items()}
        session.info.setdefault(_SAVEPOINTS, {})[transaction] = (held, lots)


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction) -> None:
    """A savepoint rolled back: what it held goes back to how it was when it began (a
    savepoint released keeps its work; after_commit fires for a release too, so the
    transaction's end is watched instead)."""
    if previous_transaction.nested:
        saved = session.info.get(_SAVEPOINTS, {}).pop(previous_transaction, None)
        if saved is not None:
            session.info[_LOCKED], session.info[_NEW_LOTS] = saved
            return
    _locks_released(session)


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction) -> None:
    if transaction.parent is None:      # the database transaction is over (also by close())
        _locks_released(session)
    # a savepoint's snapshot stays until the transaction ends (after_transaction_end comes
    # before after_soft_rollback, which still needs it); a transaction has few savepoints


# The hot writes in SQLAlchemy Core (issue 11): the statements are built once, the rows go
# in as plain parameters, no ORM instance is flushed. An ORM instance of the account that
# the session already holds is kept in step (``_post``), so readers in the same transaction
# never see a stale balance.
_ACCOUNTS = LedgerAccount.__table__
_LOCK_ACCOUNT = (select(_ACCOUNTS.c.id, _ACCOUNTS.c.balance)
                 .where(_ACCOUNTS.c.member_id == bindparam("member_id"), _ACCOUNTS.c.kind == bindparam("kind"))
                 .with_for_update())
_MOVE_BALANCE = (update(_ACCOUNTS).where(_ACCOUNTS.c.id == bindparam("account_id"))
                 .values(balance=bindparam("new_balance"), updated_at=bindparam("moved_at")))
_INSERT_ENTRY = insert(LedgerEntry.__table__)
_INSERT_LOT = insert(PointsLot.__table__)
_ENTRY_COLUMNS = tuple(c.key for c in LedgerEntry.__table__.columns if c.key != "id")
_LOT_COLUMNS = tuple(c.key for c in PointsLot.__table__.columns if c.key != "id")


@dataclass(eq=False)
class HeldAccount:
    """An account row this transaction holds under its row lock, and its balance as the
    transaction's own entries left it (``_post`` keeps it)."""
    id: int
    member_id: int
    kind: str
    balance: int


@dataclass(eq=False)
class NewLot:
    """A points lot credited in this transaction, as it is now (``new_lots``)."""
    id: int
    account_id: int
    entry_id: int
    points: int
    remaining: int
    available_from: date
    expires_on: date
    transaction_id: int | None


def lock_account(session: Session, member_id: int, kind: str) -> HeldAccount:
    """The account, read under its row lock; once per transaction (a second call in the
    same transaction, e.g. a purchase that spends and earns points, returns the locked row
    it already holds, whose balance ``_post`` keeps)."""
    locked = session.info.setdefault(_LOCKED, {})
    held = locked.get((member_id, kind))
    if held is None:
        held = locked[(member_id, kind)] = _lock_account(session, member_id, kind)
    return held


def hold_account(session: Session, member_id: int, kind: str, account_id: int, balance: int) -> HeldAccount:
    """Record an account a caller locked itself, in a statement of its own (the till locks
    the member and their points account in one read): ``lock_account`` returns it then."""
    held = HeldAccount(account_id, member_id, kind, balance)
    session.info.setdefault(_LOCKED, {})[(member_id, kind)] = held
    return held


def _lock_account(session: Session, member_id: int, kind: str) -> HeldAccount:
    row = sql_connection(session).execute(_LOCK_ACCOUNT, {"member_id": member_id, "kind": kind}).first()
    if row is None:  # members made before accounts existed, or by hand
        account = LedgerAccount(member_id=member_id, kind=kind, balance=0)
        session.add(account)
        session.flush()
        return HeldAccount(account.id, member_id, kind, 0)
    return HeldAccount(row[0], member_id, kind, row[1])


def _member_of_account(session: Session, account_id: int) -> int:
    """The member an account belongs to: from the accounts this transaction holds, else read."""
    for held in session.info.get(_LOCKED, {}).values():
        if held.id == account_id:
            return held.member_id
    return session.get(LedgerAccount, account_id).member_id


def balance(session: Session, member_id: int, kind: str) -> int:
    return session.scalar(select(LedgerAccount.balance).where(
        LedgerAccount.member_id == member_id, LedgerAccount.kind == kind)) or 0


def _post(session: Session, account: HeldAccount, amount: int, cause: Cause) -> LedgerEntry:
    """Append one entry and move the locked account's balance: two Core statements. Returns
    the entry as a transient instance (its id set; it is in the database, not in the session)."""
    if cause.kind not in CAUSES:
        raise ValueError(f"unknown ledger cause {cause.kind!r}")
    new_balance = account.balance + amount
    if new_balance < 0:
        raise InsufficientBalance(f"account {account.id} has {account.balance}, cannot take {-amount}")
    at = cause.at or utcnow()
    values = {"account_id": account.id, "amount": amount, "balance_after": new_balance, "cause": cause.kind,
              "cause_id": cause.ref, "transaction_id": cause.transaction_id, "rule_id": cause.rule_id,
              "rule_version": cause.rule_version, "staff_id": cause.staff_id, "text_zh": cause.text_zh[:255],
              "text_en": cause.text_en[:255], "created_at": at}
    conn = sql_connection(session)
    run(conn, _MOVE_BALANCE, {"account_id": account.id, "new_balance": new_balance, "moved_at": utcnow()})
    entry_id = run(conn, _INSERT_ENTRY, values).lastrowid
    account.balance = new_balance
    mapped = session.identity_map.get(identity_key(LedgerAccount, account.id))
    if mapped is not None:     # someone in this transaction read the account through the ORM
        set_committed_value(mapped, "balance", new_balance)
    return as_loaded(LedgerEntry, {"id": entry_id, **values})


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
    values = {"account_id": account.id, "entry_id": entry.id, "points": points, "remaining": points,
              "available_from": today + timedelta(days=pending_days), "expires_on": expires_on,
              "transaction_id": cause.transaction_id, "created_at": entry.created_at}
    lot_id = run(sql_connection(session), _INSERT_LOT, values).lastrowid
    lot = NewLot(id=lot_id, **{k: v for k, v in values.items() if k != "created_at"})
    session.info.setdefault(_NEW_LOTS, {})[lot_id] = lot
    return entry


def available_points(session: Session, member_id: int, today: date) -> int:
    return session.scalar(
        select(func.coalesce(func.sum(PointsLot.remaining), 0))
        .join(LedgerAccount, LedgerAccount.id == PointsLot.account_id)
        .where(LedgerAccount.member_id == member_id, LedgerAccount.kind == "points",
               PointsLot.remaining > 0, PointsLot.available_from <= today, PointsLot.expires_on >= today)
    ) or 0


def points_lots_column(account_id, today) -> ScalarSelect:
    """One scalar subquery: the account's points available and pending on ``today``, as a JSON
    array (``sqlutil.packed``) of the two, for a caller that asks them in one query with other
    facts (the till). Its open lots are read once for both (issue 11: they were read twice, and
    a loyal member has one lot per purchase until they expire)."""
    available = func.coalesce(func.sum(case((PointsLot.available_from <= today, PointsLot.remaining), else_=0)), 0)
    pending = func.coalesce(func.sum(case((PointsLot.available_from > today, PointsLot.remaining), else_=0)), 0)
    return (select(packed(available, pending))
            .where(PointsLot.account_id == account_id, PointsLot.remaining > 0, PointsLot.expires_on >= today)
            .scalar_subquery())


def held_account(session: Session, member_id: int, kind: str) -> HeldAccount | None:
    """The account this transaction holds under its row lock (``lock_account``, ``hold_account``),
    as its entries left it; None when it holds none (no SQL)."""
    return session.info.get(_LOCKED, {}).get((member_id, kind))


def balance_in_session(session: Session, member_id: int, kind: str) -> int | None:
    """The balance of an account this transaction has locked (``lock_account`` reads it
    under the row lock and ``_post`` keeps it), without asking the database; None when
    the transaction has not locked it."""
    held = session.info.get(_LOCKED, {}).get((member_id, kind))
    return held.balance if held is not None else None


def new_lots(session: Session) -> list[NewLot]:
    """The points lots this transaction credited (``earn_points``), as they are now."""
    return list(session.info.get(_NEW_LOTS, {}).values())


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
        new = session.info.get(_NEW_LOTS, {}).get(lot.id)
        if new is not None:        # a lot this transaction credited: the receipt sees what is left
            new.remaining = lot.remaining
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
    account = lock_account(session, _member_of_account(session, spend.account_id), "points")
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
#
# One "stored_value" account per member; its balance is principal + bonus. The split lives
# in the lots (``ValueLot``): every credit makes or tops up a lot, every debit takes from
# lots and records the movements, so principal and bonus never mix and every fen can be
# followed from its credit to its spend or refund.

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


SPEND_ORDERS = ("principal_first", "bonus_first")


@dataclass(frozen=True)
class ValueSplit:
    principal: int
    bonus: int

    @property
    def total(self) -> int:
        return self.principal + self.bonus


def credit_value(session: Session, member_id: int, amount_fen: int, cause: Cause, *, bonus: bool = False,
                 store_id: int | None = None) -> LedgerEntry:
    """Credit stored value: principal (money paid in), or ``bonus`` (a reward). The credit
    joins the lot of the same cause (``cause.kind``:``cause.ref``: a top-up and its bonus
    share one lot) or opens a new one."""
    if amount_fen <= 0:
        raise ValueError("credit_value needs a positive amount")
    account = lock_account(session, member_id, "stored_value")
    entry = _post(session, account, amount_fen, cause)
    source = f"{cause.kind}:{cause.ref}" if cause.ref else ""
    lot = None
    if source:
        lot = session.scalar(select(ValueLot).where(ValueLot.account_id == account.id, ValueLot.source == source)
                             .with_for_update())
    if lot is None:
        lot = ValueLot(account_id=account.id, source=source, store_id=store_id, principal=0, bonus=0,
                       principal_left=0, bonus_left=0, created_at=entry.created_at)
        session.add(lot)
        session.flush()
    p, b = (0, amount_fen) if bonus else (amount_fen, 0)
    lot.principal += p
    lot.principal_left += p
    lot.bonus += b
    lot.bonus_left += b
    session.add(ValueMovement(entry_id=entry.id, lot_id=lot.id, principal=p, bonus=b))
    session.flush()
    return entry


def _open_lots(session: Session, account_id: int) -> list[ValueLot]:
    return list(session.scalars(
        select(ValueLot).where(ValueLot.account_id == account_id,
                               (ValueLot.principal_left > 0) | (ValueLot.bonus_left > 0))
        .order_by(ValueLot.id).with_for_update()))


@dataclass(frozen=True)
class ValueSpend:
    entry: LedgerEntry
    taken: "ValueSplit"          # what this spend took of principal and bonus
    left: "ValueSplit"           # what the member has left after it


def debit_value(session: Session, member_id: int, amount_fen: int, cause: Cause, *,
                order: str = "principal_first") -> LedgerEntry:
    """Spend stored value, oldest lot first; ``order`` says whether principal or bonus goes
    first (``WXCRM_STORED_VALUE_SPEND_ORDER``). Never more than the balance: the account row
    is locked, so two tills spending one balance at once are served one after the other."""
    return spend_value(session, member_id, amount_fen, cause, order=order).entry


def spend_value(session: Session, member_id: int, amount_fen: int, cause: Cause, *,
                order: str = "principal_first") -> ValueSpend:
    """``debit_value`` that also says what it took and what is left (no extra read)."""
    if amount_fen <= 0:
        raise ValueError("debit_value needs a positive amount")
    if order not in SPEND_ORDERS:
        raise ValueError(f"unknown spend order {order!r}")
    account = lock_account(session, member_id, "stored_value")
    if account.balance < amount_fen:
        raise InsufficientBalance(f"stored value {account.balance} fen, asked {amount_fen}",
                                  code="insufficient_stored_value")
    lots = _open_lots(session, account.id)
    entry = _post(session, account, -amount_fen, cause)
    takes: dict[int, list[int]] = {}
    left = amount_fen
    parts = ("principal", "bonus") if order == "principal_first" else ("bonus", "principal")
    for part in parts:
        for lot in lots:
            if left == 0:
                break
            take = min(getattr(lot, f"{part}_left"), left)
            if take:
                setattr(lot, f"{part}_left", getattr(lot, f"{part}_left") - take)
                takes.setdefault(lot.id, [0, 0])[0 if part == "principal" else 1] += take
                left -= take
    if left:  # the lots disagree with the balance: the audit would say so too
        raise InsufficientBalance(f"stored-value lots hold {amount_fen - left} fen, asked {amount_fen}",
                                  code="insufficient_stored_value")
    for lot_id, (p, b) in takes.items():
        session.add(ValueMovement(entry_id=entry.id, lot_id=lot_id, principal=-p, bonus=-b))
    session.flush()
    taken = ValueSplit(sum(p for p, _ in takes.values()), sum(b for _, b in takes.values()))
    left = ValueSplit(sum(lot.principal_left for lot in lots), sum(lot.bonus_left for lot in lots))
    return ValueSpend(entry, taken, left)


def value_split(session: Session, member_id: int) -> ValueSplit:
    """What is left of a member's stored value, principal and bonus apart."""
    p, b = session.execute(
        select(func.coalesce(func.sum(ValueLot.principal_left), 0), func.coalesce(func.sum(ValueLot.bonus_left), 0))
        .join(LedgerAccount, LedgerAccount.id == ValueLot.account_id)
        .where(LedgerAccount.member_id == member_id, LedgerAccount.kind == "stored_value")).one()
    return ValueSplit(int(p), int(b))


def _member_holdings_statement():
    member_id = bindparam("member_id", type_=Integer)
    accounts = LedgerAccount.__table__

    def balance(kind: str):
        return (select(accounts.c.balance).where(accounts.c.member_id == member_id, accounts.c.kind == kind)
                .scalar_subquery())

    def left(column):
        return (select(func.coalesce(func.sum(column), 0))
                .select_from(ValueLot.__table__.join(accounts, accounts.c.id == ValueLot.__table__.c.account_id))
                .where(accounts.c.member_id == member_id, accounts.c.kind == "stored_value").scalar_subquery())
    return select(packed(balance("points"), balance("stored_value"), left(ValueLot.__table__.c.principal_left),
                         left(ValueLot.__table__.c.bonus_left)))


_MEMBER_HOLDINGS = _member_holdings_statement()


def member_holdings(session: Session, member_id: int) -> tuple[int, int, ValueSplit]:
    """(points, stored value, its principal and bonus) of a member in one statement: what a
    member's card shows (the till's look-up: ``balances`` and ``value_split`` were two)."""
    points, stored, principal, bonus = json.loads(run_scalar(sql_connection(session), _MEMBER_HOLDINGS,
                                                                   {"member_id": member_id}))
    return int(points or 0), int(stored or 0), ValueSplit(int(principal or 0), int(bonus or 0))


def entry_split(session: Session, entry_id: int) -> ValueSplit:
    """The principal and bonus one stored-value entry moved (signed)."""
    p, b = session.execute(select(func.coalesce(func.sum(ValueMovement.principal), 0),
                                  func.coalesce(func.sum(ValueMovement.bonus), 0))
                           .where(ValueMovement.entry_id == entry_id)).one()
    return ValueSplit(int(p), int(b))


def restore_spent_value(session: Session, spend_entry_id: int, amount_fen: int, cause: Cause) -> LedgerEntry | None:
    """Put ``amount_fen`` of an earlier spend back (a refund of a purchase paid partly with
    stored value): principal and bonus in the spend's own proportion, cumulatively (the
    restores of one spend add up exactly to it), into the lots it came from."""
    if amount_fen <= 0:
        return None
    spend = session.get(LedgerEntry, spend_entry_id)
    account = lock_account(session, _member_of_account(session, spend.account_id), "stored_value")
    moves = session.execute(select(ValueMovement.lot_id, ValueMovement.principal, ValueMovement.bonus,
                                   ValueMovement.entry_id)
                            .where((ValueMovement.entry_id == spend_entry_id)
                                   | (ValueMovement.reverses_entry_id == spend_entry_id))).all()
    room: dict[int, list[int]] = {}
    for lot_id, p, b, _ in moves:
        r = room.setdefault(lot_id, [0, 0])
        r[0] -= p
        r[1] -= b
    taken_p = -sum(p for _, p, _, e in moves if e == spend_entry_id)
    taken_b = -sum(b for _, _, b, e in moves if e == spend_entry_id)
    back_p = sum(p for _, p, _, e in moves if e != spend_entry_id)
    back_b = sum(b for _, _, b, e in moves if e != spend_entry_id)
    taken, back = taken_p + taken_b, back_p + back_b
    if back + amount_fen > taken:
        raise ValueError(f"spend {spend_entry_id} has only {taken - back} fen left to restore")
    # Cumulative: the bonus restored so far after this one is the spend's bonus share of
    # everything restored so far, rounded down; the principal takes the rest.
    bonus_now = taken_b * (back + amount_fen) // taken - back_b if taken else 0
    bonus_now = max(0, min(bonus_now, amount_fen, taken_b - back_b))
    principal_now = amount_fen - bonus_now
    entry = _post(session, account, amount_fen, cause)
    lots = {lot.id: lot for lot in session.scalars(select(ValueLot).where(ValueLot.id.in_(room)).with_for_update())}
    for part, want in (("principal", principal_now), ("bonus", bonus_now)):
        i = 0 if part == "principal" else 1
        for lot_id in sorted(room, reverse=True):
            if want == 0:
                break
            put = min(room[lot_id][i], want)
            if put <= 0:
                continue
            lot = lots[lot_id]
            setattr(lot, f"{part}_left", getattr(lot, f"{part}_left") + put)
            room[lot_id][i] -= put
            want -= put
            session.add(ValueMovement(entry_id=entry.id, lot_id=lot_id, reverses_entry_id=spend_entry_id,
                                      principal=put if i == 0 else 0, bonus=put if i == 1 else 0))
        if want:
            raise ValueError(f"spend {spend_entry_id}: no room to restore its {part}")
    session.flush()
    return entry


def open_value_lots(session: Session, member_id: int) -> list[ValueLot]:
    """A member's stored-value lots with something left, oldest first."""
    return list(session.scalars(
        select(ValueLot).join(LedgerAccount, LedgerAccount.id == ValueLot.account_id)
        .where(LedgerAccount.member_id == member_id, LedgerAccount.kind == "stored_value",
               (ValueLot.principal_left > 0) | (ValueLot.bonus_left > 0)).order_by(ValueLot.id)))


def lot_for(session: Session, member_id: int, source: str) -> ValueLot | None:
    return session.scalar(select(ValueLot).join(LedgerAccount, LedgerAccount.id == ValueLot.account_id)
                          .where(LedgerAccount.member_id == member_id, LedgerAccount.kind == "stored_value",
                                 ValueLot.source == source))


def withdraw_from_lot(session: Session, member_id: int, source: str = "", *, principal: int, bonus: int,
                      cause: Cause, lot_id: int | None = None) -> LedgerEntry | None:
    """Take ``principal`` and ``bonus`` out of one lot (a refunded top-up takes its own
    principal and bonus back). Refused when the lot has less left."""
    if principal < 0 or bonus < 0:
        raise ValueError("withdraw_from_lot needs amounts >= 0")
    if principal + bonus == 0:
        return None
    account = lock_account(session, member_id, "stored_value")
    which = ValueLot.id == lot_id if lot_id is not None else ValueLot.source == source
    lot = session.scalar(select(ValueLot).where(ValueLot.account_id == account.id, which)
                         .with_for_update().execution_options(populate_existing=True))
    if lot is None or lot.principal_left < principal or lot.bonus_left < bonus:
        raise InsufficientBalance(f"lot {source} has less left than {principal}+{bonus} fen",
                                  code="insufficient_stored_value")
    entry = _post(session, account, -(principal + bonus), cause)
    lot.principal_left -= principal
    lot.bonus_left -= bonus
    session.add(ValueMovement(entry_id=entry.id, lot_id=lot.id, principal=-principal, bonus=-bonus))
    session.flush()
    return entry


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
    value_lot_sums = dict(session.execute(
        select(ValueLot.account_id, func.sum(ValueLot.principal_left + ValueLot.bonus_left))
        .group_by(ValueLot.account_id)).all())
    # Per lot: what its movements add up to, against what the lot says is left.
    moved = {lot_id: (int(p), int(b)) for lot_id, p, b in session.execute(
        select(ValueMovement.lot_id, func.sum(ValueMovement.principal), func.sum(ValueMovement.bonus))
        .group_by(ValueMovement.lot_id)).all()}
    bad_lots: dict[int, list[int]] = {}
    for lot in session.scalars(select(ValueLot)):
        if moved.get(lot.id, (0, 0)) != (lot.principal_left, lot.bonus_left) or \
                min(lot.principal_left, lot.bonus_left) < 0:
            bad_lots.setdefault(lot.account_id, []).append(lot.id)
    entry_vs_moves = {aid for (aid,) in session.execute(
        select(LedgerEntry.account_id).join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .outerjoin(ValueMovement, ValueMovement.entry_id == LedgerEntry.id)
        .where(LedgerAccount.kind == "stored_value")
        .group_by(LedgerEntry.id, LedgerEntry.account_id, LedgerEntry.amount)
        .having(func.coalesce(func.sum(ValueMovement.principal + ValueMovement.bonus), 0) != LedgerEntry.amount))}
    last_after = dict(session.execute(
        select(LedgerEntry.account_id, LedgerEntry.balance_after)
        .where(LedgerEntry.id.in_(select(func.max(LedgerEntry.id)).group_by(LedgerEntry.account_id)))).all())
    bad: list[Discrepancy] = []
    for acc in session.scalars(select(LedgerAccount).order_by(LedgerAccount.id)):
        total = int(sums.get(acc.id) or 0)
        lots = int(lot_sums.get(acc.id) or 0) if acc.kind == "points" else \
            int(value_lot_sums.get(acc.id) or 0)
        problems = []
        if total != acc.balance:
            problems.append("balance differs from the sum of entries")
        if acc.balance < 0 or total < 0:
            problems.append("negative balance")
        if lots is not None and lots != total:
            problems.append(f"{'points' if acc.kind == 'points' else 'stored-value'} lots differ from the sum of entries")
        if acc.id in bad_lots:
            problems.append(f"stored-value lots {bad_lots[acc.id]} differ from their movements")
        if acc.id in entry_vs_moves:
            problems.append("a stored-value entry differs from the principal and bonus it moved")
        if acc.id in last_after and int(last_after[acc.id]) != total:
            problems.append("last entry's balance_after differs from the sum of entries")
        if problems:
            bad.append(Discrepancy(acc.id, acc.member_id, acc.kind, acc.balance, total, lots, "; ".join(problems)))
    return bad
