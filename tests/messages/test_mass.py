"""Mass sends as WeChat takes them: the same words to 2..10,000 followers a call, 100
calls a day, four mass messages a member a month; a message alone waits for company or
goes by the next channel; WeChat's MASSSENDJOBFINISH report moves the messages it did
not deliver, or says so on the send. Against the strict stand-in, over real HTTP."""
from __future__ import annotations

import time
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from tests.conftest import mysql_only
from tests.messages.test_outbox import codes, drain, enqueue, follower, rows
from wxcrm.config import settings_for
from wxcrm.extensions import db
from wxcrm.members.models import Member
from wxcrm.messages import mass, outbox
from wxcrm.messages.massquota import mass_month
from wxcrm.messages.models import MassSend, OutboxMessage


def many_followers(count: int, standin, prefix: str) -> list[int]:
    """``count`` followers in a few statements (set-based), known to the stand-in too."""
    openids = [f"{prefix}{i:06d}" for i in range(count)]
    db.session.execute(insert(Member), [{"card_no": f"{prefix}{i:06d}"[-20:], "openid": openid, "followed": True,
                                         "joined_on": date(2026, 1, 1), "status": "active",
                                         "marketing_consent": True}
                                        for i, openid in enumerate(openids)])
    db.session.commit()
    standin.follow(*openids)
    return list(db.session.scalars(select(Member.id).where(Member.openid.in_(openids)).order_by(Member.id)))


def campaign(app, member_ids, text="春季新品上市，会员双倍积分", **kw):
    counts = outbox.enqueue_many(db.session, settings_for(app), purpose="campaign", text=text, member_ids=member_ids,
                                 **kw)
    db.session.commit()
    return counts


def sends() -> list[MassSend]:
    db.session.expire_all()
    return list(db.session.scalars(select(MassSend).order_by(MassSend.id)))


def status_of(member: Member) -> OutboxMessage:
    return [r for r in rows() if r.member_id == member.id][-1]


def test_mass_sends_are_as_few_and_as_even_as_fit():
    assert mass.split(25_000, 100) == [8334, 8333, 8333]
    assert mass.split(10_000, 100) == [10_000] and mass.split(10_001, 100) == [5001, 5000]
    assert mass.split(2, 100) == [2] and mass.split(1, 100) == [] and mass.split(30_000, 2) == [10_000, 10_000]


def fan_out(app, standin, count: int, calls: int):
    ids = many_followers(count, standin, "o-fan")
    started = time.perf_counter()
    assert campaign(app, ids) == {"mass": count}
    queued = time.perf_counter()
    report = drain(app)
    done = time.perf_counter()
    assert (report.mass_calls, report.sent, report.errors) == (calls, count, [])
    touser = [c["body"]["touser"] for c in standin.calls("/cgi-bin/message/mass/send")]
    assert len(touser) == calls and min(map(len, touser)) >= 2 and sum(map(len, touser)) == count
    assert len({o for t in touser for o in t}) == count      # everyone once, nobody alone
    assert db.session.scalar(select(func.count()).where(OutboxMessage.status == "sent")) == count
    standin.flush_jobs()
    reported = sends()
    assert [s.status for s in reported] == ["reported"] * calls
    assert [s.filter_count for s in reported] == [s.recipients for s in reported]
    print(f"\nfan-out {count}: queued in {queued - started:.1f} s, sent in {done - queued:.1f} s "
          f"({calls} mass sends: {sorted(map(len, touser))})")


@mysql_only
def test_25000_members_with_the_same_message_go_out_in_3_mass_sends(app, standin):
    fan_out(app, standin, 25_000, 3)


def test_12000_members_with_the_same_message_go_out_in_2_mass_sends(app, standin):
    fan_out(app, standin, 12_000, 2)


