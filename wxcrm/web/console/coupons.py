"""The console's coupons: design templates, issue one by hand with a reason, and the report
(issued, redeemed, expired per template, channel and store; CSV)."""
from __future__ import annotations

import csv
import io
import uuid
from datetime import date

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import case, func, select

from wxcrm.config import current_settings
from wxcrm.coupons import service as coupons
from wxcrm.coupons import words
from wxcrm.coupons.codes import pretty
from wxcrm.coupons.models import TYPES, Coupon, CouponTemplate
from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.members import service as members
from wxcrm.members.models import STORE_KINDS, Store, Tier
from wxcrm.money import yuan_str_to_fen
from wxcrm.timeutil import Clock
from wxcrm.web.auth import role_required
from wxcrm.web.labels import problem_text

bp = Blueprint("console_coupons", __name__)

LABELS = {
    "code": _l("Code"), "type": _l("Type"), "title_zh": _l("Title (Chinese)"), "title_en": _l("Title (English)"),
    "description_zh": _l("Description (Chinese)"), "description_en": _l("Description (English)"),
    "color": _l("Colour"), "face_value": _l("Face value (yuan)"), "percent_off": _l("Percent off"),
    "cap": _l("At most off (yuan)"), "item_sku": _l("Item (SKU)"), "min_spend": _l("Minimum spend (yuan)"),
    "valid_from": _l("Valid from"), "valid_until": _l("Valid until"), "valid_days": _l("Valid days after issue"),
    "start_delay_days": _l("Starts days after issue"), "stores": _l("Only in stores"),
    "store_kinds": _l("Only in store kinds"), "skus_in": _l("Only on SKUs"), "skus_out": _l("Not on SKUs"),
    "categories_in": _l("Only on categories"), "categories_out": _l("Not on categories"),
    "tiers": _l("Only for tiers"), "weekdays": _l("Only on days"), "hours": _l("Only between hours"),
    "combinable": _l("Combinable with other coupons"), "with_points": _l("Usable when paying by points"),
    "stock_total": _l("Total stock"), "per_member_limit": _l("Per member at most"),
    "points_price": _l("Price in points (H5 exchange)"), "active": _l("Active"),
}
HELP = {
    "face_value": _l("Cash and spend-and-save: the amount off. Gift: what the gift is worth."),
    "min_spend": _l("Spend-and-save: the spend that earns the amount off."),
    "valid_days": _l("Give an end date or a number of days (or both: the earlier ends it)."),
    "stock_total": _l("Empty: no limit."), "skus_in": _l("Separate with commas."),
}
FIELD_FOR = {"face_value_fen": "face_value", "cap_fen": "cap", "min_spend_fen": "min_spend"}


def _yuan(raw: str, name: str, errors: dict) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        fen = yuan_str_to_fen(raw)
        if fen < 0:
            raise ValueError
        return fen
    except ValueError:
        errors[name] = _("An amount in yuan, such as 20 or 9.90.")
        return None


def _int(raw: str, name: str, errors: dict, low: int = 0, high: int = 10**9) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        n = int(raw)
        if not low <= n <= high:
            raise ValueError
        return n
    except ValueError:
        errors[name] = _("A whole number from %(a)d to %(b)d.", a=low, b=high)
        return None


def _date(raw: str, name: str, errors: dict) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = _("A date, such as 2026-12-31.")
        return None


def _words(raw: str) -> list[str]:
    return [w.strip() for w in (raw or "").replace("，", ",").split(",") if w.strip()]


