"""The outbox: a message is a row in its cause's transaction; the dispatcher sends it
through the strict stand-in over real HTTP, retries, refreshes the token, moves it to the
member's next channel, and parks it, every step in its history."""
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
from wxcrm.messages import outbox, templates
from wxcrm.messages.dispatch import RateLimiter
from wxcrm.messages.models import OutboxMessage
from wxcrm.wechat.adapter.client import wechat_client

NOW = datetime(2026, 3, 10, 4, 0)


def follower(make, openid: str, phone: str | None = None, followed: bool = True, standin=None):
    """A member who follows the account (and, with ``standin``, one WeChat knows)."""
    member = make.member(openid=openid, **({"phone": phone} if phone else {}))
    member.followed = followed
    db.session.commit()
    if standin is not None:
        standin.follow(openid, subscribed=followed)
    return member


def enqueue(**kw):
    return outbox.enqueue(db.session, settings_for(current_app), **kw)


POINTS = {"store": "南京西路店", "change": "+20", "balance": "1520"}


def points_message(member, **kw):
    return enqueue(purpose="points_changed", member=member, text="您在南京西路店消费，积分变动 +20，当前积分 1520",
                   fields=POINTS, url="http://localhost/h5/points", **kw)


def drain(app, **kw):
    return drain_outbox(db.session, settings_for(app), **kw)


def rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def codes(row: OutboxMessage) -> list[tuple[str, str, str | None]]:
    return [(s["event"], s["code"], s.get("channel")) for s in row.history]


# ---------------------------------------------------------------- choosing a channel

def test_a_points_notice_to_a_follower_is_a_template_message_with_typed_fields(make):
    row = points_message(follower(make, "o-t1"), now=NOW)
    assert (row.channel, row.status, row.reason, row.history) == ("template", "pending", "", [])
    assert row.payload["template_id"] == "TPL_POINTS_CHANGED"
    assert row.payload["data"] == {"thing1": {"value": "南京西路店"}, "character_string2": {"value": "+20"},
                                   "number3": {"value": "1520"}}


def test_a_thing_is_cut_to_20_characters_but_nothing_else_is_ever_cut():
    assert templates.fit("thing1", "一" * 30) == "一" * 19 + "…"
    assert templates.fit("amount2", "¥12.50") == "¥12.50" and templates.fit("number3", "1520") == "1520"
    for keyword, value in (("number2", "+20"), ("number2", "1" * 33), ("amount2", "12.505"), ("phrase3", "已经完成了吗"),
                           ("character_string1", "卡号8800"), ("date2", "下周一"), ("thing1", "")):
        try:
            templates.fit(keyword, value)
        except templates.TemplateValueError as exc:
            assert exc.keyword == keyword
        else:
            raise AssertionError(f"{keyword} took {value!r}")


def test_a_value_its_template_keyword_cannot_take_goes_by_sms_instead(make, configure):
    # an account whose points template keeps the change in a number keyword: "+20" is no number
    configure(WECHAT_TEMPLATE_IDS="points_changed=TPL_OLD:thing1=store|number2=change|number3=balance")
    row = points_message(follower(make, "o-tv", phone="13900000011"), now=NOW)
    assert row.channel == "sms" and row.status == "pending"
    assert codes(row) == [("skipped", "template_value", "template")]
    assert "template: the template field number2 cannot take “+20”" in row.reason
    assert row.payload["template"] == "SMS_POINTS_CHANGED"
    assert row.payload["params"] == {"store": "南京西路店", "change": "+20", "balance": "1520"}


def test_template_layouts_are_checked_and_name_known_keyword_types(settings):
    assert templates.config_problems(settings) == []
    spec = templates.parse_spec("topup_done", "TPL_X")
    assert [k for k, _ in spec.keywords] == ["thing1", "amount2", "amount3", "time4"]
    broken = settings.replace(wechat_template_ids={"points_changed": "TPL:colour1=store", "birthday": "TPL_B",
                                                   "coupon_received": "TPL_C"})
    problems = templates.config_problems(broken)
    assert any("unknown keyword types colour1" in p for p in problems)
    assert any("birthday is marketing" in p for p in problems) and len(problems) == 2