def test_with_four_mass_messages_this_month_the_fifth_goes_by_sms(app, make, standin):
    a = follower(make, "o-4a", phone="13900000101", standin=standin)
    b = follower(make, "o-4b", phone="13900000102", standin=standin)
    for i in range(4):
        campaign(app, [a.id, b.id], text=f"第{i + 1}期活动")
        assert drain(app).mass_calls == 1
    c, d = (follower(make, o, standin=standin) for o in ("o-4c", "o-4d"))
    assert campaign(app, [a.id, b.id, c.id, d.id], text="第5期活动") == {"sms": 2, "mass": 2}
    assert codes(status_of(a))[0] == ("skipped", "no_window", "custom")
    assert ("skipped", "mass_month", "mass") in codes(status_of(a))
    report = drain(app)
    assert (report.mass_calls, report.sent) == (1, 4)
    assert sorted(standin.calls("/cgi-bin/message/mass/send")[-1]["body"]["touser"]) == ["o-4c", "o-4d"]
    assert [m["params"]["text"] for m in standin.sms("13900000101")] == ["第5期活动"]
    assert standin.state.users["o-4a"].mass_received[mass_month(datetime.utcnow())] == 4


def test_mass_sends_made_elsewhere_count_against_every_member(app, make, standin):
    a = follower(make, "o-ea", phone="13900000111", standin=standin)
    b = follower(make, "o-eb", standin=standin)
    client = _wechat(app)
    for i in range(4):   # the marketer sends to everyone from WeChat's own console
        client.message.send_mass_text(None, f"公众号群发 {i}", is_to_all=True)
    standin.flush_jobs()
    assert [s.status for s in sends()] == ["outside"] * 4
    assert campaign(app, [a.id, b.id], text="第5条") == {"sms": 2}
    assert "mass: the member has had 4 mass messages in" in status_of(b).reason


def test_a_mass_send_wechat_filtered_entirely_moves_every_message(app, make, standin):
    a = follower(make, "o-fa", phone="13900000121", standin=standin)
    b = follower(make, "o-fb", phone="13900000122", standin=standin)
    _received_four_elsewhere(standin, "o-fa", "o-fb")   # sent before wxcrm, no report ever came
    campaign(app, [a.id, b.id], text="限时活动")
    assert drain(app).mass_calls == 1
    standin.flush_jobs()
    [send] = sends()
    assert (send.total_count, send.filter_count, send.unexplained) == (2, 0, 0)
    for member in (a, b):
        row = status_of(member)
        assert (row.channel, row.status) == ("sms", "pending")
        assert ("moved", "mass_filtered", "mass") in codes(row)
    assert drain(app).sent == 2 and len(standin.sms()) == 2


def test_a_shortfall_wechat_does_not_explain_is_recorded_on_the_send(app, make, standin):
    members = [follower(make, f"o-sf{i}", standin=standin) for i in range(3)]
    _received_four_elsewhere(standin, "o-sf0")
    campaign(app, [m.id for m in members], text="会员日")
    drain(app)
    standin.flush_jobs()
    [send] = sends()
    assert (send.total_count, send.filter_count, send.unexplained) == (3, 2, 1)
    assert {r.status for r in rows()} == {"sent"}   # which one WeChat filtered, it does not say


def test_a_member_who_unfollowed_before_the_report_gets_the_next_channel(app, make, standin):
    a = follower(make, "o-ua", phone="13900000131", standin=standin)
    b, c = follower(make, "o-ub", standin=standin), follower(make, "o-uc", standin=standin)
    campaign(app, [a.id, b.id, c.id], text="新店开业")
    standin.push("unsubscribe", "o-ua")            # wxcrm learns it from the event
    drain(app)
    standin.flush_jobs()
    row = status_of(a)
    assert (row.channel, row.status) == ("sms", "pending") and ("moved", "mass_unfollowed", "mass") in codes(row)
    assert sends()[0].unexplained == 0 and status_of(b).status == "sent"


def test_a_message_alone_waits_for_company_then_goes_by_the_next_channel(app, make, standin):
    a = follower(make, "o-la", phone="13900000141", standin=standin)
    now = datetime.utcnow()
    campaign(app, [a.id], text="专属福利", now=now)
    assert drain(app, now=now).mass_calls == 0
    assert codes(status_of(a))[-1] == ("waiting", "mass_company", "mass")
    report = drain(app, now=now + timedelta(minutes=11))
    assert (report.mass_calls, report.sent) == (0, 1)
    row = status_of(a)
    assert row.channel == "sms" and ("moved", "mass_alone", "mass") in codes(row)
    assert standin.calls("/cgi-bin/message/mass/send") == []


