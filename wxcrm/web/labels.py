"""What people read instead of codes: every code a page could show (payment methods, tiers,
message purposes and channels, member-history fields) by its name in the page's
language, and every refusal a service gives (a ``DomainError``'s stable ``code``, a rule
``Problem``'s template) said again in the page's language.

Services speak English with a stable code; the API keeps both. Pages call these, never
``exc.detail`` directly.
"""
from __future__ import annotations

from flask_babel import get_locale
from flask_babel import gettext as _

from wxcrm.errors import N_, DomainError
from wxcrm.rules.actions import ACTIONS
from wxcrm.rules.facts import FACTS

# ---------------------------------------------------------------- codes by name

PAYMENT_METHODS = {"wechat_pay": N_("WeChat Pay"), "alipay": N_("Alipay"), "card": N_("Bank card"),
                   "cash": N_("Cash"), "stored_value": N_("Stored value"), "other": N_("Other"),
                   "split": N_("Several payments"),
                   "imported": N_("Imported from the previous system")}
PURPOSES = {"points_changed": N_("Points changed"), "topup_done": N_("Top-up done"),
            "coupon_received": N_("Coupon received"), "coupon_expiring": N_("Coupon expiring"),
            "membership_expiring": N_("Membership expiring"), "stored_value_low": N_("Stored value running low"),
            "birthday": N_("Birthday greeting"),
            "campaign": N_("Campaign"), "service_reply": N_("Service reply"),
            "presence_code": N_("One-time code at the till"), "verify_phone": N_("Phone verification code"),
            "wallet_card_sync": N_("Wallet card update"), "wallet_card_code": N_("Wallet card number")}
CHANNELS = {"template": N_("Template message"), "custom": N_("Customer-service message"),
            "mass": N_("Mass message"), "sms": N_("SMS"), "card": N_("Wallet card")}
OUTBOX_STATUSES = {"pending": N_("pending"), "sending": N_("sending"), "sent": N_("sent"), "parked": N_("parked")}
HISTORY_FIELDS = {"tier": N_("Tier"), "tier_until": N_("Tier held until"), "expires_on": N_("Membership expires"),
                  "status": N_("Status"), "name": N_("Name"), "gender": N_("Gender"), "birthday": N_("Birthday"),
                  "district": N_("District"), "occupation": N_("Occupation"), "education": N_("Education"),
                  "income_band": N_("Income"), "home_store": N_("Home store"), "card_status": N_("Card"),
                  "card_no": N_("Card number"), "merged": N_("Merged member"), "group": N_("Group account"),
                  "phone": N_("Phone")}
HISTORY_SOURCES = {"staff": N_("staff"), "spend": N_("12-month spend"), "month_end": N_("month-end review"),
                   "group": N_("group account spend"), "rule": N_("rule"), "member": N_("the member")}
TRANSACTION_KINDS = {"purchase": N_("purchase"), "refund": N_("refund")}
CLOSURE_REFUND_STATUSES = {"none": N_("nothing owed"), "requested": N_("to pay out"), "paid": N_("paid out"),
                           "wechat": N_("back to WeChat Pay")}


def zh() -> bool:
    return str(get_locale()).startswith("zh")


def label(table: dict, code: str | None) -> str:
    if not code:
        return "—"
    return _(table[code]) if code in table else code


def payment_label(method: str | None) -> str:
    return label(PAYMENT_METHODS, method)


def purpose_label(purpose: str | None) -> str:
    return label(PURPOSES, purpose)


def channel_label(channel: str | None) -> str:
    return label(CHANNELS, channel)


def tier_name(tier) -> str:
    """A tier (or None) by its name in the page's language."""
    if tier is None:
        return "—"
    return tier.name if zh() else (tier.name_en or tier.name)


def tier_name_of_code(code: str | None, tiers: dict) -> str:
    """A tier code (as kept in history rows and rules) by its name; ``tiers``: code -> Tier."""
    if not code:
        return "—"
    tier = tiers.get(code)
    return tier_name(tier) if tier is not None else code


def event_label(event: str) -> str:
    return {"purchase": _("Purchase"), "refund": _("Refund"), "topup": _("Top-up"), "signup": _("Sign-up"),
            "referral": _("Referral"), "birthday": _("Birthday (daily)"),
            "membership_expiry": _("Membership expiry"), "schedule": _("Schedule")}.get(event, event)


def fact_label(fact: dict | str) -> str:
    """A fact as a marketer reads it; money facts are typed in yuan here, not fen."""
    spec = FACTS.get(fact if isinstance(fact, str) else fact["name"])
    if spec is None:
        return str(fact)
    if zh():
        return spec.label_zh.replace("（分）", "（元）")
    return spec.label_en.replace("(fen)", "(yuan)")


