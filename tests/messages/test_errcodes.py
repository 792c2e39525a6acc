"""The dispatcher, one test per class of WeChat's (and the SMS gateway's) error codes:
permanent for the message, this member's (next channel, the pass goes on), the account's
rate limit (back off), the token (refresh), already sent, anything else (retry)."""
from __future__ import annotations

from datetime import datetime

import requests

from tests.messages.test_outbox import codes, drain, enqueue, follower, points_message, rows
from wxcrm.config import settings_for
from wxcrm.extensions import db
from wxcrm.messages.dispatch import ChannelError, Sender, send_claimed, settle
from wxcrm.messages.errcodes import SMS_CODES, WECHAT_CODES, Fate, codes_table, fate_of_sms, fate_of_wechat
from wxcrm.messages.sms import SmsRefused
from wxcrm.wechat.adapter.client import wechat_client


def test_every_code_has_one_class_and_an_unknown_one_is_retried():
    assert fate_of_wechat(47003) == Fate.PERMANENT and fate_of_wechat(45047) == Fate.MEMBER
    assert fate_of_wechat(45009) == Fate.RATE_LIMIT and fate_of_wechat(42001) == Fate.TOKEN
    assert fate_of_wechat(45065) == Fate.ALREADY_SENT
    assert fate_of_wechat(99999) == Fate.RETRY and fate_of_wechat(None) == Fate.RETRY
    assert fate_of_sms("isv.MOBILE_NUMBER_ILLEGAL") == Fate.MEMBER and fate_of_sms("isp.SYSTEM_ERROR") == Fate.RETRY
    assert len(codes_table()) == len(WECHAT_CODES) + len(SMS_CODES)


def test_permanent_a_template_the_account_has_with_other_keywords_is_parked_at_once(app, make, standin):
    # WeChat's side has the points template with a number keyword where wxcrm sends a code
    res = requests.post(f"{standin.url}/standin/templates", json={"template_id": "TPL_POINTS_CHANGED",
                                                                   "keywords": ["thing1", "number2", "number3"]})
    assert res.ok
    points_message(follower(make, "o-47003", standin=standin))
    db.session.commit()
    report = drain(app)
    assert report.parked == 1 and "47003" in report.errors[0]
    [row] = rows()
    assert (row.status, row.attempts) == ("parked", 1) and codes(row)[-1] == ("parked", "refused", "template")
    assert drain(app).claimed == 0   # never tried again


def test_member_a_used_up_window_moves_the_message_and_the_pass_goes_on(app, make, standin):
    member = follower(make, "o-45047", standin=standin)
    standin.push("text", "o-45047", text="你好")   # 5 customer-service messages for 48 h
    other = wechat_client(settings_for(app), db.engine)
    for i in range(5):   # someone (a human agent) answered five times from WeChat's console
        other.message.send_text("o-45047", f"客服 {i}")
    enqueue(purpose="campaign", member=db.session.get(type(member), member.id), text="会员专享")
    points_message(follower(make, "o-next", standin=standin))
    db.session.commit()
    report = drain(app)
    assert (report.rerouted, report.sent) == (1, 1)   # the points notice still went
    first = rows()[0]
    assert first.channel == "mass" and first.status == "pending" and first.attempts == 0
    assert ("moved", "wechat_member", "custom") in codes(first) and "45047" in first.reason
    # wxcrm believes WeChat: the next message does not try customer service again
    assert enqueue(purpose="campaign", member=db.session.get(type(member), member.id), text="再来").channel == "mass"


def test_rate_limit_stops_the_pass_and_hands_the_rest_back(app, make, standin):
    for i in range(3):
        points_message(follower(make, f"o-45011-{i}", standin=standin))
    db.session.commit()
    standin.fail_next(1, errcode=45011)
    report = drain(app)
    assert (report.sent, report.retried, report.released) == (0, 1, 2)
    assert [r.status for r in rows()] == ["pending"] * 3 and [r.attempts for r in rows()] == [1, 0, 0]


def test_token_an_expired_token_is_fetched_again_and_the_message_goes(app, make, standin):
    points_message(follower(make, "o-42001", standin=standin))
    db.session.commit()
    wechat_client(settings_for(app), db.engine).access_token  # noqa: B018 - the token wxcrm holds
    assert requests.post(f"{standin.url}/standin/expire-tokens").ok
    assert drain(app).sent == 1 and standin.state.token_fetches == 2


def test_token_refused_even_after_a_refresh_is_tried_again_later(app, make, standin):
    points_message(follower(make, "o-40001", standin=standin))
    db.session.commit()
    standin.fail_next(2, errcode=40001, path="/cgi-bin/message/template")
    report = drain(app)
    [row] = rows()
    assert (report.retried, row.status, row.attempts) == (1, "pending", 1)
    assert codes(row) == [("retrying", "failed", "template")]


def test_retry_an_http_failure_backs_off_and_tries_again(app, make, standin):
    points_message(follower(make, "o-502", standin=standin))
    db.session.commit()
    standin.fail_next(1, http_status=502)
    now = datetime.utcnow()
    assert drain(app, now=now).retried == 1
    [row] = rows()
    assert row.status == "pending" and row.next_attempt_at > now


class RefusingSms:
    def __init__(self, code: str):
        self.code = code

    def send(self, message):
        raise SmsRefused(self.code, "refused")


def test_sms_codes_this_number_moves_on_a_bad_template_parks(app, make, settings):
    member = follower(make, "o-sms", phone="13900000201", followed=False)
    for code, status, step in (("isv.MOBILE_NUMBER_ILLEGAL", "parked", ("moved", "sms_member", "sms")),
                               ("isv.SMS_TEMPLATE_ILLEGAL", "parked", ("parked", "refused", "sms"))):
        row = points_message(member)
        row.status, row.claimed_by = "sending", "w1"
        db.session.commit()
        from wxcrm.messages.dispatch import DrainReport, RateLimiter
        report = DrainReport()
        send_claimed(db.session, Sender(None, RefusingSms(code)), settings, row.id, "w1", report,
                     datetime.utcnow(), RateLimiter(0))
        assert (row.status, step in codes(row)) == (status, True), codes(row)


def test_already_sent_counts_as_sent(make, settings):
    from wxcrm.messages.dispatch import DrainReport
    row = points_message(follower(make, "o-dup"))
    report = DrainReport()
    settle(db.session, row, datetime.utcnow(), settings, report,
           error=ChannelError(Fate.ALREADY_SENT, 45065, "clientmsgid exist"))
    assert row.status == "sent" and report.sent == 1
