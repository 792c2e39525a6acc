"""The outbox in the console: what is queued, sent and parked, why a message cannot go,
and a button to send a parked message again."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from wxcrm.config import current_settings
from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.members.models import Member
from wxcrm.messages import outbox
from wxcrm.messages.models import OUTBOX_STATUSES, OutboxMessage
from wxcrm.web.auth import role_required
from wxcrm.web.labels import channel_label

bp = Blueprint("console_outbox", __name__)
PAGE_SIZE = 50


@bp.route("/")
@role_required("admin", "marketer")
def messages():
    status = request.args.get("status", "parked")
    if status not in OUTBOX_STATUSES:
        status = "parked"
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.status == status)
                                   .order_by(OutboxMessage.id.desc()).offset((page - 1) * PAGE_SIZE)
                                   .limit(PAGE_SIZE + 1)))
    ids = {r.member_id for r in rows if r.member_id}
    cards = dict(db.session.execute(select(Member.id, Member.card_no).where(Member.id.in_(ids))).all()) if ids else {}
    return render_template("console/outbox.html", rows=rows[:PAGE_SIZE], has_next=len(rows) > PAGE_SIZE,
                           page=page, status=status, statuses=OUTBOX_STATUSES, counts=outbox.status_counts(db.session),
                           cards=cards)


@bp.route("/<int:message_id>/resend", methods=["POST"])
@role_required("admin", "marketer")
def resend(message_id: int):
    try:
        row = outbox.resend(db.session, message_id, current_settings())
        db.session.commit()
        flash(_("Message %(id)s queued again as %(channel)s.", id=row.id, channel=channel_label(row.channel)),
              "success")
    except DomainError as exc:
        if exc.code == "outbox_cannot_go":
            db.session.commit()  # keep the fresh reason on the row
        else:
            db.session.rollback()
        flash(_("This message cannot go yet: %(why)s", why=exc.detail), "danger")
    return redirect(url_for(".messages", status="parked"))
