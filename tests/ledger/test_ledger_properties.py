"""Property: any sequence of earn / redeem / refund / expire keeps every balance equal to
the sum of its entries (and of its lots) and never negative."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import text

from tests.conftest import clear_tables
from wxcrm.cards.presence import set_typed_card_spends
from wxcrm.checkout import service as checkout
from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.timeutil import Clock

START = date(2026, 1, 1)

step = st.one_of(
    st.tuples(st.just("buy"), st.integers(0, 2), st.integers(1, 30000), st.integers(0, 400)),
    st.tuples(st.just("refund"), st.integers(0, 2), st.integers(0, 50), st.booleans()),
    st.tuples(st.just("expire"), st.integers(0, 2), st.integers(1, 40), st.booleans()),
    st.tuples(st.just("adjust"), st.integers(0, 2), st.integers(-50, 200), st.integers(0, 5)),
)




@examples(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_any_sequence_keeps_balances_true_and_never_negative(make, settings, steps):
    settings = settings.replace(point_value_fen=1, points_expiry_months=1)
    clear_tables(keep=("stores",))
    from wxcrm.members import service
    if not db.session.scalar(text("SELECT count(*) FROM stores")):
        service.create_store(db.session, code="S001", name="S", kind="direct")
    # these sales name the member by id: the store lets a typed card spend (no presence proof)
    set_typed_card_spends(db.session, service.store_by_code(db.session, "S001"), True)
    members = [service.create_member(db.session, card_prefix="8800", today=START, phone=f"1380000000{i}",
                                         privacy_version="2026-01")
               for i in range(3)]
    db.session.commit()
    today = START
    purchases: list[int] = []
    for kind, who, a, b in steps:
        member = members[who]
        before = entry_count()
        clock = Clock.at(datetime.combine(today, datetime.min.time()), settings.tz)
        try:
            if kind == "buy":
                txn = checkout.ring_up_purchase(db.session, store_code="S001", clock=clock, settings=settings,
                                                items=[{"sku": "A", "qty": 1, "unit_price_fen": a},
                                                       {"sku": "B", "qty": 2, "unit_price_fen": a // 3}],
                                                member_ref={"member_id": member.id}, points_to_use=b)
                purchases.append(txn.id)
            elif kind == "refund" and purchases:
                original = purchases[a % len(purchases)]
                items = None if b else [{"line_no": 2, "qty": 1}]
                checkout.refund_purchase(db.session, transaction_id=original, clock=clock, settings=settings,
                                         items=items)
            elif kind == "expire":
                today += timedelta(days=a)
                ledger.expire_points(db.session, today)
            elif kind == "adjust" and a:
                ledger.adjust_points(db.session, member.id, a, ledger.Cause("adjustment"), today=today,
                                     expires_on=today + timedelta(days=30), )
            db.session.commit()
        except DomainError:
            db.session.rollback()
            assert entry_count() == before  # a refused operation leaves nothing behind
        assert ledger.audit(db.session) == []


def entry_count() -> int:
    return db.session.scalar(text("SELECT count(*) FROM ledger_entries"))
