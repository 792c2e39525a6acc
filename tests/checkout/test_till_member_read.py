"""Issue 11: the till reads and locks the member and their points account in one Core
statement whose columns come back as one JSON array (``sqlutil.packed``). What it makes
must be what the ORM loads: every column's value and type, NULLs, dates, booleans and
Chinese text, on SQLite and on MariaDB."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from wxcrm.checkout.service import TILL_MEMBER_COLUMNS, _member_for_till
from wxcrm.config import settings_for
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.members.models import Member
from wxcrm.timeutil import utcnow


def _orm_values(member_id: int) -> dict:
    db.session.remove()
    member = db.session.get(Member, member_id)
    values = {attr.key: getattr(member, attr.key) for attr in TILL_MEMBER_COLUMNS}
    db.session.remove()
    return values


def test_the_locked_member_read_holds_what_the_orm_loads(app, make):
    full = make.member(birthday=date(1990, 2, 28), gender="female", district="静安区",
                       expires_on=date(2027, 3, 31), openid="o-read-1", marketing_consent=True)
    full.tier_until, full.followed = date(2026, 12, 31), True
    bare = make.member(phone=None, marketing_consent=False)
    db.session.commit()
    for member_id, card_no in ((full.id, full.card_no), (bare.id, bare.card_no)):
        expected = _orm_values(member_id)
        for ref in ({"card_no": card_no}, {"member_id": member_id}):
            read = _member_for_till(db.session, ref, settings_for(app), utcnow(), lock=True)
            got = {attr.key: getattr(read, attr.key) for attr in TILL_MEMBER_COLUMNS}
            assert got == expected
            assert {k: type(v) for k, v in got.items()} == {k: type(v) for k, v in expected.items()}
            held = ledger.lock_account(db.session, member_id, "points")     # held by the read: no query
            assert held.balance == ledger.balance(db.session, member_id, "points")
            assert read.name == db.session.scalar(select(Member.name).where(Member.id == member_id))  # loads on use
            db.session.rollback()


def test_the_till_snapshot_counts_points_as_the_ledger_does(app, make):
    """The facts query reads the member's open lots once for the points available (the rules'
    points balance) and pending (the receipt's line): the same figures as the ledger's summary,
    whatever mix of lots the member holds; a member without a points account has none."""
    from wxcrm.checkout.service import _MemberSnapshot
    settings, today = settings_for(app), date(2026, 11, 30)
    member = make.member()
    for points, pending_days, expires_on in ((40, 0, date(2027, 12, 31)), (25, 3, date(2027, 12, 31)),
                                             (7, 10, date(2027, 6, 30)), (90, 0, date(2026, 12, 15))):
        ledger.earn_points(db.session, member.id, points, ledger.Cause("adjustment", ref=f"lot-{points}"),
                           today=today, expires_on=expires_on, pending_days=pending_days)
    ledger.spend_points(db.session, member.id, 30, ledger.Cause("adjustment", ref="spent"), today=today)
    without = make.member()
    db.session.commit()
    summary = ledger.points_summary(db.session, member.id, today)
    assert (summary.available, summary.pending) == (100, 32)     # spent from the earliest expiry first
    for who, expected in ((member, (summary.available, summary.pending, summary.balance)), (without, (0, 0, 0))):
        read = _member_for_till(db.session, {"card_no": who.card_no}, settings, utcnow(), lock=True)
        snapshot = _MemberSnapshot.read(db.session, read, today, settings)
        assert (snapshot.available, snapshot.pending, snapshot.balance) == expected
        db.session.rollback()
