"""Every kind of message wxcrm sends (its ``purpose``): the channels it may take in order
of preference, the values its caller gives, how those values fill a WeChat template and
an SMS template, and how long a mass message may wait for others with the same words.

WeChat's template messages are for service notices only (never marketing); mass sends
go to 2..10,000 followers at once, each at most four times a month; customer-service
messages only inside a window the user opened. See ``outbox`` for how a channel is chosen.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from wxcrm.errors import N_


@dataclass(frozen=True)
class Kind:
    purpose: str
    label: str                                # for people (translated by the console)
    channels: tuple[str, ...]                 # in order of preference
    params: tuple[str, ...] = ()              # named values the caller passes as ``fields``
    # the default WeChat template layout: keyword (its type is the prefix) -> param
    template_keywords: tuple[tuple[str, str], ...] = ()
    sms_template: str = ""                    # the default SMS template code at the gateway
    sms_params: tuple[str, ...] = ()          # its ${names}; "text" is the message's words
    # a mass message alone (no other pending message with the same words) waits this long
    # for company before it goes by the next channel (WeChat sends to 2 or more only)
    mass_wait: timedelta = timedelta(0)

    @property
    def service_notice(self) -> bool:
        """May go as a template message (a service notice, not marketing)."""
        return "template" in self.channels

    @property
    def lone_channels(self) -> tuple[str, ...]:
        """Where a mass message alone goes: customer service inside its window, a template
        message for a service notice, SMS."""
        return tuple(c for c in ("custom", "template", "sms") if c in self.channels)


KINDS: dict[str, Kind] = {k.purpose: k for k in (
    Kind("points_changed", N_("Points changed"), ("template", "sms"), ("store", "change", "balance"),
         (("thing1", "store"), ("character_string2", "change"), ("number3", "balance")),
         "SMS_POINTS_CHANGED", ("store", "change", "balance")),
    Kind("topup_done", N_("Top-up done"), ("template", "sms"), ("store", "amount", "balance", "time"),
         (("thing1", "store"), ("amount2", "amount"), ("amount3", "balance"), ("time4", "time")),
         "SMS_TOPUP_DONE", ("amount", "balance")),
    Kind("coupon_received", N_("Coupon received"), ("template", "sms"), ("coupon", "date"),
         (("thing1", "coupon"), ("date2", "date")), "SMS_COUPON_RECEIVED", ("coupon", "date")),
    Kind("coupon_expiring", N_("Coupon expiring"), ("template", "sms"), ("coupon", "date"),
         (("thing1", "coupon"), ("date2", "date")), "SMS_COUPON_EXPIRING", ("coupon", "date")),
    Kind("membership_expiring", N_("Membership expiring"), ("template", "sms"), ("card", "date"),
         (("character_string1", "card"), ("date2", "date")), "SMS_MEMBERSHIP_EXPIRING", ("card", "date")),
    # greetings and campaigns: marketing, never a template message
    Kind("birthday", N_("Birthday greeting"), ("custom", "mass", "sms"), sms_template="SMS_MARKETING",
         sms_params=("text",), mass_wait=timedelta(hours=2)),
    Kind("campaign", N_("Campaign"), ("custom", "mass", "sms"), sms_template="SMS_MARKETING",
         sms_params=("text",), mass_wait=timedelta(minutes=10)),
    # a one-time code proving the member is at the till (wxcrm.cards.presence): sent at once,
    # never listed in the console's outbox (SECRET_PURPOSES)
    Kind("presence_code", N_("One-time code at the till"), ("template", "sms"), ("code", "store"),
         (("character_string1", "code"), ("thing2", "store")), "SMS_PRESENCE_CODE", ("code",)),
    # a code texted to a phone to prove it is the member's (binding a membership): SMS only
    Kind("verify_phone", N_("Phone verification code"), ("sms",), ("code",), (), "SMS_VERIFY_CODE", ("code",)),
    # the wallet member card's points, set to the absolute balance (wxcrm.cards.wallet)
    Kind("wallet_card_sync", N_("Wallet card points"), ("card",), ("card_id", "code", "bonus")),
    # an answer to the member's own message: only while they are talking to us
    Kind("service_reply", N_("Reply to the member"), ("custom",)),
)}

# Purposes whose words are a secret (a one-time code): the console never lists them.
SECRET_PURPOSES = frozenset({"presence_code", "verify_phone"})

# purpose -> channels in order of preference (kept for callers that only need this)
PURPOSES: dict[str, tuple[str, ...]] = {purpose: kind.channels for purpose, kind in KINDS.items()}
