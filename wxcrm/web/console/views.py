"""The console: home, stores, staff, members (admins and marketers)."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy import case, func, or_, select
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from wxcrm.analytics.groups import group_figures
from wxcrm.cards import service as cards
from wxcrm.config import current_settings
from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.ledger.models import LedgerAccount
from wxcrm.members import service as members
from wxcrm.members.models import ROLES, STORE_KINDS, Member, Staff, Store
from wxcrm.sales.models import Transaction
from wxcrm.sales.queries import signed_payable
from wxcrm.timeutil import business_date, utcnow
from wxcrm.web.auth import role_required
from wxcrm.web.console.coupons import wallet_for_console
from wxcrm.web.labels import problem_text
from wxcrm.web.paging import page_arg

bp = Blueprint("console", __name__)


class StoreForm(FlaskForm):
    code = StringField("code", validators=[DataRequired(), Length(2, 32)])
    name = StringField("name", validators=[DataRequired(), Length(1, 120)])
    kind = SelectField("kind", choices=[(k, k) for k in STORE_KINDS])
    city = StringField("city", validators=[Optional(), Length(max=64)])
    address = StringField("address", validators=[Optional(), Length(max=255)])


class StaffForm(FlaskForm):
    username = StringField("username", validators=[DataRequired(), Length(2, 64)])
    display_name = StringField("display_name", validators=[Optional(), Length(max=120)])
    role = SelectField("role", choices=[(r, r) for r in ROLES])
    store = SelectField("store", choices=[], validate_choice=False)
    password = PasswordField("password", validators=[DataRequired(), Length(min=8)])


def _apply_domain_error(form: FlaskForm, exc: DomainError) -> None:
    """Show a service's refusal beside the field it names, in the page's language."""
    message = problem_text(exc)
    placed = False
    for field_name in exc.fields:
        field = getattr(form, field_name, None)
        if field is not None:
            field.errors = list(field.errors) + [message]
            placed = True
    if not placed:
        flash(message, "danger")


@bp.route("/")
@role_required("admin", "marketer")
def home():
    today = business_date(current_settings().tz)
    since = today - timedelta(days=29)
    s = db.session
    figures = {
        "members": s.scalar(select(func.count(Member.id))),
        "members_30d": s.scalar(select(func.count(Member.id)).where(Member.joined_on >= since)),
        "stores": s.scalar(select(func.count(Store.id))),
        # Net of refunds, like every spend figure (sales.queries.signed_payable).
        "sales_today": s.scalar(select(func.coalesce(func.sum(signed_payable()), 0)).where(
            Transaction.business_date == today)),
        "refunds_today": s.scalar(select(func.coalesce(func.sum(Transaction.payable_fen), 0)).where(
            Transaction.kind == "refund", Transaction.business_date == today)),
        "txns_today": s.scalar(select(func.count(Transaction.id)).where(
            Transaction.kind == "purchase", Transaction.business_date == today)),
        "sales_30d": s.scalar(select(func.coalesce(func.sum(signed_payable()), 0)).where(
            Transaction.business_date >= since)),
        "points_outstanding": s.scalar(select(func.coalesce(func.sum(LedgerAccount.balance), 0)).where(
            LedgerAccount.kind == "points")),
        "stored_value": s.scalar(select(func.coalesce(func.sum(LedgerAccount.balance), 0)).where(
            LedgerAccount.kind == "stored_value")),
    }
    daily = s.execute(select(Transaction.business_date, func.sum(signed_payable()),
                             func.sum(case((Transaction.kind == "purchase", 1), else_=0)))
                      .where(Transaction.business_date >= today - timedelta(days=13))
                      .group_by(Transaction.business_date).order_by(Transaction.business_date)).all()
    peak = max((int(row[1] or 0) for row in daily), default=0)
    net = func.coalesce(func.sum(signed_payable()), 0)
    by_store = s.execute(select(Store.code, Store.name, Store.kind, net,
                                func.coalesce(func.sum(case((Transaction.kind == "purchase", 1), else_=0)), 0))
                         .join(Transaction, (Transaction.store_id == Store.id)
                               & (Transaction.business_date >= since), isouter=True)
                         .group_by(Store.id, Store.code, Store.name, Store.kind)
                         .order_by(net.desc()).limit(10)).all()
    recent = list(s.scalars(select(Transaction).order_by(Transaction.id.desc()).limit(8)))
    return render_template("console/home.html", figures=figures, daily=daily, peak=peak, by_store=by_store,
                           recent=recent, today=today)


@bp.route("/stores", methods=["GET", "POST"])
@role_required("admin")
def stores():
    form = StoreForm()
    if form.validate_on_submit():
        try:
            store = members.create_store(db.session, code=form.code.data, name=form.name.data, kind=form.kind.data,
                                         city=form.city.data or "", address=form.address.data or "")
            db.session.commit()
            flash(_("Store %(code)s created.", code=store.code), "success")
            return redirect(url_for("console.stores"))
        except DomainError as exc:
            db.session.rollback()
            _apply_domain_error(form, exc)
    rows = list(db.session.scalars(select(Store).order_by(Store.code)))
    return render_template("console/stores.html", form=form, stores=rows)


@bp.route("/stores/<int:store_id>/toggle", methods=["POST"])
@role_required("admin")
def toggle_store(store_id: int):
    store = db.get_or_404(Store, store_id)
    store.active = not store.active
    db.session.commit()
    flash(_("Store %(code)s is now %(state)s.", code=store.code, state=_("open") if store.active else _("closed")), "info")
    return redirect(url_for("console.stores"))


@bp.route("/staff", methods=["GET", "POST"])
@role_required("admin")
def staff():
    form = StaffForm()
    form.store.choices = [("", "—")] + [(s.code, f"{s.code} {s.name}") for s in
                                         db.session.scalars(select(Store).order_by(Store.code))]
    if form.validate_on_submit():
        try:
            person = members.create_staff(db.session, username=form.username.data, password=form.password.data,
                                          role=form.role.data, store_code=form.store.data or None,
                                          display_name=form.display_name.data or "")
            db.session.commit()
            flash(_("Staff %(name)s created.", name=person.username), "success")
            return redirect(url_for("console.staff"))
        except DomainError as exc:
            db.session.rollback()
            _apply_domain_error(form, exc)
    rows = list(db.session.scalars(select(Staff).order_by(Staff.role, Staff.username)))
    return render_template("console/staff.html", form=form, staff=rows, now=utcnow())


@bp.route("/staff/<int:staff_id>/toggle", methods=["POST"])
@role_required("admin")
def toggle_staff(staff_id: int):
    person = db.get_or_404(Staff, staff_id)
    from flask_login import current_user
    if person.id == current_user.id:
        flash(_("You cannot disable yourself."), "danger")
    else:
        person.active = not person.active
        if not person.active:
            members.end_sessions(db.session, person)  # a disabled login is signed out everywhere
        db.session.commit()
    return redirect(url_for("console.staff"))


@bp.route("/staff/<int:staff_id>/unlock", methods=["POST"])
@role_required("admin")
def unlock_staff(staff_id: int):
    person = db.get_or_404(Staff, staff_id)
    members.unlock_staff(db.session, person)
    db.session.commit()
    flash(_("%(name)s may sign in again.", name=person.username), "success")
    return redirect(url_for("console.staff"))


@bp.route("/members")
@role_required("admin", "marketer")
def member_list():
    q = (request.args.get("q") or "").strip()
    page = page_arg()
    stmt = select(Member)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(Member.card_no == q, Member.phone.like(like), Member.name.like(like)))
    rows = list(db.session.scalars(stmt.order_by(Member.id.desc()).offset((page - 1) * 50).limit(51)))
    balances = dict(db.session.execute(select(LedgerAccount.member_id, LedgerAccount.balance).where(
        LedgerAccount.kind == "points", LedgerAccount.member_id.in_([m.id for m in rows]))).all())
    return render_template("console/members.html", members=rows[:50], has_next=len(rows) > 50, page=page, q=q,
                           balances=balances)


@bp.route("/members/<int:member_id>")
@role_required("admin", "marketer")
def member_detail(member_id: int):
    member = db.get_or_404(Member, member_id)
    today = business_date(current_settings().tz)
    summary = ledger.points_summary(db.session, member.id, today)
    stored = ledger.balance(db.session, member.id, "stored_value")
    entries = ledger.entries_page(db.session, member.id, "points", limit=30)
    txns = list(db.session.scalars(select(Transaction).where(Transaction.member_id == member.id)
                                   .order_by(Transaction.id.desc()).limit(20)))
    history = members.member_history(db.session, member.id, limit=50)
    tiers = {t.code: t for t in members.tiers_by_rank(db.session)}
    return render_template("console/member.html", member=member, summary=summary, stored=stored, entries=entries,
                           txns=txns, history=history, tiers=tiers, card_frozen=cards.is_frozen(db.session, member),
                           coupons=wallet_for_console(db.session, member.id, today))


class GroupForm(FlaskForm):
    code = StringField("code", validators=[DataRequired(), Length(2, 32)])
    name = StringField("name", validators=[DataRequired(), Length(1, 120)])
    contact_name = StringField("contact_name", validators=[Optional(), Length(max=64)])
    contact_phone = StringField("contact_phone", validators=[Optional(), Length(max=20)])


@bp.route("/groups", methods=["GET", "POST"])
@role_required("admin", "marketer")
def groups():
    from flask_login import current_user

    form = GroupForm()
    if current_user.role == "admin" and form.validate_on_submit():
        try:
            members.create_group(db.session, code=form.code.data.strip().upper(), name=form.name.data.strip(),
                                 contact_name=form.contact_name.data or "", contact_phone=form.contact_phone.data or "")
            db.session.commit()
            flash(_("Group account %(code)s created.", code=form.code.data.strip().upper()), "success")
            return redirect(url_for("console.groups"))
        except DomainError as exc:
            db.session.rollback()
            _apply_domain_error(form, exc)
    return render_template("console/groups.html", form=form,
                           rows=group_figures(db.session, business_date(current_settings().tz)),
                           tiers=members.tier_counts(db.session))