def test_an_unfollowed_member_gets_an_sms_and_the_history_says_why(make):
    row = points_message(follower(make, "o-t2", phone="13900000002", followed=False), now=NOW)
    assert row.channel == "sms" and row.status == "pending"
    assert codes(row) == [("skipped", "not_following", "template")]
    assert "template: the member does not follow the account" in row.reason


def test_a_message_no_channel_may_carry_is_parked_with_the_reason(make):
    member = make.member(openid="o-t3", phone=None)
    member.phone = None
    db.session.commit()
    row = points_message(member, now=NOW)
    assert row.status == "parked"
    assert row.reason.startswith("cannot go:") and "sms: the member has no mobile number" in row.reason
    assert codes(row)[-1] == ("parked", "no_channel", None)


def test_a_users_message_opens_five_customer_service_messages_for_48_hours(make):
    member = follower(make, "o-cs", phone="13900000003")
    outbox.record_user_action(db.session, "o-cs", "message", NOW - timedelta(hours=47))
    channels = [enqueue(purpose="campaign", member=member, text=f"新品 {i}", now=NOW).channel for i in range(6)]
    assert channels == ["custom"] * 5 + ["mass"]
    assert codes(rows()[-1])[0] == ("skipped", "window_used", "custom")
    later = enqueue(purpose="campaign", member=member, text="周末特惠", now=NOW + timedelta(hours=2))
    assert later.channel == "mass" and codes(later)[0] == ("skipped", "window_closed", "custom")


def test_a_follow_opens_three_messages_for_one_minute_only(make):
    member = follower(make, "o-fw")
    outbox.record_user_action(db.session, "o-fw", "follow", NOW)
    inside = [enqueue(purpose="service_reply", member=member, text=f"欢迎 {i}", now=NOW + timedelta(seconds=10)).status
              for i in range(4)]
    assert inside == ["pending"] * 3 + ["parked"]
    late = enqueue(purpose="service_reply", member=member, text="还在吗", now=NOW + timedelta(seconds=61))
    assert late.status == "parked" and codes(late)[0] == ("skipped", "window_closed", "custom")


def test_a_payment_opens_48_hours_without_a_count(make):
    member = follower(make, "o-pay")
    outbox.record_user_action(db.session, "o-pay", "payment", NOW)
    sent = {enqueue(purpose="service_reply", member=member, text=f"谢谢 {i}", now=NOW + timedelta(hours=40)).channel
            for i in range(8)}
    assert sent == {"custom"}


def test_mass_sends_stop_at_four_a_month_and_fall_back_to_sms(make):
    member = follower(make, "o-mass", phone="13900000004")
    channels = [enqueue(purpose="campaign", member=member, text=f"活动 {i}", now=NOW).channel for i in range(5)]
    assert channels == ["mass"] * 4 + ["sms"]
    assert "mass: the member has had 4 mass messages in 2026-03" in rows()[-1].reason
    next_month = enqueue(purpose="campaign", member=member, text="四月", now=datetime(2026, 3, 31, 16, 30))
    assert next_month.channel == "mass"  # 00:30 on 1 April in Beijing: WeChat's month


def test_a_marketing_message_is_never_a_template_message(make):
    member = follower(make, "o-mk")
    assert "template" not in outbox.PURPOSES["campaign"] and "template" not in outbox.PURPOSES["birthday"]
    row = enqueue(purpose="birthday", member=member, text="生日快乐", now=NOW)
    assert row.channel == "mass"


def test_a_long_marketing_text_is_no_sms_and_the_reason_says_so(make):
    member = follower(make, "o-long", phone="13900000012", followed=False)
    row = enqueue(purpose="campaign", member=member, text="春季新品上市，全场满两百减三十，会员再享双倍积分，活动截止三月底，欢迎到店选购", now=NOW)
    assert row.status == "parked" and ("skipped", "sms_value", "sms") in codes(row)