def test_a_message_alone_goes_by_customer_service_inside_the_window(app, make, standin):
    a = follower(make, "o-lw", standin=standin)
    campaign(app, [a.id], text="专属福利", now=datetime.utcnow() - timedelta(minutes=20))
    standin.push("text", "o-lw", text="在吗")   # a window opens after the message was queued
    assert drain(app, now=datetime.utcnow()).sent == 1
    assert status_of(a).channel == "custom" and len(standin.calls("/cgi-bin/message/custom/send")) == 1


def test_a_waiting_message_goes_with_the_next_one_with_the_same_words(app, make, standin):
    a, b = follower(make, "o-wa", standin=standin), follower(make, "o-wb", standin=standin)
    now = datetime.utcnow()
    enqueue(purpose="birthday", member=a, text="生日快乐！", now=now - timedelta(minutes=30))
    enqueue(purpose="birthday", member=b, text="生日快乐！", now=now)
    db.session.commit()
    assert drain(app, now=now).mass_calls == 1
    assert sorted(standin.calls("/cgi-bin/message/mass/send")[0]["body"]["touser"]) == ["o-wa", "o-wb"]


def test_after_100_mass_sends_today_the_rest_wait_for_tomorrow(app, make, standin):
    now = datetime.utcnow()
    db.session.execute(insert(MassSend), [{"content_key": "x", "recipients": 2, "client_msg_id": f"c{i}",
                                           "status": "reported", "created_at": now, "error": "",
                                           "report_status": "", "unexplained": 0} for i in range(100)])
    a, b = follower(make, "o-da", standin=standin), follower(make, "o-db", standin=standin)
    campaign(app, [a.id, b.id], text="明天见", now=now)
    assert drain(app, now=now).mass_calls == 0 and standin.calls("/cgi-bin/message/mass/send") == []
    assert {r.next_attempt_at > now for r in rows()} == {True}


def test_a_mass_send_wechat_already_has_counts_as_sent(app, make, standin):
    a, b = follower(make, "o-ka", standin=standin), follower(make, "o-kb", standin=standin)
    campaign(app, [a.id, b.id], text="重复提交")
    now = datetime.utcnow()
    assert drain(app, now=now).mass_calls == 1
    [send] = sends()
    # the dispatcher died before writing WeChat's answer down: the send is still "sending"
    send.status, send.msg_id, send.created_at = "sending", None, now - timedelta(minutes=10)
    db.session.execute(OutboxMessage.__table__.update().values(status="sending"))
    db.session.commit()
    report = drain(app, now=now)
    assert report.sent == 2 and "45065" in report.errors[0]   # same clientmsgid: WeChat has it
    assert len(standin.calls("/cgi-bin/message/mass/send")) == 1 and {r.status for r in rows()} == {"sent"}


@pytest.mark.parametrize("errcode, status, attempts", [(45009, "pending", 0), (-1, "pending", 0),
                                                       (44004, "parked", 1), (40001, "pending", 1)])
def test_a_failed_mass_send_follows_the_errcode_table(app, make, standin, errcode, status, attempts):
    a, b = follower(make, "o-xa", standin=standin), follower(make, "o-xb", standin=standin)
    campaign(app, [a.id, b.id], text="失败了")
    standin.fail_next(2 if errcode == 40001 else 1, errcode=errcode, path="/cgi-bin/message/mass")
    report = drain(app)
    assert report.mass_calls == 0
    assert {(r.status, r.attempts, r.mass_send_id) for r in rows()} == {(status, attempts, None)}
    assert sends()[0].status == "failed"


def _received_four_elsewhere(standin, *openids: str) -> None:
    """These users already had four mass messages this month, from a send wxcrm never
    heard of (made before it was installed, its report lost)."""
    month = standin.app.extensions["standin"].clock.month()
    for openid in openids:
        standin.state.users[openid].mass_received[month] = 4


def _wechat(app):
    from wxcrm.wechat.adapter.client import wechat_client
    return wechat_client(settings_for(app), db.engine)


def test_a_campaign_queued_twice_with_a_key_queues_each_member_once(app, make, standin):
    a, b = follower(make, "o-qa", standin=standin), follower(make, "o-qb", standin=standin)
    assert campaign(app, [a.id, b.id], text="周年庆", dedup_prefix="campaign:7") == {"mass": 2}
    assert campaign(app, [a.id, b.id], text="周年庆", dedup_prefix="campaign:7") == {"skipped": 2}
    assert len(rows()) == 2
