"""A message's fate, step by step: each step is a small dict in ``OutboxMessage.history``
(what happened, on which channel, why, with details), so the console can say it in the
page's language and the ``reason`` column can say it in English.

    {"at": "2026-03-10T04:00:00", "event": "skipped", "channel": "template", "code": "not_following"}
    {"at": ..., "event": "moved", "channel": "custom", "to": "mass", "code": "wechat_member",
     "errcode": 45015, "error": "response out of time limit ..."}
"""
from __future__ import annotations

from datetime import datetime

from wxcrm.errors import N_

EVENTS = ("skipped", "moved", "waiting", "retrying", "parked", "resent", "unconfirmed")

# code -> the sentence, with %(name)s for the step's details (translated by the console)
WHY: dict[str, str] = {
    "no_openid": N_("the member has no WeChat account linked"),
    "not_following": N_("the member does not follow the account"),
    "no_template": N_("no WeChat template is set up for this kind of message"),
    "template_value": N_("the template field %(keyword)s cannot take “%(value)s”"),
    "no_window": N_("no customer-service window is open (the member has not written or acted recently)"),
    "window_closed": N_("outside the customer-service window (the member's last action: %(last)s)"),
    "window_used": N_("the customer-service window's messages are used up"),
    "mass_month": N_("the member has had 4 mass messages in %(month)s"),
    "no_phone": N_("the member has no mobile number"),
    "sms_value": N_("the SMS parameter %(param)s cannot take “%(value)s”"),
    "wechat_member": N_("WeChat refused it for this member (%(errcode)s: %(error)s)"),
    "sms_member": N_("the SMS gateway refused this number (%(errcode)s: %(error)s)"),
    "mass_alone": N_("no other message with the same words to go with it (a mass send needs 2 or more)"),
    "mass_filtered": N_("WeChat's mass-send report: it filtered every follower of the send (past 4 mass messages "
                        "this month, or not following)"),
    "mass_unfollowed": N_("WeChat's mass-send report: not delivered, the member no longer follows the account"),
    "mass_past_four": N_("WeChat's mass-send report: not delivered, the member had 4 mass messages this month "
                         "already"),
    "mass_failed": N_("WeChat's mass-send report: the send failed (%(detail)s)"),
    "template_blocked": N_("WeChat's report: the member blocks template messages"),
    "template_failed": N_("WeChat's report: the template message failed"),
    "mass_company": N_("waiting for other messages with the same words, until %(until)s"),
    "mass_daily": N_("today's 100 mass sends are used; waiting for tomorrow"),
    "failed": N_("attempt %(attempt)s failed (%(error)s)"),
    "refused": N_("refused (%(error)s)"),
    "failed_n": N_("failed %(attempts)s times (%(error)s)"),
    "no_channel": N_("no channel can carry it"),
    "no_consent": N_("the member has not agreed to marketing messages (or opted out)"),
    "quiet_hours": N_("quiet hours: marketing waits until %(until)s"),
    "console": N_("sent again from the console"),
    "mass_unconfirmed": N_("WeChat did not deliver %(count)s of the %(total)s messages of this mass send and "
                           "does not say to whom"),
}
# details that are moments (UTC, ISO): shown in the merchant's time zone
TIME_DETAILS = ("last", "until")


def step(event: str, code: str, channel: str | None, at: datetime, **detail) -> dict:
    entry = {"at": at.replace(microsecond=0).isoformat(), "event": event, "code": code}
    if channel:
        entry["channel"] = channel
    for key, value in detail.items():
        entry[key] = value.replace(microsecond=0).isoformat() if isinstance(value, datetime) else value
    return entry


def english(entry: dict) -> str:
    """One step in English, for ``reason``: "template: the member does not follow the account"."""
    values = {k: ("—" if v is None else v) for k, v in entry.items()}
    for key in TIME_DETAILS:
        if key in values and values[key] != "—":
            values[key] = str(values[key]).replace("T", " ")[:16] + " UTC"
    text = WHY.get(entry.get("code", ""), entry.get("code", "")) % _Missing(values)
    channel = entry.get("channel")
    return f"{channel}: {text}" if channel else text


def reason_of(history: list[dict], *, parked_without_channel: bool = False) -> str:
    text = "; ".join(english(e) for e in history if e.get("event") != "resent")
    if parked_without_channel:
        text = "cannot go: " + (text or "no channel")
    return text[:500]


class _Missing(dict):
    """%-formatting that leaves an unknown detail as "?" instead of failing."""

    def __missing__(self, key):
        return "?"