def test_a_dedup_key_queues_a_message_once(make):
    member = follower(make, "o-dd")
    a = points_message(member, dedup_key="birthday:2026:1")
    b = points_message(member, dedup_key="birthday:2026:1")
    db.session.commit()
    assert a.id == b.id and len(rows()) == 1


def test_a_message_is_gone_with_its_rolled_back_transaction(app, make, standin):
    member = follower(make, "o-rb", standin=standin)
    points_message(member)
    db.session.rollback()
    assert drain(app).claimed == 0
    assert rows() == [] and standin.calls("/cgi-bin/message") == []


# ---------------------------------------------------------------- sending

def test_the_dispatcher_sends_a_template_message_through_wechatpy(app, make, standin):
    member = follower(make, "o-send", standin=standin)
    points_message(member)
    db.session.commit()
    report = drain(app)
    assert report.sent == 1, report.errors
    [call] = standin.calls("/cgi-bin/message/template/send")
    assert call["body"]["touser"] == "o-send" and call["body"]["template_id"] == "TPL_POINTS_CHANGED"
    assert call["body"]["url"] == "http://localhost/h5/points"
    [row] = rows()
    assert row.status == "sent" and row.remote_id and row.sent_at


def test_custom_mass_and_sms_messages_reach_their_endpoints(app, make, standin):
    m1 = follower(make, "o-c1", standin=standin)
    m2 = follower(make, "o-c2", phone="13900000009", followed=False, standin=standin)
    standin.push("text", "o-c1", text="积分")   # the member writes: a 48 h window opens
    enqueue(purpose="campaign", member=db.session.get(Member, m1.id), text="hello", url="http://localhost/h5/")
    enqueue(purpose="topup_done", member=m2, text="充值成功 ¥100",
            fields={"store": "南京西路店", "amount": "100.00", "balance": "250.00", "time": "2026-03-10 12:00"})
    for openid in ("o-c3", "o-c4"):
        enqueue(purpose="birthday", member=follower(make, openid, standin=standin), text="生日快乐")
    db.session.commit()
    report = drain(app)
    assert (report.sent, report.mass_calls) == (4, 1), report.errors
    assert standin.calls("/cgi-bin/message/custom/send")[0]["body"]["text"]["content"] == "hello\nhttp://localhost/h5/"
    assert sorted(standin.calls("/cgi-bin/message/mass/send")[0]["body"]["touser"]) == ["o-c3", "o-c4"]
    [sms] = standin.sms("13900000009")
    assert sms["template_id"] == "SMS_TOPUP_DONE" and sms["text"] == "【wxcrm】您已成功充值100.00元，当前余额250.00元。"


def test_a_standin_failing_the_first_two_calls_still_gets_the_message(app, make, standin):
    points_message(follower(make, "o-flaky2", standin=standin))
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
    assert [s["event"] for s in row.history] == ["retrying", "retrying"]
    assert len(standin.calls("/cgi-bin/message/template/send")) == 1


def test_a_message_failing_every_time_is_parked_then_resent_from_the_console(app, make, standin, client):
    points_message(follower(make, "o-park", standin=standin))
    db.session.commit()
    standin.fail_next(100, errcode=-1)
    now = datetime.utcnow()
    for i in range(app.config["WXCRM_OUTBOX_MAX_ATTEMPTS"]):
        drain(app, now=now + timedelta(hours=2 * i))
    [row] = rows()
    assert row.status == "parked" and "failed 6 times" in row.reason and "-1" in row.last_error
    standin.reset()
    standin.follow("o-park")

    admin = make.staff("admin", username="boss")
    client.post("/login", data={"username": "boss", "password": "password123"})
    page = client.get("/console/outbox/").get_data(as_text=True)
    assert "failed 6 times" in page or "失败 6 次" in page
    res = client.post(f"/console/outbox/{row.id}/resend")
    assert res.status_code == 302
    assert drain(app).sent == 1 and rows()[0].status == "sent"
    assert codes(rows()[0])[-1] == ("resent", "console", None)
    assert admin.id


