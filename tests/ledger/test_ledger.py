"""Ledgers: append-only entries, lots spent nearest expiry first, pending points, expiry, audit."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from wxcrm.errors import InsufficientBalance
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.ledger.models import LedgerAccount, LedgerEntry, PointsLot

D = date(2026, 3, 10)


def earn(member, points, expires=date(2027, 12, 31), pending_days=0, today=D):
    entry = ledger.earn_points(db.session, member.id, points, ledger.Cause("adjustment", ref="test"), today=today,
                               expires_on=expires, pending_days=pending_days)
    db.session.commit()
    return entry


def spend(member, points, today=D):
    entry = ledger.spend_points(db.session, member.id, points, ledger.Cause("redeem", ref="test"), today=today)
    db.session.commit()
    return entry


def test_points_expire_at_the_end_of_the_month_n_months_later():
    assert ledger.expiry_date(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert ledger.expiry_date(date(2026, 11, 5), 24) == date(2028, 11, 30)
    assert ledger.expiry_date(date(2026, 12, 1), 1) == date(2027, 1, 31)


def test_spending_takes_the_lots_that_expire_first(make):
    m = make.member()
    late = earn(m, 100, expires=date(2027, 6, 30))
    soon = earn(m, 50, expires=date(2026, 6, 30))
    spend(m, 70)
    lots = {lot.entry_id: lot.remaining for lot in db.session.scalars(select(PointsLot))}
    assert lots[soon.id] == 0 and lots[late.id] == 80
    assert ledger.balance(db.session, m.id, "points") == 80


def test_pending_points_count_in_the_balance_but_cannot_be_spent_until_their_day(make):
    m = make.member()
    earn(m, 100, pending_days=7)
    summary = ledger.points_summary(db.session, m.id, D)
    assert (summary.balance, summary.available, summary.pending) == (100, 0, 100)
    with pytest.raises(InsufficientBalance):
        spend(m, 1)
    db.session.rollback()
    spend(m, 100, today=date(2026, 3, 17))
    assert ledger.balance(db.session, m.id, "points") == 0


def test_expired_points_leave_with_one_entry_naming_the_cause(make):
    m = make.member()
    earn(m, 30, expires=date(2026, 3, 31))
    earn(m, 20, expires=date(2026, 4, 30))
    assert ledger.expire_points(db.session, date(2026, 4, 1)) == 30
    db.session.commit()
    assert ledger.balance(db.session, m.id, "points") == 20
    last = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.id.desc())).first()
    assert last.cause == "expiry" and last.amount == -30 and last.balance_after == 20
    assert ledger.expire_points(db.session, date(2026, 4, 1)) == 0  # running it again changes nothing


def test_expired_points_cannot_be_spent_even_before_the_job_runs(make):
    m = make.member()
    earn(m, 30, expires=date(2026, 3, 31))
    with pytest.raises(InsufficientBalance):
        spend(m, 10, today=date(2026, 4, 2))


def test_no_balance_goes_below_zero(make):
    m = make.member()
    earn(m, 10)
    with pytest.raises(InsufficientBalance):
        spend(m, 11)
    db.session.rollback()
    with pytest.raises(InsufficientBalance):
        ledger.debit_value(db.session, m.id, 1, ledger.Cause("purchase"))
    db.session.rollback()
    assert ledger.audit(db.session) == []


def test_stored_value_is_a_ledger_too(make):
    m = make.member()
    ledger.credit_value(db.session, m.id, 50000, ledger.Cause("topup", ref="T1"))
    ledger.debit_value(db.session, m.id, 1250, ledger.Cause("purchase", ref="P1"))
    db.session.commit()
    assert ledger.balance(db.session, m.id, "stored_value") == 48750
    assert [e.amount for e in ledger.entries_page(db.session, m.id, "stored_value")] == [-1250, 50000]


def test_restoring_a_spend_refills_the_lots_it_came_from(make):
    m = make.member()
    earn(m, 40, expires=date(2026, 5, 31))
    earn(m, 60, expires=date(2026, 9, 30))
    entry = spend(m, 70)
    ledger.restore_spent_points(db.session, entry.id, 30, ledger.Cause("redeem_reversal"))
    ledger.restore_spent_points(db.session, entry.id, 40, ledger.Cause("redeem_reversal"))
    db.session.commit()
    assert sorted(lot.remaining for lot in db.session.scalars(select(PointsLot))) == [40, 60]
    with pytest.raises(ValueError):
        ledger.restore_spent_points(db.session, entry.id, 1, ledger.Cause("redeem_reversal"))


def test_audit_names_an_account_whose_cached_balance_was_tampered_with(make):
    m = make.member()
    earn(m, 10)
    account = db.session.scalar(select(LedgerAccount).where(LedgerAccount.member_id == m.id,
                                                            LedgerAccount.kind == "points"))
    account.balance = 99  # what a bad hand-made UPDATE would do
    db.session.commit()
    [bad] = ledger.audit(db.session)
    assert bad.account_id == account.id and bad.member_id == m.id and bad.cached == 99 and bad.entries_sum == 10


def test_reset_takes_every_point_including_pending(make):
    m = make.member()
    earn(m, 10)
    earn(m, 5, pending_days=3)
    assert ledger.reset_points(db.session, m.id, ledger.Cause("reset", text_en="membership expired")) == 15
    db.session.commit()
    assert ledger.balance(db.session, m.id, "points") == 0 and ledger.audit(db.session) == []


def test_a_savepoint_rolled_back_gives_back_the_held_balance_and_lots(make):
    """A preview rings the purchase up in a savepoint and rolls it back: the account stays
    locked by the outer transaction, but its held balance and the new lots must be what they
    were before the savepoint, or the next entry would post from a balance the database
    never had. A savepoint released keeps its work."""
    m = make.member()
    earn(m, 100)
    ledger.earn_points(db.session, m.id, 7, ledger.Cause("adjustment", ref="outer"), today=D,
                       expires_on=date(2027, 12, 31), pending_days=3)
    lots_before = {lot.id for lot in ledger.new_lots(db.session)}
    savepoint = db.session.begin_nested()
    ledger.earn_points(db.session, m.id, 50, ledger.Cause("adjustment", ref="inner"), today=D,
                       expires_on=date(2027, 12, 31))
    assert ledger.balance_in_session(db.session, m.id, "points") == 157
    savepoint.rollback()
    assert ledger.balance_in_session(db.session, m.id, "points") == 107
    assert {lot.id for lot in ledger.new_lots(db.session)} == lots_before
    kept = db.session.begin_nested()
    ledger.earn_points(db.session, m.id, 3, ledger.Cause("adjustment", ref="kept"), today=D,
                       expires_on=date(2027, 12, 31))
    kept.commit()
    assert ledger.balance_in_session(db.session, m.id, "points") == 110
    assert earn(m, 1).balance_after == 111
    assert ledger.balance_in_session(db.session, m.id, "points") is None
    assert ledger.balance(db.session, m.id, "points") == 111 and ledger.audit(db.session) == []


def test_a_held_account_ends_with_its_transaction_however_it_ends(app, make):
    """Issue 11: the ledger keeps the locked account's balance per transaction (no ORM row);
    it must never outlive the transaction, or a later entry would post from a stale balance."""
    m = make.member()
    earn(m, 100)
    ledger.lock_account(db.session, m.id, "points")
    assert ledger.balance_in_session(db.session, m.id, "points") == 100
    db.session.close()          # ended without commit or rollback
    assert ledger.balance_in_session(db.session, m.id, "points") is None
    with app.app_context():     # another worker earns meanwhile
        other = db.session.registry()
        ledger.earn_points(other, m.id, 5, ledger.Cause("adjustment", ref="other"), today=D,
                           expires_on=date(2027, 12, 31))
        other.commit()
        other.close()
    ledger.lock_account(db.session, m.id, "points")
    db.session.rollback()
    assert ledger.balance_in_session(db.session, m.id, "points") is None
    assert earn(m, 1).balance_after == 106
    account = db.session.scalar(select(LedgerAccount).where(LedgerAccount.member_id == m.id,
                                                            LedgerAccount.kind == "points"))
    earn(m, 2)
    ledger.lock_account(db.session, m.id, "points")     # an ORM row read first is kept in step
    db.session.refresh(account)
    ledger.earn_points(db.session, m.id, 3, ledger.Cause("adjustment", ref="t"), today=D, expires_on=date(2027, 12, 31))
    assert account.balance == 111
    db.session.commit()
    assert ledger.audit(db.session) == []
