"""Lifecycle jobs with a frozen clock: the birthday greeting N days ahead once a year, the
birthday rule's message giving way to it, missed days caught up, every run recorded."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select

from tests.conftest import TEST_DB_URL, mysql_only
from wxcrm.campaigns import greetings
from wxcrm.campaigns.models import Greeting
from wxcrm.extensions import db
from wxcrm.jobs.models import JobRun
from wxcrm.jobs.registry import BY_ID, JOBS
from wxcrm.jobs.runner import days_due, run_due
from wxcrm.ledger import service as ledger
from wxcrm.messages.models import OutboxMessage
from wxcrm.rules import storage as rules

BIRTHDAY_GIFT = {"name": "生日礼", "event": "birthday", "status": "active", "priority": 0,
                 "actions": [{"type": "bonus_points", "points": 188},
                             {"type": "send_message", "template": "birthday"}]}
ROOT = Path(__file__).resolve().parents[2]


def enable(code: str, **fields) -> Greeting:
    greetings.ensure_greetings(db.session)
    greeting = db.session.scalar(select(Greeting).where(Greeting.code == code))
    greeting.enabled = True
    for k, v in fields.items():
        setattr(greeting, k, v)
    db.session.commit()
    return greeting


def birthday_rows() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "birthday")))


def at_local(day: date, hour: int) -> datetime:
    """A Shanghai wall-clock hour as the naive UTC the clock returns."""
    return datetime(day.year, day.month, day.day, hour) - (datetime(2000, 1, 1, 8) - datetime(2000, 1, 1))


def test_every_job_has_a_stable_name_and_the_issue_names_are_there():
    names = {job.id for job in JOBS}
    assert len(names) == len(JOBS)
    assert {"birthday", "membership-expiry", "points-expiry", "tiers", "holidays", "schedule"} <= names


def test_the_birthday_greeting_goes_three_days_ahead_once_and_the_rule_message_gives_way(app, make, settings,
                                                                                           frozen_now):
    rules.create_rule(db.session, BIRTHDAY_GIFT)
    db.session.commit()
    enable("birthday", send_time="10:00")
    member = make.member(birthday=date(1990, 3, 14), openid="o-bday", name="寿星")
    make.member(birthday=date(1990, 3, 20), openid="o-later")
    job = BY_ID["birthday"]
    frozen_now(at_local(date(2026, 3, 11), 2))
    [run] = run_due(db.session, settings, job)
    assert run.status == "done" and run.counts["greeted"] == 1
    [greeting] = birthday_rows()
    assert greeting.member_id == member.id and greeting.dedup_key == f"birthday:2026:m{member.id}"
    assert greeting.status == "pending", greeting.reason
    assert greeting.next_attempt_at == at_local(date(2026, 3, 11), 10)   # at the greeting's time of day
    run_due(db.session, settings, job)                                  # the scheduler again, same day
    frozen_now(at_local(date(2026, 3, 14), 2))                          # the birthday itself
    runs = run_due(db.session, settings, job)                           # the 12th, 13th and 14th
    assert [r.business_date for r in runs] == [date(2026, 3, 12), date(2026, 3, 13), date(2026, 3, 14)]
    assert ledger.balance(db.session, member.id, "points") == 188       # the rule gave its points
    assert len(birthday_rows()) == 1                                    # but its message gave way
    frozen_now(at_local(date(2027, 3, 11), 2))
    run_due(db.session, settings, job)
    assert sorted(r.dedup_key for r in birthday_rows()) == [f"birthday:2026:m{member.id}",
                                                            f"birthday:2027:m{member.id}"]


def test_a_member_without_marketing_consent_gets_no_greeting(app, make, settings, frozen_now):
    enable("birthday")
    make.member(birthday=date(1990, 3, 14), openid="o-no", marketing_consent=False)
    frozen_now(at_local(date(2026, 3, 11), 2))
    run_due(db.session, settings, BY_ID["birthday"])
    assert birthday_rows() == []


def test_a_missed_day_is_caught_up_after_a_restart(app, make, settings, frozen_now):
    enable("birthday")
    job = BY_ID["birthday"]
    frozen_now(at_local(date(2026, 5, 1), 2))
    run_due(db.session, settings, job)                 # the last run before the server went down
    missed = make.member(birthday=date(1985, 5, 5), openid="o-missed")   # greeted on the 2nd
    frozen_now(at_local(date(2026, 5, 4), 9))          # back up on the 4th
    assert days_due(db.session, job, date(2026, 5, 4)) == [date(2026, 5, 2), date(2026, 5, 3), date(2026, 5, 4)]
    run_due(db.session, settings, job)
    [row] = birthday_rows()
    assert row.member_id == missed.id
    # the greeting's hour has passed: it goes now, not back in time
    assert row.next_attempt_at == at_local(date(2026, 5, 4), 9)
    done = db.session.scalars(select(JobRun.business_date).where(JobRun.job == "birthday",
                                                                 JobRun.status == "done")).all()
    assert sorted(set(done)) == [date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 3), date(2026, 5, 4)]


def test_jobs_run_from_the_command_line_is_recorded(app, make, frozen_now):
    enable("birthday")
    make.member(birthday=date(1990, 7, 4), openid="o-cli")
    r = app.test_cli_runner().invoke(args=["wxcrm", "jobs-run", "birthday", "--date", "2026-07-01"])
    assert r.exit_code == 0, r.output
    assert "birthday 2026-07-01: done: greeted=1" in r.output
    r = app.test_cli_runner().invoke(args=["wxcrm", "jobs-run", "no-such-job"])
    assert r.exit_code != 0
    run = db.session.scalar(select(JobRun).where(JobRun.trigger == "cli-day"))
    assert run.counts["greeted"] == 1


def test_the_membership_reminder_says_what_to_spend_to_renew(app, make, settings, frozen_now):
    from wxcrm.rules.catalogue import free_renewal_on_spend
    [renewal] = free_renewal_on_spend(threshold_fen=100_000)
    rules.create_rule(db.session, dict(renewal, status="active"))
    db.session.commit()
    member = make.member(openid="o-exp", expires_on=date(2026, 12, 31))
    frozen_now(at_local(date(2026, 12, 1), 2))
    [run] = run_due(db.session, settings, BY_ID["membership-expiry"])
    assert run.counts["reminded"] == 1
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.purpose == "membership_expiring"))
    assert row.member_id == member.id and "再消费 1000.00 元即可免费续期" in row.payload["source_text"]


def test_points_expiry_expires_lots_and_reminds_ahead(app, make, settings, frozen_now):
    member = make.member(openid="o-pts")
    ledger.earn_points(db.session, member.id, 50, ledger.Cause(kind="adjustment", ref="t"), today=date(2026, 1, 1),
                       expires_on=date(2026, 6, 30))
    db.session.commit()
    frozen_now(at_local(date(2026, 5, 31), 2))          # 30 days before the lot's last day
    [run] = run_due(db.session, settings, BY_ID["points-expiry"])
    assert run.status == "done" and run.counts == {"points_expired": 0, "reminded": 1}
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.purpose == "points_expiring"))
    assert row.status == "pending" and "50 积分将于 2026-06-30 到期" in row.payload["source_text"]
    frozen_now(at_local(date(2026, 7, 1), 2))
    runs = run_due(db.session, settings, BY_ID["points-expiry"])   # catches up to the 1st: the lot ends
    assert sum(r.counts["points_expired"] for r in runs) == 50
    assert ledger.balance(db.session, member.id, "points") == 0


def test_a_failing_job_is_recorded_and_the_next_run_starts_from_its_day(app, settings, frozen_now, monkeypatch):
    job = BY_ID["holidays"]
    frozen_now(at_local(date(2026, 2, 1), 2))
    run_due(db.session, settings, job)
    monkeypatch.setattr("wxcrm.campaigns.greetings.queue_holiday_greetings",
                        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    frozen_now(at_local(date(2026, 2, 3), 2))
    [failed] = run_due(db.session, settings, job)
    assert failed.status == "failed" and "boom" in failed.error and failed.business_date == date(2026, 2, 2)
    monkeypatch.undo()
    frozen_now(at_local(date(2026, 2, 3), 2))
    assert days_due(db.session, job, date(2026, 2, 3)) == [date(2026, 2, 2), date(2026, 2, 3)]


SCHEDULER_PROCESS = r"""
import sys
from datetime import datetime
import wxcrm.timeutil as timeutil
from wxcrm import create_app
url, moments = sys.argv[1], sys.argv[2:]
app = create_app({"DATABASE_URL": url, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x" * 40, "ENV": "test",
                  "QUIET_HOURS": "", "SCHEDULER_LEASE_SECONDS": 60})
