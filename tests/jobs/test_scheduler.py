"""The scheduler: a declarative job list, a database lease, exactly one leader."""
from __future__ import annotations

from datetime import datetime, timedelta

from wxcrm.extensions import db
from wxcrm.jobs import lease
from wxcrm.jobs.registry import JOBS
from wxcrm.jobs.scheduler import Leader


def test_jobs_have_stable_unique_ids_and_resolve():
    assert len({job.id for job in JOBS}) == len(JOBS)
    assert "outbox-dispatch" in {job.id for job in JOBS}
    for job in JOBS:
        assert callable(job.resolve())


def test_one_worker_holds_the_lease_until_it_expires():
    t0 = datetime(2026, 3, 1, 0, 0)
    assert lease.hold(db.engine, "worker-a", 60, now=t0)
    assert not lease.hold(db.engine, "worker-b", 60, now=t0 + timedelta(seconds=30))
    assert lease.hold(db.engine, "worker-a", 60, now=t0 + timedelta(seconds=40))  # renewal
    assert not lease.hold(db.engine, "worker-b", 60, now=t0 + timedelta(seconds=90))
    assert lease.hold(db.engine, "worker-b", 60, now=t0 + timedelta(seconds=101))  # a died: b takes over
    assert not lease.hold(db.engine, "worker-a", 60, now=t0 + timedelta(seconds=102))


def test_tests_and_the_cli_never_start_the_scheduler(app):
    assert not app.config["WXCRM_SCHEDULER_ENABLED"]
    assert "wxcrm_scheduler" not in app.extensions


def test_only_the_leader_runs_a_job(app, monkeypatch):
    ran = []
    job = JOBS[0]
    monkeypatch.setattr(type(job), "resolve", lambda self: (lambda a: ran.append(a)))
    leader, follower = Leader(app), Leader(app)
    leader.run(job)
    follower.run(job)
    assert len(ran) == 1
    leader.step_down()
    follower.run(job)
    assert len(ran) == 2


def test_cli_commands_never_start_the_scheduler_even_when_enabled(app, monkeypatch):
    import click

    from wxcrm.jobs import scheduler
    monkeypatch.setitem(app.config, "WXCRM_SCHEDULER_ENABLED", True)
    with click.Context(click.Command("seed-demo"), info_name="seed-demo"):
        assert scheduler.init_app(app) is None
