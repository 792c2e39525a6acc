"""Customer pages inside WeChat (mobile-first). The member comes from a signed
session set by WeChat OAuth (see wxcrm.wechat); never from an id in the URL."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, session

from wxcrm.extensions import db
from wxcrm.ledger import service as ledger
from wxcrm.members.models import Member
from wxcrm.timeutil import business_date

bp = Blueprint("h5", __name__)


def session_member() -> Member | None:
    member_id = session.get("member_id")
    return db.session.get(Member, member_id) if member_id else None


@bp.route("/")
def card():
    member = session_member()
    if member is None:
        return render_template("h5/welcome.html")
    summary = ledger.points_summary(db.session, member.id, business_date())
    stored = ledger.balance(db.session, member.id, "stored_value")
    return render_template("h5/card.html", member=member, summary=summary, stored=stored)


@bp.route("/points")
def points():
    member = session_member()
    if member is None:
        return render_template("h5/welcome.html")
    entries = ledger.entries_page(db.session, member.id, "points", limit=50)
    summary = ledger.points_summary(db.session, member.id, business_date())
    return render_template("h5/points.html", member=member, entries=entries, summary=summary)
