"""Customer pages inside WeChat (mobile-first). The member comes from a signed
session set by WeChat OAuth (see wxcrm.wechat.oauth); never from an id in the URL."""
from __future__ import annotations

import json
from datetime import date
from functools import wraps

from flask import Blueprint, Response, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from wxcrm.benefits.privacy import close_membership, member_data
from wxcrm.campaigns import consent
from wxcrm.config import current_settings
from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.members import service as members
from wxcrm.members.models import GENDERS, Member
from wxcrm.timeutil import Clock, business_date, utcnow
from wxcrm.web.labels import problem_text

bp = Blueprint("h5", __name__)


def session_member() -> Member | None:
    member_id = session.get("member_id")
    return db.session.get(Member, member_id) if member_id else None


def customer_page(scope: str = "snsapi_base", *, needs_consent: bool = True):
    """A page for the member behind this WeChat user. Unknown visitors go through WeChat
    OAuth first; a visitor who does not follow yet sees the welcome page. A page that
    needs the profile scope asks for snsapi_userinfo once. A member who has not agreed to
    the privacy notice now in force is asked to first (PIPL: consent before a profile)."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not session.get("openid") or (scope == "snsapi_userinfo"
                                              and session.get("oauth_scope") != "snsapi_userinfo"):
                return redirect(url_for("wechat_oauth.start", next=request.full_path.rstrip("?"), scope=scope))
            member = session_member()
            if member is None or member.openid != session.get("openid"):
                return render_template("h5/welcome.html")
            if needs_consent and member.privacy_version != current_settings().privacy_notice_version:
                return redirect(url_for("h5.privacy_consent", next=request.full_path.rstrip("?")))
            return view(member, *args, **kwargs)
        return wrapped
    return decorator


@bp.route("/")
@customer_page()
def card(member: Member):
    summary = ledger.points_summary(db.session, member.id, business_date(current_settings().tz))
    stored = ledger.balance(db.session, member.id, "stored_value")
    confirming = False
    if request.args.get("paid"):     # back from WeChat Pay: the notify may still be on its way
        from sqlalchemy import select

        from wxcrm.topups.models import Topup
        confirming = db.session.scalar(select(Topup.status).where(
            Topup.out_trade_no == request.args["paid"], Topup.member_id == member.id)) == "pending"
    return render_template("h5/card.html", member=member, summary=summary, stored=stored, confirming=confirming,
                           topup_on=current_settings().wechat_pay_enabled)


@bp.route("/points")
@customer_page()
def points(member: Member):
    entries = ledger.entries_page(db.session, member.id, "points", limit=50)
    summary = ledger.points_summary(db.session, member.id, business_date(current_settings().tz))
    return render_template("h5/points.html", member=member, entries=entries, summary=summary)


@bp.route("/profile", methods=["GET", "POST"])
@customer_page(scope="snsapi_userinfo")
def profile(member: Member):
    errors: dict[str, str] = {}
    if request.method == "POST":
        raw_birthday = (request.form.get("birthday") or "").strip()
        try:
            birthday = date.fromisoformat(raw_birthday) if raw_birthday else None
            members.update_own_profile(db.session, member, name=request.form.get("name", ""),
                                       gender=request.form.get("gender", "unknown"), birthday=birthday,
                                       today=business_date(current_settings().tz))
            db.session.commit()
            flash(_("Your profile is saved."), "success")
            return redirect(url_for("h5.card"))
        except ValueError:
            errors["birthday"] = _("Please enter a date.")
        except DomainError as exc:
            db.session.rollback()
            message = problem_text(exc)
            errors.update({name: message for name in exc.fields} or {"form": message})
    return render_template("h5/profile.html", member=member, genders=GENDERS, errors=errors,
                           form=request.form)


# ---------------------------------------------------------------- privacy (beside the profile page)

def _own_page(target: str | None) -> str:
    return target if target and target.startswith("/h5/") and "//" not in target and "\\" not in target \
        else url_for("h5.card")


@bp.route("/privacy/notice")
def privacy_notice():
    """The privacy notice, readable by anyone (before agreeing, too)."""
    return render_template("h5/privacy_notice.html", version=current_settings().privacy_notice_version)


@bp.route("/privacy/consent", methods=["GET", "POST"])
@customer_page(needs_consent=False)
def privacy_consent(member: Member):
    settings = current_settings()
    target = _own_page(request.values.get("next"))
    if request.method == "POST":
        if request.form.get("agree") != "yes":
            flash(_("To use your member pages, please agree to the privacy notice."), "warning")
        else:
            members.record_consent(db.session, member, privacy_version=settings.privacy_notice_version,
                                   marketing=request.form.get("marketing") == "yes", channel="h5")
            db.session.commit()
            return redirect(target)
    return render_template("h5/privacy_consent.html", member=member, version=settings.privacy_notice_version,
                           next=target)


@bp.route("/privacy", methods=["GET", "POST"])
@customer_page()
def privacy(member: Member):
    """Privacy and my data: marketing consent, download, close the membership."""
    if request.method == "POST":
        wanted = request.form.get("marketing") == "yes"
        if not wanted and member.marketing_consent:   # an opt-out also stops what is queued
            consent.opt_out(db.session, member, channel="h5", at=utcnow())
        else:
            members.record_consent(db.session, member, privacy_version=None, marketing=wanted, channel="h5")
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for("h5.privacy"))
    return render_template("h5/privacy.html", member=member,
                           stored=ledger.balance(db.session, member.id, "stored_value"),
                           points=ledger.balance(db.session, member.id, "points"))


@bp.route("/privacy/export")
@customer_page()
def privacy_export(member: Member):
    """Everything we hold about the member, as a JSON file."""
    body = json.dumps(member_data(db.session, member), ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f"attachment; filename=member-{member.card_no}.json",
                             "Cache-Control": "no-store"})


@bp.route("/privacy/close", methods=["GET", "POST"])
@customer_page()
def privacy_close(member: Member):
    settings = current_settings()
    stored = ledger.balance(db.session, member.id, "stored_value")
    points = ledger.balance(db.session, member.id, "points")
    if request.method == "POST":
        if request.form.get("confirm") != "yes":
            flash(_("Tick the box to confirm that you want to close your membership."), "warning")
        else:
            closure = close_membership(db.session, member, clock=Clock.now(settings.tz), settings=settings)
            db.session.commit()
            session.clear()
            return render_template("h5/privacy_closed.html", closure=closure)
    return render_template("h5/privacy_close.html", member=member, stored=stored, points=points)


# ---------------------------------------------------------------- stored value

@bp.route("/topup")
@customer_page()
def topup(member: Member):
    """Top up by WeChat Pay: preset amounts showing their bonus, and a custom amount."""
    from wxcrm.config import topup_presets
    from wxcrm.topups.service import preview_bonus
    settings = current_settings()
    presets = topup_presets(settings.topup_presets_fen)
    bonuses = preview_bonus(db.session, member, presets, settings=settings, clock=Clock.now(settings.tz))
    split = ledger.value_split(db.session, member.id)
    db.session.rollback()              # the preview locked nothing worth keeping
    return render_template("h5/topup.html", member=member, presets=presets, bonuses=bonuses, split=split,
                           pay_enabled=settings.wechat_pay_enabled, min_fen=settings.topup_min_fen,
                           cap_fen=settings.stored_value_cap_fen, standin=settings.wechat_api_base)


@bp.post("/topups")
@customer_page()
def create_topup(member: Member):
    """JSON {"amount_fen": N}: the WeChat Pay order and the JSAPI parameters for
    WeixinJSBridge's getBrandWCPayRequest."""
    from flask import jsonify

    from wxcrm.topups import wechat as wechat_topups
    settings = current_settings()
    data = request.get_json(silent=True) or {}
    amount = data.get("amount_fen")
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= 10**9:
        return _problem(DomainError("amount_fen must be a whole number of fen", code="invalid_amount"))
    clock = Clock.now(settings.tz)
    try:
        topup = wechat_topups.create_pending_topup(db.session, member, amount, clock=clock, settings=settings)
        db.session.commit()          # the order exists before WeChat hears of it
        jsapi = wechat_topups.place_order(topup, member, clock=clock, settings=settings,
                                          client_ip=request.remote_addr or "")
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        return _problem(exc)
    return jsonify({"out_trade_no": topup.out_trade_no, "jsapi": jsapi,
                    "card_url": url_for("h5.card", paid=topup.out_trade_no)}), 201


def _problem(exc: DomainError):
    from flask import jsonify
    res = jsonify({"type": "about:blank", "title": "Request cannot be processed", "status": exc.status,
                   "code": exc.code, "detail": problem_text(exc)})
    res.status_code = exc.status
    res.mimetype = "application/problem+json"
    return res


@bp.route("/stored-value")
@customer_page()
def stored_value(member: Member):
    """The balance, principal and bonus apart, and its history."""
    entries = ledger.entries_page(db.session, member.id, "stored_value", limit=50)
    split = ledger.value_split(db.session, member.id)
    return render_template("h5/stored_value.html", member=member, entries=entries, split=split)
