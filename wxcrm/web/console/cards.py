"""The console's card pages: each store's WeChat QR code and its printable poster, the
store's card setting (may a typed card number spend), and a member's card (lost, found,
replaced)."""
from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from wxcrm import timeutil
from wxcrm.cards import groups, presence, store_qr
from wxcrm.cards import service as cards
from wxcrm.config import current_settings
from wxcrm.errors import N_, DomainError
from wxcrm.extensions import db
from wxcrm.members import service as members
from wxcrm.members.models import GroupAccount, Member, Store
from wxcrm.timeutil import business_date
from wxcrm.web.auth import role_required
from wxcrm.web.labels import problem_text
from wxcrm.wechat.adapter.client import wechat_client

bp = Blueprint("console_cards", __name__)


@bp.route("/stores/<int:store_id>", methods=["GET", "POST"])
@role_required("admin", "marketer")
def store_card(store_id: int):
    """The store's QR code poster (made through WeChat on request) and its card setting."""
    store = db.get_or_404(Store, store_id)
    settings = current_settings()
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "create_qr":
                store_qr.create_store_qr(db.session, wechat_client(settings, db.engine), store,
                                         now=timeutil.utcnow())
                flash(_("The store's WeChat QR code is ready."), "success")
            elif action == "typed_card" and current_user.role == "admin":
                presence.set_typed_card_spends(db.session, store, request.form.get("allowed") == "yes")
                flash(_("Saved."), "success")
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            flash(problem_text(exc), "danger")
        return redirect(url_for("console_cards.store_card", store_id=store.id))
    qr = store_qr.store_qr(db.session, store)
    poster = store_qr.poster_svg(settings.brand_name, store, qr.qr_url) if qr else None
    return render_template("console/store_card.html", store=store, qr=qr, poster=poster,
                           typed_card_spends=presence.typed_card_spends(db.session, store))


@bp.route("/stores/<int:store_id>/poster.<kind>")
@role_required("admin", "marketer")
def store_poster(store_id: int, kind: str):
    store = db.get_or_404(Store, store_id)
    qr = store_qr.store_qr(db.session, store)
    if qr is None or kind not in ("png", "svg"):
        return redirect(url_for("console_cards.store_card", store_id=store.id))
    brand = current_settings().brand_name
    name = f"poster-{store.code}.{kind}"
    if kind == "png":
        return Response(store_qr.poster_png(brand, store, qr.qr_url), mimetype="image/png",
                        headers={"Content-Disposition": f"inline; filename={name}"})
    return Response(store_qr.poster_svg(brand, store, qr.qr_url), mimetype="image/svg+xml",
                    headers={"Content-Disposition": f"inline; filename={name}"})


@bp.route("/members/<int:member_id>/card", methods=["POST"])
@role_required("admin")
def member_card(member_id: int):
    """An admin reports a member's card lost, found again, or replaces it (with a reason)."""
    member = db.get_or_404(Member, member_id)
    reason = (request.form.get("reason") or "").strip()
    action = request.form.get("action")
    now = timeutil.utcnow()
    if not reason:
        flash(_("Say why."), "warning")
        return redirect(url_for("console.member_detail", member_id=member.id))
    try:
        if action == "lost":
            cards.report_lost(db.session, member, at=now, source="staff", staff_id=current_user.id, reason=reason)
        elif action == "found":
            cards.report_found(db.session, member, at=now, staff_id=current_user.id, reason=reason)
        elif action == "replace":
            cards.replace_card(db.session, current_settings(), member, at=now, source="staff",
                               staff_id=current_user.id, reason=reason)
        db.session.commit()
        flash(_("Saved."), "success")
    except DomainError as exc:
        db.session.rollback()
        flash(problem_text(exc), "danger")
    return redirect(url_for("console.member_detail", member_id=member.id))


@bp.route("/groups/<int:group_id>", methods=["GET", "POST"])
@role_required("admin", "marketer")
def group_detail(group_id: int):
    """A group account's cards, their 12-month spend and points; admins attach and detach cards."""
    group = db.get_or_404(GroupAccount, group_id)
    if request.method == "POST" and current_user.role == "admin":
        reason = (request.form.get("reason") or "").strip()
        try:
            if not reason:
                raise DomainError(N_("Say why."), code="reason_required")
            now = timeutil.utcnow()
            if request.form.get("action") == "attach":
                member = members.find_member(db.session, card_no=(request.form.get("card_no") or "").strip())
                if member is None:
                    raise DomainError(N_("no member with that card"), code="member_not_found")
                groups.attach_card(db.session, group, member, staff_id=current_user.id, reason=reason, at=now)
            else:
                member = db.get_or_404(Member, int(request.form.get("member_id") or 0))
                groups.detach_card(db.session, group, member, staff_id=current_user.id, reason=reason, at=now)
            db.session.commit()
            flash(_("Saved."), "success")
        except DomainError as exc:
            db.session.rollback()
            flash(problem_text(exc), "danger")
        return redirect(url_for("console_cards.group_detail", group_id=group.id))
    rows = groups.group_cards(db.session, group, business_date(current_settings().tz))
    return render_template("console/group_detail.html", group=group, rows=rows,
                           total_points=sum(r.points for r in rows), total_spend=sum(r.spend_12m_fen for r in rows))
