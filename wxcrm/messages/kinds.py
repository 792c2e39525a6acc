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

# A wallet member card update (channel ``card``): absolute values, the whole message. The
# member fields are the tier, the coupons held and the stored value (``cards.wallet``).
CARD_FIELD_VALUES = ("custom_field_value1", "custom_field_value2", "custom_field_value3")
CARD_PAYLOAD = ("card_id", "code", "bonus") + CARD_FIELD_VALUES
# A wallet member card's code changed (the member's card was replaced): ``code`` -> ``new_code``.
CARD_CODE_PAYLOAD = ("card_id", "code", "new_code")


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
    # marketing: only with the member's marketing consent, never in quiet hours
    marketing: bool = False

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
    Kind("stored_value_low", N_("Stored value running low"), ("template", "sms"), ("balance",),
         (("amount1", "balance"),), "SMS_STORED_VALUE_LOW", ("balance",)),
    Kind("coupon_received", N_("Coupon received"), ("template", "sms"), ("coupon", "date"),
         (("thing1", "coupon"), ("date2", "date")), "SMS_COUPON_RECEIVED", ("coupon", "date")),
    Kind("coupon_expiring", N_("Coupon expiring"), ("template", "sms"), ("coupon", "date"),
         (("thing1", "coupon"), ("date2", "date")), "SMS_COUPON_EXPIRING", ("coupon", "date")),
    Kind("membership_expiring", N_("Membership expiring"), ("template", "sms"), ("card", "date"),
         (("character_string1", "card"), ("date2", "date")), "SMS_MEMBERSHIP_EXPIRING", ("card", "date")),
    Kind("points_expiring", N_("Points expiring"), ("template", "sms"), ("points", "date"),
         (("number1", "points"), ("date2", "date")), "SMS_POINTS_EXPIRING", ("points", "date")),
    # a campaign that is a service notice (a change of opening hours, a recall): a template
    # message (or SMS), not marketing; the console and the API say so
    Kind("service_notice", N_("Service notice"), ("template", "sms"), ("title", "date"),
         (("thing1", "title"), ("time2", "date")), "SMS_SERVICE_NOTICE", ("title", "date")),
    # greetings and campaigns: marketing, never a template message
    Kind("birthday", N_("Birthday greeting"), ("custom", "mass", "sms"), sms_template="SMS_MARKETING",
         sms_params=("text",), mass_wait=timedelta(hours=2), marketing=True),
    Kind("holiday", N_("Holiday greeting"), ("custom", "mass", "sms"), sms_template="SMS_MARKETING",
         sms_params=("text",), mass_wait=timedelta(hours=2), marketing=True),
    Kind("campaign", N_("Campaign"), ("custom", "mass", "sms"), sms_template="SMS_MARKETING",
         sms_params=("text",), mass_wait=timedelta(minutes=10), marketing=True),
    Kind("campaign_wechat", N_("Campaign (WeChat only)"), ("custom", "mass"), mass_wait=timedelta(minutes=10),
         marketing=True),
    Kind("campaign_sms", N_("Campaign (SMS only)"), ("sms",), sms_template="SMS_MARKETING",
         sms_params=("text",), marketing=True),
    # a one-time code proving the member is at the till (wxcrm.cards.presence): sent at once,
    # never listed in the console's outbox (SECRET_PURPOSES)
    Kind("presence_code", N_("One-time code at the till"), ("template", "sms"), ("code", "store"),
         (("character_string1", "code"), ("thing2", "store")), "SMS_PRESENCE_CODE", ("code",)),
    # a code texted to a phone to prove it is the member's (binding a membership): SMS only
    Kind("verify_phone", N_("Phone verification code"), ("sms",), ("code",), (), "SMS_VERIFY_CODE", ("code",)),
    # the wallet member card's points, set to the absolute balance (wxcrm.cards.wallet)
    Kind("wallet_card_sync", N_("Wallet card update"), ("card",), CARD_PAYLOAD),
    Kind("wallet_card_code", N_("Wallet card number"), ("card",), CARD_CODE_PAYLOAD),
    # a coupon in the WeChat card wallet, consumed there after the till redeemed it, or made
    # unavailable after wxcrm withdrew it (wxcrm.coupons.wallet_card; sent by messages.cardcalls)
    Kind("wallet_coupon_consume", N_("Wallet coupon consumed"), ("card",), ("card_id", "code")),
    Kind("wallet_coupon_unavailable", N_("Wallet coupon withdrawn"), ("card",), ("card_id", "code")),
    # an answer to the member's own message: only while they are talking to us
    Kind("service_reply", N_("Reply to the member"), ("custom",)),
)}

# A marketing SMS carries the opt-out words in its approved template (the gateway refuses a
# marketing template without them: "${text}，拒收请回复R" / "回T退订"); the member's reply
# reaches ``campaigns.consent.opt_out_by_reply``.
OPT_OUT_REPLIES = ("退订", "TD", "T", "R", "N")


def birthday_key(year: int, member_id: int) -> str:
    """The outbox key of a member's birthday message for a year: the greeting job and any
    birthday rule's message share it, so a member gets one birthday message a year."""
    return f"birthday:{year}:m{member_id}"

# Purposes whose words are a secret (a one-time code): the console never lists them.
SECRET_PURPOSES = frozenset({"presence_code", "verify_phone"})

# purpose -> channels in order of preference (kept for callers that only need this)
PURPOSES: dict[str, tuple[str, ...]] = {purpose: kind.channels for purpose, kind in KINDS.items()}
