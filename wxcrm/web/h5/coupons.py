"""The member's coupon wallet in H5: available, used and expired coupons, each with its QR
and its rules in plain words; points for coupons."""
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
from wxcrm.errors import DomainError
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


@bp.route("/coupons/exchange", methods=["GET", "POST"])
@customer_page()
def coupon_exchange(member: Member):
    """Coupons that points can buy; one tap, one coupon (the form's key makes a repeat harmless)."""
    settings = current_settings()
    clock = Clock.now(settings.tz)
    if request.method == "POST":
        try:
            coupon = coupons.exchange_points(db.session, settings, member, template_code=request.form.get("template", ""),
                                             key=(request.form.get("key") or "")[:64], clock=clock)
            db.session.commit()
            flash(_("Exchanged: %(t)s is in your wallet.", t=words.title(coupon.template)), "success")
            return redirect(url_for("h5.coupon_wallet"))
        except DomainError as exc:
            db.session.rollback()
            flash(problem_text(exc), "danger")
    offers = list(db.session.scalars(select(CouponTemplate).where(CouponTemplate.active.is_(True),
                                                                   CouponTemplate.points_price.is_not(None))
                                     .order_by(CouponTemplate.points_price)))
    available = ledger.points_summary(db.session, member.id, clock.today).available
    return render_template("h5/coupon_exchange.html", member=member, available=available, key=str(uuid.uuid4()),
                           offers=[{"t": t, "title": words.title(t), "worth": words.worth(t),
                                    "left": None if t.stock_total is None else max(t.stock_total - t.issued_count, 0)}
                                   for t in offers])
