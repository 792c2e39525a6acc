"""Issue 12, item 4 at the till page: a cashier reports the member's card lost (frozen at
once, with who and why in the member's history) and issues a new card number; the page
says the card is frozen, and the old number is refused by name afterwards."""
from __future__ import annotations

from sqlalchemy import select

from wxcrm.cards import service as cards
from wxcrm.extensions import db
from wxcrm.members.models import MemberChange


def test_a_cashier_freezes_a_lost_card_and_issues_a_new_number_at_the_till(client, make):
    store = make.store("S001")
    cashier = make.staff("cashier", store=store, username="till-lost")
    member = make.member(name="王芳")
    client.post("/login", data={"username": cashier.username, "password": "password123"})
    old = member.card_no
    page = client.get(f"/cashier/?card_no={old}").get_data(as_text=True)
    assert 'data-testid="report-lost"' in page and 'data-testid="till-card-frozen"' not in page

    r = client.post(f"/cashier/?card_no={old}", data={"action": "report_lost", "reason": ""})
    assert not cards.is_frozen(db.session, member)                   # no reason, nothing done
    r = client.post(f"/cashier/?card_no={old}", data={"action": "report_lost", "reason": "顾客手机丢失"},
                    follow_redirects=True)
    page = r.get_data(as_text=True)
    db.session.expire_all()
    assert cards.is_frozen(db.session, member)
    assert 'data-testid="till-card-frozen"' in page and 'data-testid="replace-card"' in page

    r = client.post(f"/cashier/?card_no={old}", data={"action": "replace_card", "reason": "顾客持身份证补卡"},
                    follow_redirects=True)
    db.session.expire_all()
    assert member.card_no != old and not cards.is_frozen(db.session, member)
    assert member.card_no in r.get_data(as_text=True)
    again = client.get(f"/cashier/?card_no={old}").get_data(as_text=True)
    assert 'data-testid="member-box"' not in again
    changes = db.session.scalars(select(MemberChange).where(MemberChange.member_id == member.id)
                                 .order_by(MemberChange.id)).all()
    assert [(c.field, c.staff_id, c.reason) for c in changes if c.field in ("card_status", "card_no")][:2] == [
        ("card_status", cashier.id, "顾客手机丢失"), ("card_no", cashier.id, "顾客持身份证补卡")]
