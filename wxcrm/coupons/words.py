"""A coupon in plain words, in the page's (or the API request's) language: why one was
left out at the till, and what its rules are. Presentation only; the service is wordless."""
from __future__ import annotations

from flask_babel import get_locale
from flask_babel import gettext as _

from wxcrm.coupons.models import CouponTemplate
from wxcrm.errors import N_
from wxcrm.money import fen_to_yuan_str

REASON_TEXT = {
    "not_started": N_("not valid yet"),
    "expired": N_("expired"),
    "wrong_store": N_("not valid in this store"),
    "wrong_store_kind": N_("not valid in this kind of store"),
    "wrong_tier": N_("not for this member's tier"),
    "wrong_day": N_("not valid on this day of the week"),
    "wrong_hour": N_("not valid at this hour"),
    "no_eligible_items": N_("no item in the basket qualifies"),
    "item_not_in_basket": N_("its free item is not in the basket"),
    "below_min_spend": N_("the basket is below its minimum spend"),
    "not_with_points": N_("cannot be combined with paying by points"),
    "gift_needs_scan": N_("a gift coupon is used only when scanned"),
    "one_per_template": N_("one coupon of this kind per purchase"),
    "better_choice": N_("another coupon (or combination) is worth more"),
    "no_value": N_("adds nothing to this basket"),
}

TYPE_TEXT = {"cash": N_("Cash voucher"), "percent": N_("Percentage off"), "gift": N_("Gift"),
             "free_item": N_("Free item"), "spend_get": N_("Spend and save")}
STATUS_TEXT = {"available": N_("Available"), "used": N_("Used"), "expired": N_("Expired"), "void": N_("Withdrawn")}
CHANNEL_TEXT = {"rule": N_("Rule"), "manual": N_("Issued by staff"), "campaign": N_("Campaign"),
                "exchange": N_("Points exchange"), "scan": N_("Scan to earn")}
WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))


def reason_text(code: str) -> str:
    return _(REASON_TEXT[code]) if code in REASON_TEXT else code


def is_zh() -> bool:
    return str(get_locale() or "zh").startswith("zh")


def title(tpl: CouponTemplate) -> str:
    return tpl.title_zh if is_zh() or not tpl.title_en else tpl.title_en


def description(tpl: CouponTemplate) -> str:
    return tpl.description_zh if is_zh() or not tpl.description_en else tpl.description_en


def worth(tpl: CouponTemplate) -> str:
    """What it is worth, in a few words."""
    y = fen_to_yuan_str
    if tpl.type == "cash":
        return _("¥%(v)s off", v=y(tpl.face_value_fen))
    if tpl.type == "spend_get":
        return _("¥%(v)s off a spend of ¥%(m)s", v=y(tpl.face_value_fen), m=y(tpl.min_spend_fen))
    if tpl.type == "percent":
        if is_zh():          # Chinese says what is paid: 10% off is "9折", 15% off "8.5折"
            pay = 100 - tpl.percent_off
            zhe = f"{pay // 10}" + (f".{pay % 10}" if pay % 10 else "") if pay >= 10 else f"0.{pay}"
            return f"{zhe}折" + (f"，最多减 ¥{y(tpl.cap_fen)}" if tpl.cap_fen else "")
        if tpl.cap_fen:
            return _("%(p)d%% off, at most ¥%(c)s", p=tpl.percent_off, c=y(tpl.cap_fen))
        return _("%(p)d%% off", p=tpl.percent_off)
    if tpl.type == "free_item":
        return _("One %(sku)s free", sku=tpl.item_sku)
    return _("Gift: %(sku)s", sku=tpl.item_sku)


def rules(tpl: CouponTemplate, tier_names: dict[str, str] | None = None) -> list[str]:
    """Its restrictions, one sentence each (tiers by their names, not codes)."""
    r = tpl.restrictions or {}
    out = []
    sep = "、" if is_zh() else ", "
    if tpl.min_spend_fen and tpl.type != "spend_get":
        out.append(_("Minimum spend ¥%(m)s.", m=fen_to_yuan_str(tpl.min_spend_fen)))
    if r.get("stores"):
        out.append(_("Only in stores %(s)s.", s=sep.join(r["stores"])))
    if r.get("store_kinds"):
        kinds = {"direct": _("directly run stores"), "franchise": _("franchise stores")}
        out.append(_("Only in %(k)s.", k=sep.join(kinds.get(k, k) for k in r["store_kinds"])))
    if r.get("skus_in") or r.get("categories_in"):
        out.append(_("Only on %(w)s.", w=sep.join((r.get("skus_in") or []) + (r.get("categories_in") or []))))
    if r.get("skus_out") or r.get("categories_out"):
        out.append(_("Not on %(w)s.", w=sep.join((r.get("skus_out") or []) + (r.get("categories_out") or []))))
    if r.get("tiers"):
        out.append(_("For tiers %(t)s.", t=sep.join((tier_names or {}).get(t, t) for t in r["tiers"])))
    if r.get("weekdays"):
        out.append(_("On %(d)s.", d=sep.join(_(WEEKDAYS[d - 1]) for d in r["weekdays"])))
    if r.get("hours"):
        out.append(_("From %(a)d:00 to %(b)d:00.", a=r["hours"][0], b=r["hours"][1]))
    out.append(_("Can be combined with other coupons.") if tpl.combinable
               else _("Cannot be combined with other coupons."))
    if not tpl.with_points:
        out.append(_("Cannot be used when paying by points."))
    if tpl.type == "gift":
        out.append(_("Show the code at the till to collect the gift."))
    return out