def template_from_form(form) -> tuple[dict, dict]:
    errors: dict[str, str] = {}
    data = {
        "type": form.get("type") if form.get("type") in TYPES else "cash",
        "title_zh": (form.get("title_zh") or "").strip()[:60], "title_en": (form.get("title_en") or "").strip()[:60],
        "description_zh": (form.get("description_zh") or "").strip()[:255],
        "description_en": (form.get("description_en") or "").strip()[:255],
        "color": form.get("color") if len(form.get("color") or "") == 7 else "#07c160",
        "face_value_fen": _yuan(form.get("face_value"), "face_value", errors) or 0,
        "percent_off": _int(form.get("percent_off"), "percent_off", errors, 0, 99) or 0,
        "cap_fen": _yuan(form.get("cap"), "cap", errors),
        "item_sku": (form.get("item_sku") or "").strip()[:64],
        "min_spend_fen": _yuan(form.get("min_spend"), "min_spend", errors) or 0,
        "valid_from": _date(form.get("valid_from"), "valid_from", errors),
        "valid_until": _date(form.get("valid_until"), "valid_until", errors),
        "valid_days": _int(form.get("valid_days"), "valid_days", errors, 1, 3650),
        "start_delay_days": _int(form.get("start_delay_days"), "start_delay_days", errors, 0, 365) or 0,
        "combinable": form.get("combinable") == "y", "with_points": form.get("with_points") == "y",
        "stock_total": _int(form.get("stock_total"), "stock_total", errors),
        "per_member_limit": _int(form.get("per_member_limit"), "per_member_limit", errors, 1, 10**6),
        "points_price": _int(form.get("points_price"), "points_price", errors, 1),
        "active": form.get("active") == "y",
    }
    if not data["title_zh"]:
        errors["title_zh"] = _("Required.")
    hours = [_int(form.get("hour_from"), "hours", errors, 0, 24), _int(form.get("hour_to"), "hours", errors, 0, 24)]
    data["restrictions"] = {
        "stores": form.getlist("stores"), "store_kinds": form.getlist("store_kinds"),
        "skus_in": _words(form.get("skus_in")), "skus_out": _words(form.get("skus_out")),
        "categories_in": _words(form.get("categories_in")), "categories_out": _words(form.get("categories_out")),
        "tiers": form.getlist("tiers"), "weekdays": [int(d) for d in form.getlist("weekdays") if d.isdigit()],
        "hours": hours if None not in hours else None,
    }
    return data, errors


def _choices() -> dict:
    return {"types": [(t, _(words.TYPE_TEXT[t])) for t in TYPES],
            "stores": list(db.session.scalars(select(Store).where(Store.active.is_(True)).order_by(Store.code))),
            "store_kinds": [(k, _("directly run stores") if k == "direct" else _("franchise stores"))
                            for k in STORE_KINDS],
            "tiers": list(db.session.scalars(select(Tier).order_by(Tier.rank))),
            "weekdays": [(i + 1, _(d)) for i, d in enumerate(words.WEEKDAYS)]}


@bp.route("/")
@role_required("admin", "marketer")
def template_list():
    """Every coupon template; ``?catalogue=1``: the points catalogue (templates with a points
    price: gifts, cash vouchers, coupons), with what was exchanged and handed over."""
    catalogue = request.args.get("catalogue") == "1"
    stmt = select(CouponTemplate).order_by(CouponTemplate.id.desc())
    if catalogue:
        stmt = stmt.where(CouponTemplate.points_price.is_not(None))
    rows = list(db.session.scalars(stmt))
    used = dict(db.session.execute(select(Coupon.template_id, func.count(Coupon.id))
                                   .where(Coupon.status == "used").group_by(Coupon.template_id)).all())
    exchanged = dict(db.session.execute(select(Coupon.template_id, func.count(Coupon.id))
                                        .where(Coupon.channel == "exchange").group_by(Coupon.template_id)).all())
    return render_template("console/coupons/list.html", rows=rows, words=words, catalogue=catalogue, used=used,
                           exchanged=exchanged)


@bp.route("/new", methods=["GET", "POST"])
@bp.route("/<code>/edit", methods=["GET", "POST"])
@role_required("admin", "marketer")
def template_form(code: str | None = None):
    tpl = coupons.template_by_code(db.session, code) if code else None
    errors: dict[str, str] = {}
    if request.method == "POST":
        data, errors = template_from_form(request.form)
        if tpl is None:
            data["code"] = (request.form.get("code") or "").strip()
            if not data["code"] or not data["code"].replace("-", "").replace("_", "").isalnum() or len(data["code"]) > 32:
                errors["code"] = _("2 to 32 letters, digits, - or _.")
        if not errors:
            try:
                saved = coupons.save_template(db.session, data, template=tpl)
                db.session.commit()
                flash(_("Coupon %(t)s saved.", t=saved.title_zh), "success")
                return redirect(url_for("console_coupons.template_page", code=saved.code))
            except DomainError as exc:
                db.session.rollback()
                message = problem_text(exc)
                for name in exc.fields or {"form": ""}:
                    key = FIELD_FOR.get(name, name.split(".")[-1])
                    errors[key] = message
    return render_template("console/coupons/form.html", tpl=tpl, f=request.form if request.method == "POST" else None,
                           errors=errors, labels=LABELS, help=HELP, **_choices()), 422 if errors else 200


