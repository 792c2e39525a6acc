"""Every scheduled job, declared once with a stable id: the one list the scheduler, the
console's jobs page and `flask --app wsgi wxcrm jobs-run NAME [--date D]` share.

A *dated* job (the default) does one business date's work: its function takes
``(session, settings, day, today)``, flushes or commits its own units of work, and
returns its counts ({"greeted": 12, ...}). The runner (``runner``) records every run
(``JobRun``), runs each date from the last finished one to today (catching up after
downtime, at most ``CATCH_UP_DAYS`` back) and commits. The work must be idempotent per
(job, business date, member): the leader may change between two runs, and a person may
run the job by hand at the same time.

A continuous job (``dated=False``, the outbox) takes the Flask app and runs as often as
its interval says; it is not recorded per date.

To add a job, add one ``Job`` line here with a function of that shape; nothing else.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from wxcrm.errors import N_


@dataclass(frozen=True)
class Job:
    id: str
    func: str                  # "module:function"
    every_setting: str         # config key holding the interval in seconds
    description: str           # for people (translated in the console)
    dated: bool = True

    def resolve(self) -> Callable:
        module, name = self.func.split(":")
        return getattr(importlib.import_module(module), name)


DAILY = "WXCRM_RULES_DAILY_INTERVAL_SECONDS"

JOBS: tuple[Job, ...] = (
    Job("outbox-dispatch", "wxcrm.jobs.tasks:dispatch_outbox", "WXCRM_OUTBOX_INTERVAL_SECONDS",
        N_("Send due outbox messages (WeChat and SMS)."), dated=False),
    Job("birthday", "wxcrm.jobs.daily:birthday", DAILY,
        N_("Birthday greetings N days ahead (once a member a year) and the birthday rules on the day.")),
    Job("membership-expiry", "wxcrm.jobs.daily:membership_expiry", DAILY,
        N_("Membership-expiry rules (renew, cancel, reset) on the day, and a reminder N days ahead saying what "
           "to spend to renew.")),
    Job("points-expiry", "wxcrm.jobs.daily:points_expiry", DAILY,
        N_("Expire points lots whose last day has passed, and remind members N days before their points end.")),
    Job("tiers", "wxcrm.jobs.daily:tiers", DAILY,
        N_("Tiers at month end: down when the rolling 12-month spend fell below the threshold, and staff holds "
           "that ran out.")),
    Job("holidays", "wxcrm.jobs.daily:holidays", DAILY,
        N_("Holiday greetings that are enabled, on their day at their time.")),
    Job("schedule", "wxcrm.jobs.daily:schedule", DAILY,
        N_("The daily recalculation rules (event `schedule`), while a live rule listens for it.")),
    Job("campaigns", "wxcrm.jobs.daily:campaigns", "WXCRM_CAMPAIGNS_INTERVAL_SECONDS",
        N_("Start the campaigns whose start time has come, and feed running ones to the outbox in batches.")),
    Job("coupon-expiry", "wxcrm.jobs.daily:coupon_expiry", DAILY,
        N_("Remind members 3 days before a coupon ends (once per coupon).")),
    Job("topup-order-query", "wxcrm.jobs.tasks:confirm_wechat_topups", "WXCRM_OUTBOX_INTERVAL_SECONDS",
        N_("Ask WeChat Pay about top-ups and paid memberships whose pay notify is late; apply the paid ones "
          "once, close the dead; send the refunds still owed."),
        dated=False),
    Job("analytics-rollup", "wxcrm.jobs.tasks:roll_up_analytics", "WXCRM_ANALYTICS_ROLLUP_INTERVAL_SECONDS",
        N_("Add new sales and ledger entries into the report rollups, from the watermark on (idempotent)."),
        dated=False),
    Job("wallet-card-sync", "wxcrm.jobs.tasks:sync_wallet_cards", "WXCRM_WALLET_CARD_SYNC_INTERVAL_SECONDS",
        N_("Queue an update for every WeChat wallet member card that shows old points, stored value, coupons or "
           "tier (absolute values; only with the wallet card on)."), dated=False),
)
BY_ID = {job.id: job for job in JOBS}