def action_label(kind: str) -> str:
    spec = ACTIONS.get(kind)
    return (spec.label_zh if zh() else spec.label_en) if spec else kind


# ---------------------------------------------------------------- refusals, by code

# A service's refusal by its code; the numbers come from ``DomainError.params``. A code
# not listed here falls back to the service's own N_-marked detail.
PROBLEMS = {
    # coupons (wxcrm.coupons.service): a scanned code that cannot be used, issuing refused
    "coupon_unknown": N_("coupon %(code)s does not exist"),
    "coupon_other_member": N_("coupon %(code)s belongs to another member"),
    "coupon_used": N_("coupon %(code)s has already been used"),
    "coupon_void": N_("coupon %(code)s has been withdrawn"),
    "coupon_expired": N_("coupon %(code)s has expired"),
    "coupon_needs_member": N_("Coupons go to, and are used by, active members only."),
    "coupon_out_of_stock": N_("Coupon %(code)s is out of stock."),
    "coupon_limit_reached": N_("The member already has as many of coupon %(code)s as one member may (%(limit)s)."),
    "coupon_template_inactive": N_("Coupon %(code)s is paused."),
    "coupon_template_ended": N_("Coupon %(code)s has ended."),
    "coupon_template_not_found": N_("No coupon %(code)s."),
    "coupon_template_exists": N_("A coupon with code %(code)s exists already."),
    "coupon_unknown_stores": N_("No such store: %(codes)s."),
    "coupon_unknown_tiers": N_("No such tier: %(codes)s."),
    "coupon_stock_below_issued": N_("%(issued)s coupons are already issued: the stock cannot be lower."),
    "points_exceed_payable": N_("%(points)s points are worth more than the ¥%(left)s left to pay."),
    "points_exceed_share": N_("Points may pay at most %(pct)s%% of the bill: %(most)s points here."),
    "points_need_member": N_("Points can only be used by an active member."),
    "insufficient_points": N_("The member does not have that many points available."),
    "empty_basket": N_("The basket is empty."),
    "too_many_lines": N_("The basket has too many lines."),
    "invalid_qty": N_("A quantity is out of range."),
    "invalid_price": N_("A price is out of range."),
    "invalid_payment_method": N_("Choose a payment method."),
    "store_inactive": N_("This store is closed."),
    "store_not_found": N_("No such store."),
    "wrong_store": N_("A cashier rings up and refunds only at their own store."),
    "member_not_found": N_("No member with that card."),
    "invalid_member_ref": N_("The member needs a card number."),
    "transaction_not_found": N_("No such purchase."),
    "already_refunded": N_("Everything on this purchase has already been refunded."),
    "empty_refund": N_("Choose at least one item to refund."),
    "invalid_refund_item": N_("That item is not on the purchase."),
    "refund_exceeds_purchase": N_("More units than were bought, less what was already refunded."),
    "occurred_at_in_future": N_("The sale's time is in the future."),
    "occurred_at_too_old": N_("The sale is more than %(days)s days old."),
    "occurred_at_needs_offset": N_("The sale's time needs its offset."),
    "invalid_name": N_("The name is too long."),
    "invalid_gender": N_("Choose a gender."),
    "invalid_birthday": N_("That is not a real date of birth."),
    "birthday_locked": N_("Your birthday is already set; ask at the till to change it."),
    "idempotency_key_reused": N_("This sale was already rung up with a different basket."),
    "payments_do_not_add_up": N_("The payments add up to ¥%(paid)s but ¥%(payable)s is left to pay."),
    "insufficient_stored_value": N_("The member's stored value does not cover that amount."),
    "stored_value_needs_member": N_("Stored value can only be spent by an active member."),
    "stored_value_cap": N_("A card holds at most ¥%(cap)s: ¥%(room)s more fits."),
    "stored_value_cap_bonus": N_("A card holds at most ¥%(cap)s, bonus included: this top-up brings ¥%(bonus)s "
                                 "of bonus, and ¥%(room)s more fits."),
    "invalid_term": N_("The term is 1 to 60 months."),
    "tier_not_for_sale": N_("This tier is not for sale."),
    "member_closed": N_("This membership is closed."),
    "closure_refund_not_requested": N_("This refund is not waiting to be paid."),
    "topup_too_small": N_("A top-up is at least ¥%(min)s."),
    "invalid_topup_method": N_("Choose how the money was paid."),
    "member_not_active": N_("Only an active member can top up."),
    "topup_not_paid": N_("This top-up was never paid."),
    "wechat_pay_disabled": N_("Top-ups by WeChat Pay are not available yet; top up at the till."),
    "wechat_pay_refused": N_("WeChat Pay refused the order; please try again."),
    "wechat_pay_unavailable": N_("WeChat Pay did not answer; please try again."),
    "openid_required": N_("Open this page inside WeChat."),
    "invalid_amount": N_("Enter an amount in yuan."),
    # coupons in the WeChat card wallet (wxcrm.coupons.wallet_card)
    "wechat_card_off": N_("The WeChat card wallet is not enabled (WXCRM_WECHAT_CARD_ENABLED)."),
    "wechat_card_title": N_("A WeChat card title has at most 9 characters: shorten the Chinese title (now %(n)d)."),
    "wechat_card_ended": N_("This coupon's validity has ended: WeChat takes no card that ends in the past."),
    "wechat_card_failed": N_("WeChat did not make the card coupon: %(error)s"),
    "wechat_card_unavailable": N_("This coupon cannot be added to the WeChat card wallet."),
    "wechat_card_coupon_used": N_("Only a usable coupon can be added to the WeChat card wallet."),
    "wechat_card_added": N_("This coupon is already in your WeChat card wallet."),
    "wechat_card_not_sent": N_("This coupon is not a WeChat card coupon yet."),
    # marketing
    "segment_filters": N_("A segment is a list of at most 20 conditions."),
    "segment_field": N_("A condition names a field the segment builder does not know."),
    "segment_op": N_("A condition's comparison does not fit its field."),
    "segment_value": N_("A condition's value does not fit its field."),
    "segment_name": N_("Give the segment a name."),
    "segment_not_found": N_("No such segment."),
    "campaign_name": N_("Give the campaign a name."),
    "campaign_text": N_("The message needs 1 to 600 characters."),
    "campaign_purpose": N_("Choose the channels."),
    "campaign_control": N_("The control group is 0 to 50 percent."),
    "notice_text": N_("A service notice is 20 characters or fewer."),
    "campaign_not_found": N_("No such campaign."),
    "campaign_over": N_("The campaign is over."),
    "campaign_not_scheduled": N_("Only a scheduled campaign can be sent."),
    "campaign_not_running": N_("Only a scheduled or sending campaign can be paused."),
    "campaign_not_paused": N_("The campaign is not paused."),
    "campaign_not_draft": N_("Only a draft can be scheduled."),
    "coupons_unavailable": N_("Coupons are not installed yet."),
    "greeting_text": N_("A greeting needs 1 to 600 characters."),
    "greeting_time": N_("Write the time as HH:MM."),
    "greeting_code": N_("The code is letters, digits and _, and not a holiday's."),
    "greeting_code_taken": N_("That code is taken."),
    "greeting_day": N_("No such day."),
    "greeting_not_found": N_("No such greeting."),
    "rfm_threshold": N_("A threshold is a positive whole number."),
    "job_not_found": N_("No such job."),
    "bad_date": N_("Write the date as YYYY-MM-DD."),
}


