"""``enqueue_many`` writes each kind of member's rows with one INSERT ... SELECT; every row
must be what ``enqueue`` would have written for that member alone (channel, payload,
history, reason, status, when it leaves), for every kind: consent or not, a WeChat account
or not, following or not, a window open, mass sends used up, a mobile number or not."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from wxcrm.config import settings_for
from wxcrm.extensions import db
from wxcrm.messages import outbox, windows
from wxcrm.messages.massquota import MASS_PER_MONTH, mass_month
from wxcrm.messages.models import MassSendCount, OutboxMessage

NOW = datetime(2026, 6, 10, 3, 0)          # 11:00 in Shanghai
QUIET = datetime(2026, 6, 10, 14, 0)       # 22:00 in Shanghai: marketing waits
COMPARED = ("purpose", "channel", "status", "openid", "phone", "payload", "history", "reason", "content_key",
            "next_attempt_at", "dedup_key", "created_at")


def cast(make):
    """One member of every kind."""
    people = [
        make.member(openid="o-follow"),                                   # follows: mass
        make.member(openid="o-window"),                                   # a window open: customer service
        make.member(openid="o-used"),                                     # 4 mass sends used: SMS
        make.member(openid="o-used-nophone", phone=None),                 # ... and no phone: parked
        make.member(openid="o-unfollowed"),                               # does not follow: SMS
        make.member(),                                                    # no WeChat: SMS
        make.member(phone=None),                                          # nothing: parked
        make.member(openid="o-nc", marketing_consent=False),              # no consent: parked
        make.member(openid="o-nc-window", marketing_consent=False),       # no consent, window open
        make.member(phone="13900000999"),                                 # made a landline below: no SMS
    ]
    people[-1].phone = "021-5555-0000"
    for m in people:
        m.followed = m.openid not in (None, "o-unfollowed")
    for openid in ("o-window", "o-nc-window"):
        windows.record_user_action(db.session, openid, "message", NOW)
    for m in people[2:4]:
        db.session.add(MassSendCount(member_id=m.id, month=mass_month(NOW), sent=MASS_PER_MONTH))
    db.session.commit()
    return people


def snapshot() -> dict:
    db.session.expire_all()
    return {r.member_id: {k: getattr(r, k) for k in COMPARED}
            for r in db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))}


@pytest.mark.parametrize("purpose,now", [("campaign", NOW), ("campaign", QUIET), ("campaign_wechat", NOW),
                                         ("campaign_sms", NOW), ("service_notice", NOW), ("birthday", NOW)])
def test_every_kind_of_member_gets_the_row_enqueue_would_write(app, make, purpose, now):
    settings = settings_for(app)
    people = cast(make)
    text = "通知" if purpose == "service_notice" else "夏季新品上市，会员双倍积分"
    fields = {"title": "通知", "date": "2026-06-10 11:00"} if purpose == "service_notice" else None
    for m in people:
        outbox.enqueue(db.session, settings, purpose=purpose, text=text, member=m, fields=fields,
                       dedup_key=f"x:m{m.id}", now=now)
    one_by_one = snapshot()
    db.session.rollback()
    db.session.query(OutboxMessage).delete()
    db.session.commit()
    cast_again = {m.id for m in people}
    assert not snapshot()
    counts = outbox.enqueue_many(db.session, settings, purpose=purpose, text=text, member_ids=sorted(cast_again),
                                 fields=fields, dedup_prefix="x", now=now)
    db.session.commit()
    bulk = snapshot()
    assert set(bulk) == set(one_by_one) == cast_again
    for member_id, row in one_by_one.items():
        assert bulk[member_id] == row, member_id
    assert sum(counts.values()) == len(people)
    # a second call queues none twice
    again = outbox.enqueue_many(db.session, settings, purpose=purpose, text=text, member_ids=sorted(cast_again),
                                fields=fields, dedup_prefix="x", now=now)
    assert again == {"skipped": len(people)}


def test_mass_sends_taken_match_one_by_one(app, make):
    settings = settings_for(app)
    people = cast(make)
    outbox.enqueue_many(db.session, settings, purpose="campaign", text="夏季新品", member_ids=[m.id for m in people],
                        now=NOW)
    db.session.commit()
    sent = dict(db.session.execute(select(MassSendCount.member_id, MassSendCount.sent)).all())
    assert sent[people[0].id] == 1                         # the follower took one
    assert sent[people[2].id] == sent[people[3].id] == MASS_PER_MONTH   # used up: none more
    assert sent.get(people[1].id, 0) == 0                  # went by customer service
    assert sent.get(people[7].id, 0) == 0                  # no consent
