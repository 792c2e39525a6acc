"""The member's coupon wallet in H5: available, used and expired coupons, each with its QR
and its rules in plain words; the points catalogue (gifts, cash vouchers, coupons)."""
from __future__ import annotations

import io
import uuid

import qrcode
from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from wxcrm.config import current_settings
from wxcrm.coupons import service as coupons
from wxcrm.coupons import words
from wxcrm.coupons.codes import pretty
from wxcrm.coupons.models import Coupon, CouponTemplate
from wxcrm.errors import N_, DomainError
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.members.models import Member, Tier
from wxcrm.timeutil import Clock
from wxcrm.web.h5.views import bp, customer_page
from wxcrm.web.labels import problem_text

WALLET_TABS = ("available", "used", "expired")


def _tier_names() -> dict[str, str]:
    zh = words.is_zh()
    return {t.code: (t.name if zh or not t.name_en else t.name_en) for t in db.session.scalars(select(Tier))}


@bp.route("/coupons")
@customer_page()
def coupon_wallet(member: Member):
    status = request.args.get("status", "available")
    if status not in WALLET_TABS:
        status = "available"
    today = Clock.now(current_settings().tz).today
    rows = coupons.member_coupons(db.session, member.id, status, today)
    tiers = _tier_names()
    cards = [{"c": c, "code": pretty(c.code), "title": words.title(c.template), "worth": words.worth(c.template),
              "description": words.description(c.template), "rules": words.rules(c.template, tiers),
              "status": coupons.coupon_status(c, today)} for c in rows]
    return render_template("h5/coupons.html", member=member, cards=cards, status=status, tabs=WALLET_TABS,
                           status_text=words.STATUS_TEXT)


@bp.route("/coupons/<code>/qr.png")
@customer_page()
def coupon_qr(member: Member, code: str):
    """The coupon's QR for the till's scanner: the code itself, only for its owner."""
    coupon = db.session.scalar(select(Coupon).where(Coupon.code == code))
    if coupon is None or coupon.member_id != member.id:
        abort(404)
    image = qrcode.make(coupon.code, box_size=8, border=2)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return Response(out.getvalue(), mimetype="image/png", headers={"Cache-Control": "private, max-age=300"})


CATALOGUE_SECTIONS = (("gift", N_("Gifts")), ("cash", N_("Cash vouchers")), ("other", N_("Coupons")))
REFUSAL_TEXT = {"no_stock": N_("All gone"), "limit_reached": N_("Exchange limit reached"),
                "not_enough_points": N_("Not enough points")}
# An exchange refused, told to the member (the staff's wording names template codes)
EXCHANGE_REFUSALS = {
    "coupon_out_of_stock": N_("Sorry, %(t)s is all gone."),
    "coupon_limit_reached": N_("You have had as many of %(t)s as one member may."),
    "insufficient_points": N_("You do not have enough points for %(t)s."),
    "coupon_template_inactive": N_("%(t)s can no longer be exchanged."),
    "coupon_template_ended": N_("%(t)s can no longer be exchanged."),
    "coupon_not_exchangeable": N_("%(t)s can no longer be exchanged."),
}


def _exchange_refusal(exc: DomainError, template_code: str) -> str:
    tpl = db.session.scalar(select(CouponTemplate).where(CouponTemplate.code == template_code))
    if exc.code in EXCHANGE_REFUSALS and tpl is not None:
        return _(EXCHANGE_REFUSALS[exc.code], t=words.title(tpl))
    return problem_text(exc)


@bp.route("/coupons/exchange", methods=["GET", "POST"])
@customer_page()
def coupon_exchange(member: Member):
    """The points catalogue: gifts (collected in a store), cash vouchers and other coupons
    that points buy, each with its price, the stock left and how many one member may have.
    One tap, one coupon in the wallet (the form's key makes a repeat harmless)."""
    settings = current_settings()
    clock = Clock.now(settings.tz)
    if request.method == "POST":
        try:
            coupon = coupons.exchange_points(db.session, settings, member, template_code=request.form.get("template", ""),
                                             key=(request.form.get("key") or "")[:64], clock=clock)
            db.session.commit()
            if coupon.template.type == "gift":
                flash(_("Exchanged: %(t)s is in your wallet. Show its code in a store to collect the gift.",
                        t=words.title(coupon.template)), "success")
            else:
                flash(_("Exchanged: %(t)s is in your wallet.", t=words.title(coupon.template)), "success")
            return redirect(url_for("h5.coupon_wallet"))
        except DomainError as exc:
            db.session.rollback()
            flash(_exchange_refusal(exc, request.form.get("template", "")), "danger")
    available = ledger.points_summary(db.session, member.id, clock.today).available
    sections: dict[str, list] = {key: [] for key, _label in CATALOGUE_SECTIONS}
    for item in coupons.catalogue(db.session, member.id, available):
        t = item.template
        sections["gift" if t.type == "gift" else "cash" if t.type == "cash" else "other"].append({
            "t": t, "title": words.title(t), "worth": words.worth(t), "description": words.description(t),
            "left": item.left, "mine": item.mine, "refusal": item.refusal,
            "refusal_text": _(REFUSAL_TEXT[item.refusal]) if item.refusal else ""})
    return render_template("h5/coupon_exchange.html", member=member, available=available, key=str(uuid.uuid4()),
                           sections=[(key, _(label), sections[key]) for key, label in CATALOGUE_SECTIONS
                                     if sections[key]],
                           point_value_fen=settings.point_value_fen)
