"""Customer pages inside WeChat (mobile-first). The member comes from a signed
session set by WeChat OAuth (see wxcrm.wechat.oauth); never from an id in the URL."""
from __future__ import annotations

from datetime import date
from functools import wraps

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from wxcrm.config import current_settings
from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.members import service as members
from wxcrm.members.models import GENDERS, Member
from wxcrm.timeutil import business_date
from wxcrm.web.labels import problem_text

bp = Blueprint("h5", __name__)


def session_member() -> Member | None:
    member_id = session.get("member_id")
    return db.session.get(Member, member_id) if member_id else None


def customer_page(scope: str = "snsapi_base"):
    """A page for the member behind this WeChat user. Unknown visitors go through WeChat
    OAuth first; a visitor who does not follow yet sees the welcome page. A page that
    needs the profile scope asks for snsapi_userinfo once."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not session.get("openid") or (scope == "snsapi_userinfo"
                                              and session.get("oauth_scope") != "snsapi_userinfo"):
                return redirect(url_for("wechat_oauth.start", next=request.full_path.rstrip("?"), scope=scope))
            member = session_member()
            if member is None or member.openid != session.get("openid"):
                return render_template("h5/welcome.html")
            return view(member, *args, **kwargs)
        return wrapped
    return decorator


@bp.route("/")
@customer_page()
def card(member: Member):
    summary = ledger.points_summary(db.session, member.id, business_date(current_settings().tz))
    stored = ledger.balance(db.session, member.id, "stored_value")
    return render_template("h5/card.html", member=member, summary=summary, stored=stored)


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
