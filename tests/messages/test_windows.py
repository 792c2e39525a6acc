"""Customer-service windows come from what the user really did, as WeChat pushes it to the
callback: a message opens 5 sends for 48 hours; a follow, a scan or a menu click 3 for
one minute; opening a page (VIEW), WeChat's job reports and card events open nothing."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from wxcrm.extensions import db
from wxcrm.messages import windows
from wxcrm.messages.models import Contact


def contact(openid: str) -> Contact | None:
    db.session.expire_all()
    return db.session.scalar(select(Contact).where(Contact.openid == openid))


def opens(openid: str) -> tuple[bool, bool]:
    """(message window, event window) recorded for the user."""
    c = contact(openid)
    return (c is not None and c.message_at is not None, c is not None and c.event_at is not None)


def test_a_message_opens_the_48_hour_window(wechat, make):
    make.member(openid="o-w-msg").followed = True
    db.session.commit()
    wechat.send(wechat.text("o-w-msg", "积分"))
    assert opens("o-w-msg") == (True, False)


def test_a_follow_a_scan_and_a_menu_click_open_the_one_minute_window(wechat, make):
    wechat.send(wechat.event("o-w-follow", "subscribe"))
    assert opens("o-w-follow") == (False, True)
    make.member(openid="o-w-scan")
    wechat.send(wechat.event("o-w-scan", "SCAN", "store_S404"))
    assert opens("o-w-scan") == (False, True)
    make.member(openid="o-w-click")
    wechat.send(wechat.event("o-w-click", "CLICK", "MY_POINTS"))
    assert opens("o-w-click") == (False, True)


def test_a_view_a_job_report_and_a_card_event_open_nothing(wechat, make):
    make.member(openid="o-w-view")
    wechat.send(wechat.event("o-w-view", "VIEW", "http://localhost/h5/"))
    report = wechat.event("o-w-view", "TEMPLATESENDJOBFINISH") | {"MsgID": "2000000001", "Status": "success"}
    wechat.send(report)
    wechat.send(wechat.event("o-w-view", "user_view_card") | {"CardId": "pXch-card", "UserCardCode": "12345"})
    assert contact("o-w-view") is None


def test_two_job_reports_in_the_same_second_are_both_handled(wechat):
    first = wechat.event("mphelper", "MASSSENDJOBFINISH", create_time=1_780_000_000) | {
        "MsgID": "1000000001", "Status": "send success", "TotalCount": "2", "FilterCount": "2", "SentCount": "2",
        "ErrorCount": "0"}
    second = first | {"MsgID": "1000000002"}
    wechat.send(first)
    wechat.send(second)
    from wxcrm.messages.models import MassSend
    db.session.expire_all()
    assert sorted(db.session.scalars(select(MassSend.msg_id))) == ["1000000001", "1000000002"]


def test_a_windows_sends_are_counted_and_a_new_message_gives_five_again(app):
    now = datetime(2026, 3, 10, 4, 0)
    windows.record_user_action(db.session, "o-w-count", "message", now)
    for _ in range(5):
        windows.take_send(db.session, "o-w-count", now + timedelta(hours=1))
    try:
        windows.take_send(db.session, "o-w-count", now + timedelta(hours=1))
    except windows.WindowClosed as exc:
        assert exc.code == "window_used"
    else:
        raise AssertionError("a sixth send was taken")
    windows.record_user_action(db.session, "o-w-count", "message", now + timedelta(hours=2))
    assert windows.take_send(db.session, "o-w-count", now + timedelta(hours=2)).kind == "message"
    assert not windows.any_open(db.session, "o-w-count", now + timedelta(hours=51))
