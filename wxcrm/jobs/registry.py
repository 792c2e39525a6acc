"""Every scheduled job, declared once with a stable id. The scheduler adds them with
``replace_existing``, so a restart never duplicates a job. Each job takes the app and
must be idempotent: the leader may change between two runs."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Job:
    id: str
    func: str                  # "module:function", called with the Flask app
    every_setting: str         # config key holding the interval in seconds
    description: str

    def resolve(self) -> Callable:
        module, name = self.func.split(":")
        return getattr(importlib.import_module(module), name)


JOBS: tuple[Job, ...] = (
    Job("outbox-dispatch", "wxcrm.jobs.tasks:dispatch_outbox", "WXCRM_OUTBOX_INTERVAL_SECONDS",
        "Send due outbox messages (WeChat and SMS)."),
    Job("rules-daily", "wxcrm.jobs.tasks:run_daily_rule_events", "WXCRM_RULES_DAILY_INTERVAL_SECONDS",
        "Birthday and membership-expiry rules for each business day, catching up after downtime."),
    Job("points-expiry", "wxcrm.jobs.tasks:expire_points", "WXCRM_RULES_DAILY_INTERVAL_SECONDS",
        "Expire points lots whose last day has passed (idempotent: an expired lot has nothing left)."),
    Job("tiers", "wxcrm.jobs.tasks:review_tiers", "WXCRM_RULES_DAILY_INTERVAL_SECONDS",
        "Tiers at month end: down when the rolling 12-month spend fell below the threshold (once per "
        "month end), and staff holds that ran out."),
    Job("membership-reminders", "wxcrm.jobs.tasks:remind_expiring", "WXCRM_RULES_DAILY_INTERVAL_SECONDS",
        "Remind members 30 days before their card expires (once per member and expiry date)."),
    Job("analytics-rollup", "wxcrm.jobs.tasks:roll_up_analytics", "WXCRM_ANALYTICS_ROLLUP_INTERVAL_SECONDS",
        "Add new sales and ledger entries into the report rollups, from the watermark on (idempotent)."),
    Job("coupon-expiry", "wxcrm.jobs.tasks:remind_expiring_coupons", "WXCRM_RULES_DAILY_INTERVAL_SECONDS",
        "Remind members 3 days before a coupon ends (once per coupon, catching up after downtime)."),
)