@bp.route("/<code>", methods=["GET", "POST"])
@role_required("admin", "marketer")
def template_page(code: str):
    """One template: its terms in plain words, its figures, and issuing one by hand."""
    tpl = coupons.template_by_code(db.session, code)
    settings = current_settings()
    if request.method == "POST":
        card_no = (request.form.get("card_no") or "").strip()
        reason = (request.form.get("reason") or "").strip()
        member = members.find_member(db.session, card_no=card_no) if card_no else None
        if member is None:
            flash(_("No member with card %(c)s.", c=card_no), "danger")
        elif len(reason) < 2:
            flash(_("Say why this coupon is given (kept with the coupon)."), "danger")
        else:
            try:
                coupons.issue_coupon(db.session, settings, template_code=tpl.code, member=member, channel="manual",
                                     source_ref=f"manual:console:{(request.form.get('key') or uuid.uuid4().hex)[:64]}",
                                     clock=Clock.now(settings.tz), reason=reason, staff_id=current_user.id)
                db.session.commit()
                flash(_("Issued to %(c)s.", c=member.card_no), "success")
                return redirect(url_for("console_coupons.template_page", code=tpl.code))
            except DomainError as exc:
                db.session.rollback()
                flash(problem_text(exc), "danger")
    tiers = {t.code: t.name for t in db.session.scalars(select(Tier))}
    return render_template("console/coupons/page.html", tpl=tpl, words=words, rules=words.rules(tpl, tiers),
                           key=uuid.uuid4().hex)


def wallet_for_console(session, member_id: int, today: date) -> list[dict]:
    """A member's coupons for their console page: usable ones first, then the used and expired."""
    rows = []
    for status in ("available", "used", "expired"):
        for c in coupons.member_coupons(session, member_id, status, today, limit=50):
            rows.append({"c": c, "code": pretty(c.code), "title": words.title(c.template), "worth": words.worth(c.template),
                         "status": status, "status_text": _(words.STATUS_TEXT[status]),
                         "channel": _(words.CHANNEL_TEXT.get(c.channel, c.channel))})
    return rows


def report_rows(today: date) -> list[dict]:
    """Per template, channel and store of use: issued, redeemed, expired, the discount given
    and the spend of the baskets that used them."""
    expired = case((Coupon.status == "available", case((Coupon.valid_until < today, 1), else_=0)), else_=0)
    used = case((Coupon.status == "used", 1), else_=0)
    q = (select(CouponTemplate.code, CouponTemplate.title_zh, CouponTemplate.title_en, Coupon.channel,
                Store.code, func.count(Coupon.id), func.sum(used), func.sum(expired),
                func.sum(case((Coupon.status == "used", Coupon.discount_fen), else_=0)),
                func.sum(case((Coupon.status == "used", Coupon.basket_fen), else_=0)))
         .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
         .outerjoin(Store, Store.id == Coupon.used_store_id)
         .group_by(CouponTemplate.code, CouponTemplate.title_zh, CouponTemplate.title_en, Coupon.channel, Store.code)
         .order_by(CouponTemplate.code, Coupon.channel, Store.code))
    return [{"template": t, "title": zh if words.is_zh() or not en else en, "channel": ch, "store": st or "",
             "issued": int(n), "redeemed": int(u or 0), "expired": int(x or 0), "discount_fen": int(d or 0),
             "basket_fen": int(b or 0)} for t, zh, en, ch, st, n, u, x, d, b in db.session.execute(q)]


@bp.route("/report")
@role_required("admin", "marketer")
def report():
    today = Clock.now(current_settings().tz).today
    rows = report_rows(today)
    if request.args.get("format") == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([_("Template"), _("Title"), _("Channel"), _("Store"), _("Issued"), _("Redeemed"),
                         _("Expired"), _("Discount (yuan)"), _("Basket spend (yuan)")])
        for r in rows:
            writer.writerow([r["template"], r["title"], _(words.CHANNEL_TEXT.get(r["channel"], r["channel"])),
                             r["store"], r["issued"], r["redeemed"], r["expired"],
                             f"{r['discount_fen'] / 100:.2f}", f"{r['basket_fen'] / 100:.2f}"])
        return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename=coupons-{today.isoformat()}.csv"})
    totals = {k: sum(r[k] for r in rows) for k in ("issued", "redeemed", "expired", "discount_fen", "basket_fen")}
    return render_template("console/coupons/report.html", rows=rows, totals=totals, words=words)


