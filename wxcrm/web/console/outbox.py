"""The outbox in the console: every message's fate, in the page's language and the
merchant's time: waiting (and for what), sent (by which channel, in which mass send and
what WeChat reported), moved to another channel and why, parked and why; a button to
send a parked message again; and the mass sends with WeChat's reports."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from wxcrm.config import current_settings
from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.members.models import Member
from wxcrm.messages import fate, outbox
from wxcrm.messages.kinds import KINDS, SECRET_PURPOSES
from wxcrm.messages.models import OUTBOX_STATUSES, MassSend, OutboxMessage
from wxcrm.timeutil import to_local, utcnow
from wxcrm.web.auth import role_required
from wxcrm.web.paging import page_arg

bp = Blueprint("console_outbox", __name__)
PAGE_SIZE = 50

CHANNELS = {"template": _l("WeChat template message"), "custom": _l("WeChat customer-service message"),
            "mass": _l("WeChat mass message"), "sms": _l("SMS"), "card": _l("WeChat wallet card")}
STEPS = {
    "skipped": _l("%(channel)s not possible: %(why)s"),
    "moved": _l("%(channel)s did not carry it, moved to %(to)s: %(why)s"),
    "moved_nowhere": _l("%(channel)s did not carry it, and no other channel can: %(why)s"),
    "waiting": "%(why)s",
    "retrying": _l("%(channel)s: %(why)s; trying again"),
    "parked": _l("Parked: %(why)s"),
    "resent": _l("Sent again from the console"),
}


class _Details(dict):
    def __missing__(self, key):
        return "?"


def _when(value) -> str:
    from datetime import datetime
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return to_local(moment, current_settings().tz).strftime("%Y-%m-%d %H:%M")


def channel_name(channel: str | None) -> str:
    return str(CHANNELS.get(channel or "", channel or "—"))


def describe(entry: dict) -> str:
    """One step of a message's fate, in the page's language."""
    values = _Details({k: v for k, v in entry.items() if v is not None})
    for key in fate.TIME_DETAILS:
        values[key] = _when(entry[key]) if entry.get(key) else "—"
    sentence = fate.WHY.get(entry.get("code", ""))
    why = _(sentence) % values if sentence else entry.get("code", "")
    event = entry.get("event", "")
    if event == "moved" and not entry.get("to"):
        event = "moved_nowhere"
    pattern = STEPS.get(event)
    if pattern is None:
        return why
    return str(pattern) % _Details(channel=channel_name(entry.get("channel")), to=channel_name(entry.get("to")),
                                   why=why)


def state_line(row: OutboxMessage, sends: dict[int, MassSend], now) -> str:
    """Where the message is now."""
    via = channel_name(row.channel)
    if row.status == "sent":
        text = _("Sent as %(channel)s at %(time)s.", channel=via, time=_when(row.sent_at)) if row.sent_at else \
            _("Sent as %(channel)s.", channel=via)
        send = sends.get(row.mass_send_id)
        if send is not None:
            text += " " + _("Mass send #%(id)s to %(count)s followers.", id=send.id, count=send.recipients)
            if send.status == "reported":
                text += " " + _("WeChat's report: %(sent)s of %(total)s delivered.", sent=send.sent_count,
                                total=send.total_count)
            if send.unexplained:
                sentence = fate.WHY["mass_unconfirmed"]
                text += " " + _(sentence) % {"count": send.unexplained, "total": send.total_count}
        return text
    if row.status == "sending":
        return _("Being sent as %(channel)s.", channel=via)
    if row.status == "pending":
        if row.next_attempt_at and row.next_attempt_at > now:
            return _("Waiting to go as %(channel)s, next try at %(time)s.", channel=via,
                     time=_when(row.next_attempt_at))
        return _("Waiting to go as %(channel)s.", channel=via)
    return _("Parked: it will not go unless sent again.")


@bp.route("/")
@role_required("admin", "marketer")
def messages():
    status = request.args.get("status", "parked")
    if status not in OUTBOX_STATUSES:
        status = "parked"
    page = page_arg()
    rows = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.status == status,
                                                              OutboxMessage.purpose.not_in(SECRET_PURPOSES))
                                   .order_by(OutboxMessage.id.desc()).offset((page - 1) * PAGE_SIZE)
                                   .limit(PAGE_SIZE + 1)))
    shown = rows[:PAGE_SIZE]
    ids = {r.member_id for r in shown if r.member_id}
    cards = dict(db.session.execute(select(Member.id, Member.card_no).where(Member.id.in_(ids))).all()) if ids else {}
    send_ids = {r.mass_send_id for r in shown if r.mass_send_id}
    sends = {s.id: s for s in db.session.scalars(select(MassSend).where(MassSend.id.in_(send_ids)))} \
        if send_ids else {}
    now = utcnow()
    return render_template("console/outbox.html", rows=shown, has_next=len(rows) > PAGE_SIZE, page=page,
                           status=status, statuses=OUTBOX_STATUSES, counts=outbox.status_counts(db.session),
                           cards=cards, kinds=KINDS, describe=describe, state_line=lambda r: state_line(r, sends, now),
                           when=_when)


@bp.route("/mass")
@role_required("admin", "marketer")
def mass_sends():
    sends = list(db.session.scalars(select(MassSend).order_by(MassSend.id.desc()).limit(PAGE_SIZE)))
    return render_template("console/outbox_mass.html", sends=sends, status="mass", statuses=OUTBOX_STATUSES,
                           counts=outbox.status_counts(db.session), when=_when)


@bp.route("/<int:message_id>/resend", methods=["POST"])
@role_required("admin", "marketer")
def resend(message_id: int):
    try:
        row = outbox.resend(db.session, message_id, current_settings())
        db.session.commit()
        flash(_("Message %(id)s queued again as %(channel)s.", id=row.id, channel=channel_name(row.channel)),
              "success")
    except DomainError as exc:
        if exc.code == "outbox_cannot_go":
            db.session.commit()  # keep the fresh reason on the row
            flash(_("Message %(id)s still cannot go: no channel can carry it.", id=message_id), "danger")
        else:
            db.session.rollback()
            detail = exc.detail
            flash(_(detail), "danger")
    return redirect(url_for(".messages", status="parked"))
