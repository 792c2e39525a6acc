"""Issue 12, item 8: the member's referral QR code: temporary (30 days, WeChat's most),
renewed near its end, stating the referral reward; a friend following through it is referred."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from wxcrm.cards.models import ReferralQr
from wxcrm.extensions import db
from wxcrm.members.models import Member
from wxcrm.rules import storage
from wxcrm.rules.catalogue import TEMPLATES

NOW = datetime(2026, 11, 23, 6, 0, 0)


def as_member(client, member):
    with client.session_transaction() as s:
        s["openid"], s["member_id"], s["oauth_scope"] = member.openid, member.id, "snsapi_base"


def test_a_member_invites_friends_with_a_thirty_day_code_that_is_renewed(client, make, standin, frozen_now):
    frozen_now(NOW)
    for rule in TEMPLATES["referral_bonus_points"].rules(points=300):
        storage.create_rule(db.session, {**rule, "status": "active"})
    db.session.commit()
    member = make.member(openid="o-inviter")
    as_member(client, member)
    page = client.get("/h5/invite").get_data(as_text=True)
    assert 'data-testid="invite-qr"' in page and "300" in page
    [call] = standin.calls("/cgi-bin/qrcode/create")
    assert call["body"] == {"action_name": "QR_STR_SCENE", "expire_seconds": 2_592_000,
                            "action_info": {"scene": {"scene_str": f"ref_{member.id}"}}}
    client.get("/h5/invite")                                   # still fresh: no new code
    assert len(standin.calls("/cgi-bin/qrcode/create")) == 1
    frozen_now(NOW + timedelta(days=29, hours=1))              # in its last day: made again
    client.get("/h5/invite")
    assert len(standin.calls("/cgi-bin/qrcode/create")) == 2
    db.session.expire_all()
    assert db.session.get(ReferralQr, member.id).expires_at == NOW + timedelta(days=59, hours=1)

    standin.push("subscribe", "o-friend", scene=f"ref_{member.id}")
    friend = db.session.scalar(select(Member).where(Member.openid == "o-friend"))
    assert friend is not None and friend.referrer_id == member.id