def test_a_closed_window_at_send_time_moves_the_message_to_the_next_channel(app, make, standin):
    member = follower(make, "o-45015", standin=standin)
    standin.push("text", "o-45015", text="hi")
    enqueue(purpose="campaign", member=db.session.get(Member, member.id), text="限时活动")
    db.session.commit()
    standin.fail_next(1, errcode=45015, path="/cgi-bin/message/custom")
    report = drain(app)
    assert report.rerouted == 1 and report.sent == 0
    [row] = rows()
    assert row.channel == "mass" and row.status == "pending"
    assert "custom: WeChat refused it for this member (45015" in row.reason


def test_an_expired_token_is_refreshed_once_and_the_message_goes(app, make, standin):
    points_message(follower(make, "o-tok", standin=standin))
    points_message(follower(make, "o-tok2", standin=standin))
    db.session.commit()
    wechat_client(settings_for(app), db.engine).access_token  # noqa: B018 - fetch the first token
    assert standin.state.token_fetches == 1
    requests_post(standin, "/standin/expire-tokens")   # WeChat expired it: 42001 next
    assert drain(app).sent == 2
    assert standin.state.token_fetches == 2


def requests_post(standin, path: str) -> None:
    import requests
    assert requests.post(f"{standin.url}{path}").ok


def test_wechats_rate_limit_pauses_the_pass_without_burning_attempts(app, make, standin):
    for i in range(3):
        points_message(follower(make, f"o-rl{i}", standin=standin))
    db.session.commit()
    standin.fail_next(1, errcode=45009)
    report = drain(app)
    assert (report.retried, report.released, report.sent) == (1, 2, 0)
    assert [r.attempts for r in rows()] == [1, 0, 0]


def test_a_member_who_blocks_template_messages_gets_the_notice_by_sms(app, make, standin):
    points_message(follower(make, "o-block", phone="13900000013", standin=standin))
    db.session.commit()
    import requests
    requests.post(f"{standin.url}/standin/users", json={"openid": "o-block", "blocks_templates": True})
    assert drain(app).sent == 1
    standin.flush_jobs()   # TEMPLATESENDJOBFINISH: failed:user block
    [row] = rows()
    assert (row.channel, row.status) == ("sms", "pending") and ("moved", "template_blocked", "template") in codes(row)
    assert drain(app).sent == 1 and standin.sms("13900000013")[0]["template_id"] == "SMS_POINTS_CHANGED"


def test_a_bad_template_is_parked_at_once(app, make, standin):
    points_message(follower(make, "o-bad", standin=standin))
    db.session.commit()
    standin.fail_next(1, errcode=40037, path="/cgi-bin/message/template")
    assert drain(app).parked == 1
    assert "refused" in rows()[0].reason


# ---------------------------------------------------------------- on MariaDB: real row locks

@mysql_only
def test_two_dispatchers_at_once_send_every_message_exactly_once(app, make, standin):
    members = [follower(make, f"o-pair{i}") for i in range(40)]
    standin.follow(*[m.openid for m in members])
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
    member = follower(make, "o-mrb", standin=standin)
    member_id = member.id
    with Session(db.engine) as writer:
        outbox.enqueue(writer, settings_for(app), purpose="points_changed", member=writer.get(Member, member_id),
                       text="积分 +1", fields={"store": "南京西路店", "change": "+1", "balance": "1"})
        writer.flush()  # the row exists, uncommitted, while the dispatcher runs
        assert drain(app).claimed == 0
        writer.rollback()
    assert drain(app).claimed == 0
    assert standin.calls("/cgi-bin/message") == [] and rows() == []


@mysql_only
def test_on_mariadb_a_flaky_standin_still_delivers(app, make, standin):
    points_message(follower(make, "o-mflaky", standin=standin))
    db.session.commit()
    standin.fail_next(2, http_status=502)
    now = datetime.utcnow()
    for minutes in (0, 1, 5):
        drain(app, now=now + timedelta(minutes=minutes))
    assert rows()[0].status == "sent" and len(standin.calls("/cgi-bin/message/template/send")) == 1
