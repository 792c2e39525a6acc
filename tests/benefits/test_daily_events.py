"""Daily member events run by the scheduler or by hand: birthdays, once per member and day."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from wxcrm.benefits import daily
from wxcrm.benefits.notices import remind_expiring_memberships
from wxcrm.extensions import db
from wxcrm.jobs.tasks import run_daily_rule_events
from wxcrm.ledger import service as ledger
from wxcrm.members.models import Member, Tier
from wxcrm.messages.models import OutboxMessage
from wxcrm.rules import storage as rules
from wxcrm.rules.models import RuleDayDone

BIRTHDAY_GIFT = {"name": "生日礼", "event": "birthday", "status": "active", "priority": 0,
                 "actions": [{"type": "bonus_points", "points": 188},
                             {"type": "send_message", "template": "birthday"}]}


def run(app, day: date):
    r = app.test_cli_runner().invoke(args=["wxcrm", "rules-run", "--event", "birthday", "--date", day.isoformat()])
    assert r.exit_code == 0, r.output
    return r.output


def test_a_member_gets_the_birthday_gift_once_on_the_day(app, make):
    rules.create_rule(db.session, BIRTHDAY_GIFT)
    db.session.commit()
    today_member = make.member(birthday=date(1990, 3, 14), openid="o-bday", name="寿星")
    other = make.member(birthday=date(1990, 3, 15))
    assert "1 member(s)" in run(app, date(2026, 3, 14))
    assert "0 member(s)" in run(app, date(2026, 3, 14))  # a rerun changes nothing
    assert ledger.balance(db.session, today_member.id, "points") == 188
    assert ledger.balance(db.session, other.id, "points") == 0
    [message] = db.session.scalars(select(OutboxMessage)).all()
    assert message.member_id == today_member.id and message.purpose == "birthday"


def test_leap_day_birthdays_are_greeted_on_the_28th_in_other_years(app, make):
    rules.create_rule(db.session, BIRTHDAY_GIFT)
    db.session.commit()
    leap = make.member(birthday=date(2000, 2, 29))
    run(app, date(2027, 2, 28))
    assert ledger.balance(db.session, leap.id, "points") == 188


def test_the_scheduled_job_catches_up_on_missed_days(app, make, frozen_now):
    rules.create_rule(db.session, BIRTHDAY_GIFT)
    db.session.add(RuleDayDone(event="birthday", business_date=date(2026, 5, 1), members=0))
    db.session.commit()
    member_id = make.member(birthday=date(1985, 5, 3)).id
    frozen_now(datetime(2026, 5, 4, 2, 0))          # 10:00 in Shanghai
    run_daily_rule_events(app)  # the server was down on the 2nd and 3rd
    assert ledger.balance(db.session, member_id, "points") == 188
    done = set(db.session.scalars(select(RuleDayDone.business_date).where(RuleDayDone.event == "birthday")))
    assert {date(2026, 5, 2), date(2026, 5, 3)} <= done and date(2026, 5, 4) not in done
    assert daily.days_to_run(db.session, "birthday", date(2026, 5, 4)) == [date(2026, 5, 4)]


def test_members_are_reminded_once_thirty_days_before_their_card_expires(app, make, settings):
    soon = make.member(openid="o-soon", expires_on=date(2026, 12, 23))
    make.member(openid="o-later", expires_on=date(2027, 1, 30))
    assert remind_expiring_memberships(db.session, settings, date(2026, 11, 23)) == 1
    remind_expiring_memberships(db.session, settings, date(2026, 11, 23))  # the job runs again
    db.session.commit()
    [message] = db.session.scalars(select(OutboxMessage)).all()
    assert message.member_id == soon.id and message.purpose == "membership_expiring"


def test_a_live_schedule_rule_runs_daily_for_every_active_member(app, make, settings, frozen_now):
    make.tier("normal", 1)
    make.tier("gold", 2)
    rules.create_rule(db.session, {"name": "年消费升金卡", "event": "schedule", "status": "active",
                                   "conditions": {"fact": "member.spend_fen", "window_days": 365, "op": ">=",
                                                  "value": 0},
                                   "actions": [{"type": "set_tier", "tier": "gold"}]})
    db.session.commit()
    assert "schedule" in daily.daily_events(db.session, settings)
    ids = [make.member(tier_code="normal").id for _ in range(3)]
    frozen_now(datetime(2026, 6, 1, 2, 0))
    run_daily_rule_events(app)
    gold = db.session.scalar(select(Tier.id).where(Tier.code == "gold"))
    assert [db.session.get(Member, i).tier_id for i in ids] == [gold] * 3
