"""APScheduler under the leader lease.

Every worker may start a scheduler (only when WXCRM_SCHEDULER_ENABLED is true, so tests
and CLI commands never do); each run of each job first holds the database lease, so
exactly one worker runs jobs at a time. A heartbeat keeps the lease while the leader
lives; when it dies, another worker takes over within one lease period.
"""
from __future__ import annotations

import atexit
import logging
import os
import socket
import uuid

from flask import Flask

from wxcrm.jobs import lease
from wxcrm.jobs.registry import JOBS, Job

log = logging.getLogger(__name__)


class Leader:
    def __init__(self, app: Flask):
        self.app = app
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.ttl = app.config["WXCRM_SCHEDULER_LEASE_SECONDS"]

    def holds(self) -> bool:
        from wxcrm.extensions import db
        with self.app.app_context():
            return lease.hold(db.engine, self.holder, self.ttl)

    def run(self, job: Job) -> None:
        if not self.holds():
            return
        with self.app.app_context():
            try:
                if job.dated:
                    from wxcrm.config import settings_for
                    from wxcrm.extensions import db
                    from wxcrm.jobs.runner import run_due
                    try:
                        run_due(db.session, settings_for(self.app), job, trigger="schedule", started_by=self.holder)
                    finally:
                        db.session.remove()
                else:
                    job.resolve()(self.app)
            except Exception:  # a failing job must not kill the scheduler thread
                log.exception("job %s failed", job.id)

    def step_down(self) -> None:
        from wxcrm.extensions import db
        with self.app.app_context():
            lease.release(db.engine, self.holder)


def _in_a_cli_command() -> bool:
    """`flask wxcrm seed-demo` and friends load the app too: they must not run jobs."""
    import click
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.info_name != "run"


def init_app(app: Flask):
    if not app.config["WXCRM_SCHEDULER_ENABLED"] or _in_a_cli_command():
        return None
    from apscheduler.schedulers.background import BackgroundScheduler

    leader = Leader(app)
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1,
                                                                  "misfire_grace_time": 60})
    scheduler.add_job(leader.holds, "interval", seconds=max(leader.ttl // 3, 1), id="lease-heartbeat",
                      replace_existing=True)
    for job in JOBS:
        scheduler.add_job(leader.run, "interval", args=[job], seconds=app.config[job.every_setting], id=job.id,
                          name=job.description, replace_existing=True)
    scheduler.start()
    app.extensions["wxcrm_scheduler"] = scheduler

    def stop():
        scheduler.shutdown(wait=False)
        leader.step_down()
    atexit.register(stop)
    log.info("scheduler started as %s with %d job(s)", leader.holder, len(JOBS))
    return scheduler
