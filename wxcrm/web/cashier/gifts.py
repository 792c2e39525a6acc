"""Handing a gift over in the store (issue 14, item 5): the member shows the gift coupon
they bought with points, the cashier scans or types its code, sees the gift and its owner,
hands the item over and confirms; the coupon is used once and a slip prints its line."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from wxcrm.config import current_settings
from wxcrm.coupons import service as coupons
from wxcrm.coupons import wallet_card, words
from wxcrm.coupons.codes import normalise, pretty
from wxcrm.coupons.models import Coupon
from wxcrm.errors import N_, DomainError
from wxcrm.extensions import db
from wxcrm.members.models import Member, Staff, Store
from wxcrm.timeutil import Clock
from wxcrm.web import _local_time
from wxcrm.web.auth import role_required
from wxcrm.web.cashier.views import _stores_for, bp

REFUSALS = {
    "coupon_unknown": N_("No coupon %(code)s: check the code."),
    "coupon_used": N_("Gift coupon %(code)s was already handed over."),
    "coupon_void": N_("Coupon %(code)s has been withdrawn."),
    "coupon_expired": N_("Gift coupon %(code)s expired on %(until)s."),
    "gift_not_started": N_("Gift coupon %(code)s is valid from %(since)s."),
    "coupon_not_gift": N_("Coupon %(code)s is not a gift: ring it up at the till with the purchase."),
    "gift_needs_purchase": N_("Gift coupon %(code)s comes with a purchase of ¥%(spend)s: ring it up at the till."),
    "gift_not_here": N_("Gift coupon %(code)s cannot be handed over here now: %(reason)s."),
}


def refusal_text(exc: DomainError) -> str:
    params = dict(exc.params or {})
    if exc.code == "gift_not_here":
        params["reason"] = words.reason_text(params.get("reason", ""))
    if exc.code == "coupon_used" and params.get("used_at"):
        where = params.get("store") or ""
        return _("Gift coupon %(code)s was already handed over on %(at)s at %(store)s.", code=params["code"],
                 at=_local_time(params["used_at"]), store=where)
    try:
        return _(REFUSALS[exc.code], **params)
    except (KeyError, ValueError, TypeError):
        return _(exc.detail)


def _store(stores: list[Store]) -> Store | None:
    wanted = request.values.get("store_code", "")
    return next((s for s in stores if s.code == wanted), stores[0] if stores else None)


def _member_words(member: Member) -> str:
    masked = f"{member.card_no[:4]}****{member.card_no[-4:]}"
    return f"{member.name[:1]}** · {masked}" if member.name else masked


@bp.route("/gifts", methods=["GET", "POST"])
@role_required("cashier", "manager", "admin")
def gifts():
    """Scan or type the gift coupon's code, check the gift, hand it over and confirm."""
    settings = current_settings()
    stores = _stores_for(current_user)
    store = _store(stores)
    if store is None:
        abort(403)
    typed = (request.values.get("code") or "").strip()[:40]
    found, error = None, None
    clock = Clock.now(settings.tz)
    if request.method == "POST" and request.form.get("action") == "hand_over":
        try:
            coupon = coupons.hand_over_gift(db.session, typed, store=store, staff_id=current_user.id, clock=clock)
            wallet_card.queue_consumes(db.session, settings, [coupon.id], now=clock.utc)   # its WeChat wallet copy
            db.session.commit()
            flash(_("Gift handed over: %(t)s.", t=words.title(coupon.template)), "success")
            return redirect(url_for("cashier.gift_slip", code=coupon.code))
        except DomainError as exc:
            db.session.rollback()
            error = refusal_text(exc)
    elif typed:
        try:
            found = coupons.gift_for_hand_over(db.session, typed, store=store, clock=clock)
        except DomainError as exc:
            error = refusal_text(exc)
    recent = list(db.session.scalars(select(Coupon).where(Coupon.used_store_id == store.id,
                                                          Coupon.used_staff_id.is_not(None))
                                     .order_by(Coupon.used_at.desc()).limit(10)))
    gift = None
    if found is not None:
        owner = db.session.get(Member, found.member_id)
        gift = {"c": found, "code": pretty(found.code), "title": words.title(found.template),
                "worth": words.worth(found.template), "description": words.description(found.template),
                "member": _member_words(owner)}
    return render_template("cashier/gifts.html", stores=stores, store=store, typed=typed, gift=gift, error=error,
                           recent=[{"c": c, "code": pretty(c.code), "title": words.title(c.template)} for c in recent])


@bp.route("/gifts/<code>/slip")
@role_required("cashier", "manager", "admin")
def gift_slip(code: str):
    """The printed slip of a gift handed over: the coupon, the item, the member, who and when."""
    coupon = db.session.scalar(select(Coupon).where(Coupon.code == (normalise(code) or "")))
    if coupon is None or coupon.status != "used" or coupon.used_staff_id is None:
        abort(404)
    if current_user.works_at_a_store and coupon.used_store_id != current_user.store_id:
        abort(404)
    zh, en = coupons.hand_over_lines(coupon)
    return render_template("cashier/gift_slip.html", c=coupon, code=pretty(coupon.code),
                           line=zh if words.is_zh() else en, title=words.title(coupon.template),
                           channel=_(words.CHANNEL_TEXT.get(coupon.channel, coupon.channel)),
                           store=db.session.get(Store, coupon.used_store_id),
                           staff=db.session.get(Staff, coupon.used_staff_id),
                           member=_member_words(db.session.get(Member, coupon.member_id)))