def problem_text(exc: DomainError | Exception) -> str:
    """A service's refusal in the page's language, by its code."""
    code = getattr(exc, "code", "")
    template = PROBLEMS.get(code)
    if template is not None:
        try:
            return _(template, **getattr(exc, "params", {}))
        except (KeyError, ValueError, TypeError):
            pass
    detail = getattr(exc, "detail", str(exc))
    return _(detail)


# ---------------------------------------------------------------- rule problems

_LIMIT_NAMES = {"per_day": N_("the limit per day"), "per_month": N_("the limit per month"),
                "per_year": N_("the limit per calendar year"),
                "per_membership_year": N_("the limit per membership year"), "lifetime": N_("the limit in all")}


def problem_message(problem) -> str:
    """A rule ``Problem`` (schema, form or simulator) in the page's language: its template
    translated, with facts, events and actions by their names."""
    template = getattr(problem, "template", "")
    if not template:
        return _(problem.message)
    params = dict(getattr(problem, "args", ()))
    if params:
        if "fact" in params:
            params["fact"] = fact_label(params["fact"])
        if "event" in params:
            params["event"] = event_label(params["event"])
        if "events" in params:
            params["events"] = ", ".join(event_label(e.strip()) for e in str(params["events"]).split(","))
        if "action" in params:
            params["action"] = action_label(params["action"])
        if "limit" in params:
            params["limit"] = label(_LIMIT_NAMES, params["limit"])
    try:
        return _(template, **params)
    except (KeyError, ValueError, TypeError):
        return problem.message


def register(app) -> None:
    """The labels as template globals, for every page."""
    app.jinja_env.globals.update(payment_label=payment_label, purpose_label=purpose_label,
                                 channel_label=channel_label, tier_name=tier_name,
                                 history_field=lambda f: label(HISTORY_FIELDS, f),
                                 history_source=lambda s: label(HISTORY_SOURCES, s),
                                 outbox_status=lambda s: label(OUTBOX_STATUSES, s),
                                 kind_label=lambda k: label(TRANSACTION_KINDS, k),
                                 closure_status=lambda s: label(CLOSURE_REFUND_STATUSES, s),
                                 problem_message=problem_message)
