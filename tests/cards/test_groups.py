"""Issue 12, item 9: a group account's cards from the console: attach, detach, figures, history."""
from __future__ import annotations

import uuid

from sqlalchemy import select

from wxcrm.extensions import db
from wxcrm.members import service
from wxcrm.members.models import Member, MemberChange


def test_an_admin_attaches_and_detaches_cards_and_sees_the_groups_figures(client, make, cashier_api):
    make.base_rule()
    group = service.create_group(db.session, code="G-ACME", name="Acme")
    db.session.commit()
    member = make.member(name="韩梅梅")
    cashier_api.post("/transactions", {"store_code": "S001", "member": {"card_no": member.card_no},
                                       "items": [{"sku": "G", "qty": 1, "unit_price_fen": 12_300}]},
                     key=str(uuid.uuid4()))
    admin = make.staff("admin")
    client.post("/login", data={"username": admin.username, "password": "password123"})
    assert b"group-G-ACME" in client.get("/console/groups").data
    client.post(f"/console/cards/groups/{group.id}", data={"action": "attach", "card_no": member.card_no,
                                                            "reason": "company card"})
    page = client.get(f"/console/cards/groups/{group.id}").get_data(as_text=True)
    assert member.card_no in page and "123.00" in page and ">123<" in page
    client.post(f"/console/cards/groups/{group.id}", data={"action": "detach", "member_id": member.id,
                                                            "reason": "left the company"})
    db.session.expire_all()
    assert db.session.get(Member, member.id).group_id is None
    steps = [(c.old_value, c.new_value, c.reason) for c in db.session.scalars(
        select(MemberChange).where(MemberChange.member_id == member.id, MemberChange.field == "group")
        .order_by(MemberChange.id))]
    assert steps == [("", "G-ACME", "company card"), ("G-ACME", "", "left the company")]
