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
