"""The outbox: a message is a row in its cause's transaction; the dispatcher sends it
through the stand-in over real HTTP, retries, refreshes the token, and parks."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import mysql_only
from wxcrm.config import settings_for
from wxcrm.extensions import db
from wxcrm.jobs.outbox import drain as drain_outbox
from wxcrm.members.models import Member
from wxcrm.messages import outbox
from wxcrm.messages.dispatch import RateLimiter
from wxcrm.messages.models import OutboxMessage
from wxcrm.wechat.adapter.client import wechat_client

NOW = datetime(2026, 3, 10, 4, 0)


def follower(make, openid: str, phone: str | None = None, followed: bool = True):
    member = make.member(openid=openid, **({"phone": phone} if phone else {}))
    member.followed = followed
    db.session.commit()
    return member


def enqueue(**kw):
    return outbox.enqueue(db.session, settings_for(current_app), **kw)


def points_message(member, **kw):
    return enqueue(purpose="points_changed", member=member, text="积分 +20",
                          fields={"thing1": "消费积分", "number2": "20"}, url="http://localhost/h5/points", **kw)


def drain(app, **kw):
    return drain_outbox(db.session, settings_for(app), **kw)


def rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


# ---------------------------------------------------------------- choosing a channel

def test_a_points_notice_to_a_follower_is_a_template_message(make):
    row = points_message(follower(make, "o-t1"), now=NOW)
    assert (row.channel, row.status, row.reason) == ("template", "pending", "")
    assert row.payload["template_id"] == "TPL_POINTS_CHANGED"
    assert row.payload["data"] == {"thing1": {"value": "消费积分"}, "number2": {"value": "20"}}


def test_template_fields_are_cut_to_their_limits_and_carry_no_colour():
    data = outbox.template_data({"thing1": "一" * 30, "phrase2": "已经完成了", "amount3": "¥12.00"})
    assert data["thing1"]["value"] == "一" * 19 + "…" and len(data["thing1"]["value"]) == 20
    assert data["phrase2"]["value"] == "已经完成了" and "color" not in data["amount3"]


def test_an_unfollowed_member_gets_an_sms_and_the_console_says_why(make):
    row = points_message(follower(make, "o-t2", phone="13900000002", followed=False), now=NOW)
    assert row.channel == "sms" and row.status == "pending"
    assert "template: member does not follow the account" in row.reason


def test_a_message_no_channel_may_carry_is_parked_with_the_reason(make):
    member = make.member(openid="o-t3", phone=None)
    member.phone = None
    db.session.commit()
    row = points_message(member, now=NOW)
    assert row.status == "parked"
    assert row.reason.startswith("cannot go:") and "sms: member has no phone number" in row.reason


def test_customer_service_messages_only_within_48_hours_then_mass_then_sms(make):
    member = follower(make, "o-cs", phone="13900000003")
    outbox.record_interaction(db.session, "o-cs", NOW - timedelta(hours=47))
    first = enqueue(purpose="campaign", member=member, text="新品上市", now=NOW)
    assert first.channel == "custom"
    later = enqueue(purpose="campaign", member=member, text="周末特惠", now=NOW + timedelta(hours=2))
    assert later.channel == "mass" and "custom: outside the 48 h window" in later.reason


def test_mass_sends_stop_at_four_a_month_and_fall_back_to_sms(make):
    member = follower(make, "o-mass", phone="13900000004")
    channels = [enqueue(purpose="campaign", member=member, text=f"活动 {i}", now=NOW).channel
                for i in range(5)]
    assert channels == ["mass"] * 4 + ["sms"]
    assert "mass: monthly limit of 4 reached for 2026-03" in rows()[-1].reason
    next_month = enqueue(purpose="campaign", member=member, text="四月", now=datetime(2026, 4, 2))
    assert next_month.channel == "mass"


def test_a_marketing_message_is_never_a_template_message(make):
    member = follower(make, "o-mk")
    assert "template" not in outbox.PURPOSES["campaign"] and "template" not in outbox.PURPOSES["birthday"]
    row = enqueue(purpose="birthday", member=member, text="生日快乐", now=NOW)
    assert row.channel == "mass"


def test_a_dedup_key_queues_a_message_once(make):
    member = follower(make, "o-dd")
    a = points_message(member, dedup_key="birthday:2026:1")
    b = points_message(member, dedup_key="birthday:2026:1")
    db.session.commit()
    assert a.id == b.id and len(rows()) == 1


def test_a_message_is_gone_with_its_rolled_back_transaction(app, make, standin):
    member = follower(make, "o-rb")
    points_message(member)
    db.session.rollback()
    assert drain(app).claimed == 0
    assert rows() == [] and standin.calls("/cgi-bin/message") == []


# ---------------------------------------------------------------- sending

def test_the_dispatcher_sends_a_template_message_through_wechatpy(app, make, standin):
    member = follower(make, "o-send")
    points_message(member)
    db.session.commit()
    report = drain(app)
    assert report.sent == 1
    [call] = standin.calls("/cgi-bin/message/template/send")
    assert call["body"]["touser"] == "o-send" and call["body"]["template_id"] == "TPL_POINTS_CHANGED"
    assert call["body"]["url"] == "http://localhost/h5/points"
    [row] = rows()
    assert row.status == "sent" and row.remote_id and row.sent_at


def test_custom_mass_and_sms_messages_reach_their_endpoints(app, make, standin):
    m1, m2 = follower(make, "o-c1"), follower(make, "o-c2", phone="13900000009", followed=False)
    outbox.record_interaction(db.session, "o-c1", datetime.utcnow())
    enqueue(purpose="campaign", member=m1, text="hello", url="http://localhost/h5/")
    enqueue(purpose="topup_done", member=m2, text="充值成功 ¥100")
    m3 = follower(make, "o-c3")
    enqueue(purpose="birthday", member=m3, text="生日快乐")
    db.session.commit()
    assert drain(app).sent == 3
    assert standin.calls("/cgi-bin/message/custom/send")[0]["body"]["text"]["content"] == "hello\nhttp://localhost/h5/"
    assert standin.calls("/cgi-bin/message/mass/send")[0]["body"]["touser"] == ["o-c3"]
    assert standin.calls("/sms/send")[0]["body"] == {"phone": "13900000009", "text": "充值成功 ¥100"}


def test_a_standin_failing_the_first_two_calls_still_gets_the_message(app, make, standin):
    follower(make, "o-flaky")
    points_message(follower(make, "o-flaky2"))
    db.session.commit()
    standin.fail_next(1, http_status=503)
    standin.fail_next(1, errcode=-1)
    now = datetime.utcnow()
    assert drain(app, now=now).retried == 1
    assert drain(app, now=now).claimed == 0  # backing off
    assert drain(app, now=now + timedelta(minutes=1)).retried == 1
    assert drain(app, now=now + timedelta(minutes=5)).sent == 1
    [row] = rows()
    assert row.status == "sent" and row.attempts == 3
    assert len(standin.calls("/cgi-bin/message/template/send")) == 1


def test_a_message_failing_every_time_is_parked_then_resent_from_the_console(app, make, standin, client):
    points_message(follower(make, "o-park"))
    db.session.commit()
    standin.fail_next(100, errcode=-1)
    now = datetime.utcnow()
    for i in range(app.config["WXCRM_OUTBOX_MAX_ATTEMPTS"]):
        drain(app, now=now + timedelta(hours=2 * i))
    [row] = rows()
    assert row.status == "parked" and "failed 6 times" in row.reason and "-1" in row.last_error
    standin.reset()

    admin = make.staff("admin", username="boss")
    client.post("/login", data={"username": "boss", "password": "password123"})
    page = client.get("/console/outbox/").get_data(as_text=True)
    assert "failed 6 times" in page and "Send again" in page or "重新发送" in page
    res = client.post(f"/console/outbox/{row.id}/resend")
    assert res.status_code == 302
    assert drain(app).sent == 1 and rows()[0].status == "sent"
    assert admin.id


def test_a_closed_window_at_send_time_moves_the_message_to_the_next_channel(app, make, standin):
    member = follower(make, "o-45015")
    outbox.record_interaction(db.session, "o-45015", datetime.utcnow())
    enqueue(purpose="campaign", member=member, text="限时活动")
    db.session.commit()
    standin.fail_next(1, errcode=45015, path="/cgi-bin/message/custom")
    drain(app)
    [row] = rows()
    assert row.channel == "mass" and row.status == "pending" and "custom: wechat 45015" in row.reason
    assert drain(app).sent == 1


def test_an_expired_token_is_refreshed_once_and_the_message_goes(app, make, standin):
    points_message(follower(make, "o-tok"))
    points_message(follower(make, "o-tok2"))
    db.session.commit()
    wechat_client(settings_for(app), db.engine).access_token  # noqa: B018 - fetch the first token
    assert standin.state.token_fetches == 1
    standin.state.tokens.clear()  # WeChat expired it: 42001 next
    assert drain(app).sent == 2
    assert standin.state.token_fetches == 2


def test_wechats_rate_limit_pauses_the_pass_without_burning_attempts(app, make, standin):
    for i in range(3):
        points_message(follower(make, f"o-rl{i}"))
    db.session.commit()
    standin.fail_next(1, errcode=45009)
    report = drain(app)
    assert (report.retried, report.released, report.sent) == (1, 2, 0)
    assert [r.attempts for r in rows()] == [1, 0, 0]


def test_a_bad_template_is_parked_at_once(app, make, standin):
    points_message(follower(make, "o-bad"))
    db.session.commit()
    standin.fail_next(1, errcode=40037, path="/cgi-bin/message/template")
    assert drain(app).parked == 1
    assert "refused" in rows()[0].reason


# ---------------------------------------------------------------- on MariaDB: real row locks

@mysql_only
def test_two_dispatchers_at_once_send_every_message_exactly_once(app, make, standin):
    members = [follower(make, f"o-pair{i}") for i in range(40)]
    for member in members:
        points_message(member)
    db.session.commit()
    reports, errors = [], []
    start = threading.Barrier(2)

    def dispatcher(name):
        with app.app_context():
            try:
                start.wait()
                for _ in range(10):
                    # 200 a second, so the two passes overlap as on a busy day
                    r = drain_outbox(db.session, settings_for(app), limit=7, rate=RateLimiter(200))
                    reports.append((name, r))
                    if not r.claimed:
                        break
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=dispatcher, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    sent_to = [c["body"]["touser"] for c in standin.calls("/cgi-bin/message/template/send")]
    assert sorted(sent_to) == sorted(m.openid for m in members)  # each exactly once
    assert sum(r.sent for _, r in reports) == 40 and all(row.status == "sent" for row in rows())
    assert {name for name, r in reports if r.sent} == {"a", "b"}, [(n, str(r)) for n, r in reports]


@mysql_only
def test_a_message_is_never_sent_for_a_transaction_that_rolled_back(app, make, standin):
    member = follower(make, "o-mrb")
    member_id = member.id
    with Session(db.engine) as writer:
        outbox.enqueue(writer, settings_for(app), purpose="points_changed", member=writer.get(Member, member_id),
                       text="积分 +1")
        writer.flush()  # the row exists, uncommitted, while the dispatcher runs
        assert drain(app).claimed == 0
        writer.rollback()
    assert drain(app).claimed == 0
    assert standin.calls("/cgi-bin/message") == [] and rows() == []


@mysql_only
def test_on_mariadb_a_flaky_standin_still_delivers(app, make, standin):
    points_message(follower(make, "o-mflaky"))
    db.session.commit()
    standin.fail_next(2, http_status=502)
    now = datetime.utcnow()
    for minutes in (0, 1, 5):
        drain(app, now=now + timedelta(minutes=minutes))
    assert rows()[0].status == "sent" and len(standin.calls("/cgi-bin/message/template/send")) == 1
