"""Issue 12, item 10: the member's phone verified by a texted code (the outbox's SMS
provider), and the demographic fields on the profile page."""
from __future__ import annotations

from sqlalchemy import select

from wxcrm.extensions import db
from wxcrm.members.models import Member, MemberChange
from wxcrm.messages.models import OutboxMessage


def as_member(client, member):
    with client.session_transaction() as s:
        s["openid"], s["member_id"], s["oauth_scope"] = member.openid, member.id, "snsapi_userinfo"


def test_a_member_verifies_a_phone_with_a_texted_code(client, make):
    member = make.member(openid="o-phone", phone=None)
    as_member(client, member)
    client.post("/h5/profile/phone", data={"action": "send", "phone": "13987654321"})
    row = db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "verify_phone")).one()
    assert row.channel == "sms" and row.phone == "13987654321"
    code = row.payload["source_fields"]["code"]
    for _ in range(5):
        client.post("/h5/profile/phone", data={"action": "verify", "phone": "13987654321",
                                               "code": f"{(int(code) + 1) % 10 ** 6:06d}"})
    page = client.post("/h5/profile/phone", data={"action": "verify", "phone": "13987654321", "code": code})
    assert page.status_code == 200                                   # locked after five wrong tries
    db.session.expire_all()
    assert db.session.get(Member, member.id).phone is None
    client.post("/h5/profile/phone", data={"action": "send", "phone": "13987654321"})
    code = db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "verify_phone")
                              .order_by(OutboxMessage.id.desc())).first().payload["source_fields"]["code"]
    r = client.post("/h5/profile/phone", data={"action": "verify", "phone": "13987654321", "code": code})
    assert r.status_code == 302
    db.session.expire_all()
    assert db.session.get(Member, member.id).phone == "13987654321"
    change = db.session.scalars(select(MemberChange).where(MemberChange.field == "phone")).one()
    assert change.new_value == "139****4321"


def test_the_profile_keeps_the_demographic_fields(client, make):
    member = make.member(openid="o-demo", phone=None)
    as_member(client, member)
    r = client.post("/h5/profile", data={"name": "李雷", "gender": "male", "birthday": "", "district": "静安区",
                                         "occupation": "教师", "education": "本科", "income_band": "10-20k"})
    assert r.status_code == 302
    db.session.expire_all()
    saved = db.session.get(Member, member.id)
    assert (saved.district, saved.occupation, saved.education, saved.income_band) == ("静安区", "教师", "本科", "10-20k")
