"""Stored value for finance (admins): the outstanding liability as at a date, the
settlement between owners per month with drill-down and exports, and the franchisees who
own the franchise stores."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from wxcrm.config import current_settings
from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.members.models import Franchisee, Member, Store, Tier
from wxcrm.money import yuan_str_to_fen
from wxcrm.sales.models import Transaction
from wxcrm.timeutil import Clock, business_date
from wxcrm.topups import membership, settlement
from wxcrm.topups import service as topups
from wxcrm.topups.models import SettlementPeriod
from wxcrm.web.auth import role_required
from wxcrm.web.labels import problem_text

bp = Blueprint("console_stored_value", __name__)


def _period_arg(today: date) -> str:
    raw = (request.args.get("period") or "").strip()
    if len(raw) == 7 and raw[4] == "-" and raw.replace("-", "").isdigit():
        return raw
    return today.isoformat()[:7]


def _date_arg(today: date) -> date:
    try:
        return date.fromisoformat(request.args.get("as_of") or "")
    except ValueError:
        return today


@bp.route("/")
@role_required("admin")
def overview():
    settings = current_settings()
    today = business_date(settings.tz)
    period = _period_arg(today)
    as_of = _date_arg(today)
    try:
        lines = settlement.settlement_lines(db.session, period, settings)
    except DomainError as exc:
        flash(problem_text(exc), "danger")
        lines = []
    closed = db.session.scalar(select(SettlementPeriod).where(SettlementPeriod.period == period))
    liability = settlement.liability(db.session, as_of, settings)
    owners = list(db.session.scalars(select(Franchisee).order_by(Franchisee.code)))
    franchise_stores = list(db.session.scalars(select(Store).where(Store.kind == "franchise").order_by(Store.code)))
    tiers = list(db.session.scalars(select(Tier).order_by(Tier.rank)))
    closures = topups.closure_refunds(db.session)
    cards = {i: no for i, no in db.session.execute(select(Member.id, Member.card_no).where(
        Member.id.in_([c.member_id for c in closures])))} if closures else {}
    return render_template("console/stored_value.html", period=period, lines=lines,
                           totals=settlement.owner_totals(lines), closed=closed, as_of=as_of, liability=liability,
                           owners=owners, franchise_stores=franchise_stores, tiers=tiers, closures=closures,
                           cards=cards,
                           liability_total={k: sum(r[k] for r in liability) for k in ("principal_fen", "bonus_fen")})


@bp.route("/export.<fmt>")
@role_required("admin")
def export(fmt: str):
    settings = current_settings()
    period = _period_arg(business_date(settings.tz))
    lines = settlement.settlement_lines(db.session, period, settings)
    if fmt == "csv":
        return Response("\ufeff" + settlement.export_csv(lines), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename=settlement-{period}.csv"})
    if fmt == "xlsx":
        return Response(settlement.export_xlsx(lines, period),
                        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f"attachment; filename=settlement-{period}.xlsx"})
    return Response(status=404)


@bp.route("/close", methods=["POST"])
@role_required("admin")
def close():
    settings = current_settings()
    period = request.form.get("period", "")
    try:
        settlement.close_period(db.session, period, settings, now=Clock.now(settings.tz).utc, staff_id=current_user.id)
        db.session.commit()
        flash(_("Period %(p)s is closed.", p=period), "success")
    except DomainError as exc:
        db.session.rollback()
        flash(problem_text(exc), "danger")
    return redirect(url_for("console_stored_value.overview", period=period))


@bp.route("/franchisees", methods=["POST"])
@role_required("admin")
def add_franchisee():
    try:
        stores = tuple(request.form.getlist("stores"))
        settlement.create_franchisee(db.session, code=request.form.get("code", ""), name=request.form.get("name", ""),
                                     store_codes=stores)
        db.session.commit()
        flash(_("Franchisee saved."), "success")
    except DomainError as exc:
        db.session.rollback()
        flash(problem_text(exc), "danger")
    return redirect(url_for("console_stored_value.overview"))


@bp.route("/tiers/<int:tier_id>", methods=["POST"])
@role_required("admin")
def tier_price(tier_id: int):
    """Paid membership: a tier's price (empty: not for sale) and term."""
    tier = db.session.get(Tier, tier_id)
    if tier is None:
        return Response(status=404)
    raw = (request.form.get("price") or "").strip()
    try:
        price = yuan_str_to_fen(raw) if raw else None
        term = int(request.form.get("term_months") or "12")
    except ValueError:
        flash(_("Enter the price in yuan and the term in whole months."), "danger")
        return redirect(url_for("console_stored_value.overview", _anchor="membership"))
    try:
        membership.set_tier_price(db.session, tier, price_fen=price, term_months=term)
        db.session.commit()
        flash(_("Paid membership saved."), "success")
    except DomainError as exc:
        db.session.rollback()
        flash(problem_text(exc), "danger")
    return redirect(url_for("console_stored_value.overview", _anchor="membership"))


@bp.route("/closures/<int:closure_id>/paid", methods=["POST"])
@role_required("admin")
def closure_paid(closure_id: int):
    """Finance paid a closed membership's stored value (the part paid in at a counter) out."""
    settings = current_settings()
    try:
        topups.mark_closure_refund_paid(db.session, closure_id, staff=current_user, clock=Clock.now(settings.tz))
        db.session.commit()
        flash(_("The refund is marked as paid."), "success")
    except DomainError as exc:
        db.session.rollback()
        flash(problem_text(exc), "danger")
    return redirect(url_for("console_stored_value.overview", _anchor="closures"))


@bp.route("/transactions")
@role_required("admin")
def drill_down():
    """The transactions behind one line."""
    ids = [int(x) for x in request.args.get("ids", "").split(",") if x.strip().isdigit()][:500]
    txns = list(db.session.scalars(select(Transaction).where(Transaction.id.in_(ids)).order_by(Transaction.id))) \
        if ids else []
    stores = {s.id: s for s in db.session.scalars(select(Store))}
    return render_template("console/stored_value_transactions.html", txns=txns, stores=stores)