from wxcrm.config import settings_for
from wxcrm.extensions import db
from wxcrm.jobs.registry import BY_ID
from wxcrm.jobs.runner import run_due
from wxcrm.jobs.scheduler import Leader
job = BY_ID["birthday"]
leader = Leader(app)
for moment in moments:
    timeutil.utcnow = lambda m=datetime.fromisoformat(moment): m
    for _ in range(3):
        leader.run(job)                      # as the scheduler runs it: under the lease
        with app.app_context():              # and as if the lease had moved mid-run
            run_due(db.session, settings_for(app), job, trigger="console", started_by="proc")
            db.session.remove()
print("ok")
"""


@mysql_only
def test_three_scheduler_processes_greet_each_member_once_a_year(app, make, frozen_now):
    rules.create_rule(db.session, BIRTHDAY_GIFT)
    db.session.commit()
    enable("birthday")
    ids = [make.member(birthday=date(1990, 3, 14), openid=f"o-three-{i}").id for i in range(40)]
    moments = [at_local(date(2026, 3, 11), 1).isoformat(), at_local(date(2026, 3, 14), 1).isoformat()]
    env = dict(os.environ, WXCRM_INSTANCE_PATH=os.environ.get("WXCRM_INSTANCE_PATH", "/tmp"))
    procs = [subprocess.Popen([sys.executable, "-c", SCHEDULER_PROCESS, TEST_DB_URL, *moments], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and "ok" in out, err[-3000:]
    rows = birthday_rows()
    assert sorted(r.member_id for r in rows) == sorted(ids)          # one birthday message each
    for member_id in ids:
        assert ledger.balance(db.session, member_id, "points") == 188  # the rule ran once each
    failed = db.session.scalars(select(JobRun.error).where(JobRun.status == "failed")).all()
    assert not failed, failed
