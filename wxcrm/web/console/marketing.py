"""The console's marketing pages: scheduled jobs (their runs, run one now), greetings
(enable, edit, schedule, the holidays' dates), segments (builder with size, sample and
reach at once; RFM thresholds; CSV export) and campaigns (reach before sending, send,
pause, resume, report with the control group's uplift, CSV export)."""
from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, Response, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from wxcrm.campaigns import coupons, greetings, rfm, segments
from wxcrm.campaigns import service as campaigns
from wxcrm.campaigns.holidays import BY_CODE, MAX_YEAR, MIN_YEAR, holidays_of
from wxcrm.campaigns.models import Campaign, Greeting, Segment
from wxcrm.config import current_settings
from wxcrm.coupons.models import CouponTemplate
from wxcrm.errors import DomainError
from wxcrm.extensions import db
from wxcrm.members.models import GroupAccount, Member, Store, Tier
from wxcrm.messages.kinds import KINDS
from wxcrm.timeutil import business_date, to_local, to_utc_naive, utcnow
from wxcrm.web.auth import role_required
from wxcrm.web.console.outbox import describe
from wxcrm.web.labels import problem_text

bp = Blueprint("console_marketing", __name__)
MARKETERS = ("admin", "marketer")

RUN_STATUS = {"running": _l("running"), "done": _l("done"), "failed": _l("failed")}
TRIGGERS = {"schedule": _l("scheduler"), "console": _l("console"), "console-day": _l("console (one day)"),
            "cli": _l("command line"), "cli-day": _l("command line (one day)")}
COUNT_LABELS = {"greeted": _l("greeted"), "rule_members": _l("members the rules ran for"),
                "reminded": _l("reminded"), "points_expired": _l("points expired"), "changed": _l("tiers changed"),
                "holds_ended": _l("holds ended"), "month_ends": _l("month ends reviewed"), "custom": _l("customer service"),
                "mass": _l("mass"), "sms": _l("SMS"), "parked": _l("cannot be reached"),
                "skipped": _l("already queued"), "started": _l("campaigns started"), "queued": _l("messages queued"),
                "greetings": _l("greetings"), "coupons": _l("coupons"),
                "coupons_out_of_stock": _l("no coupon (stock ran out)"), "members": _l("members")}
CAMPAIGN_STATUS = {"draft": _l("draft"), "scheduled": _l("scheduled"), "sending": _l("sending"),
                   "paused": _l("paused"), "done": _l("all queued"), "cancelled": _l("cancelled")}
REACH = {"wechat": _l("WeChat (customer service or mass, 4 a month)"), "sms": _l("SMS (not reachable on WeChat)"),
         "no_consent": _l("No marketing consent (or opted out)"),
         "mass_used_no_phone": _l("Follows, but had 4 mass messages this month, and has no mobile number"),
         "no_wechat_no_phone": _l("Does not follow the account and has no mobile number")}
PURPOSE_HELP = {"campaign": _l("WeChat where it can (customer service in a window, else mass), else SMS"),
                "campaign_wechat": _l("WeChat only (customer service in a window, else mass)"),
                "campaign_sms": _l("SMS only"),
                "service_notice": _l("A service notice, not marketing (a WeChat template message, else SMS; "
                                     "20 characters or fewer; goes to members without marketing consent too)")}
OPS = {"in": _l("is one of"), ">=": _l("at least"), "<=": _l("at most"), "==": _l("is")}
DELIVERY = {"sent": _l("sent"), "pending": _l("waiting"), "held": _l("held (paused)"), "parked": _l("not sent"),
            "sending": _l("sending")}
CHANNELS = {"template": _l("WeChat template message"), "custom": _l("WeChat customer-service message"),
            "mass": _l("WeChat mass message"), "sms": _l("SMS")}


def _today() -> date:
    return business_date(current_settings().tz)


def _fail(exc: DomainError) -> None:
    flash(problem_text(exc), "danger")


# ---------------------------------------------------------------- jobs

def _desk():
    return current_app.extensions["wxcrm_jobs"]


@bp.route("/jobs")
@role_required(*MARKETERS)
def jobs():
    desk = _desk()
    return render_template("console/jobs.html", jobs=desk.jobs, last=desk.last_runs(db.session),
                           runs=desk.recent_runs(db.session, limit=100, job=request.args.get("job") or None),
                           statuses=RUN_STATUS, triggers=TRIGGERS, count_labels=COUNT_LABELS, today=_today(),
                           greeting_names=_greeting_names())


class _Names(dict):
    """Greeting code -> its name in the page's language (an unknown code: itself)."""

    def __missing__(self, key):
        return key


def _greeting_names() -> dict:
    zh = str(get_locale() or "zh").startswith("zh")
    names = _Names()
    for g in db.session.scalars(select(Greeting)):
        names[g.code] = g.name if zh else (_(BY_CODE[g.code].label) if g.code in BY_CODE else g.name_en or g.name)
    return names


@bp.route("/jobs/<name>/run", methods=["POST"])
@role_required(*MARKETERS)
def run_job(name: str):
    try:
        on = request.form.get("date", "").strip()
        try:
            day = date.fromisoformat(on) if on else None
        except ValueError:
            raise DomainError("write the date as YYYY-MM-DD", code="bad_date") from None
        runs = _desk().run(db.session, current_settings(), name, today=_today(), day=day,
                           started_by=f"staff:{current_user.username}")
    except DomainError as exc:
        _fail(exc)
        return redirect(url_for(".jobs"))
    failed = [r for r in runs if r.status == "failed"]
    if failed:
        flash(_("The job failed: %(error)s", error=failed[0].error), "danger")
    else:
        flash(_("Ran %(job)s for %(n)d day(s).", job=name, n=len(runs)), "success")
    return redirect(url_for(".jobs", job=name))


# ---------------------------------------------------------------- greetings

@bp.route("/greetings")
@role_required(*MARKETERS)
def greeting_list():
    greetings.ensure_greetings(db.session)
    db.session.commit()
    try:
        year = min(max(int(request.args.get("year", _today().year)), MIN_YEAR), MAX_YEAR)
    except ValueError:
        year = _today().year
    rows = list(db.session.scalars(select(Greeting).order_by(Greeting.kind, Greeting.id)))
    dates = {g.id: greetings.greeting_date(g, year) for g in rows}
    templates = coupons.attachable(db.session)
    return render_template("console/greetings.html", greetings=rows, dates=dates, year=year,
                           holidays=holidays_of(year), by_code=BY_CODE, coupon_templates=templates,
                           coupon_ids={t.id for t in templates},
                           days_ahead=current_settings().birthday_greeting_days)


@bp.route("/greetings/<int:greeting_id>", methods=["POST"])
@role_required(*MARKETERS)
def greeting_save(greeting_id: int):
    try:
        coupon = request.form.get("coupon_template_id", "").strip()
        greetings.update_greeting(db.session, greeting_id, text=request.form.get("text"),
                                  enabled=request.form.get("enabled") == "yes",
                                  send_time=request.form.get("send_time") or None,
                                  coupon_template_id=int(coupon) if coupon.isdigit() else None,
                                  clear_coupon=not coupon)
        db.session.commit()
        flash(_("Saved."), "success")
    except DomainError as exc:
        db.session.rollback()
        _fail(exc)
    return redirect(url_for(".greeting_list"))


@bp.route("/greetings/new", methods=["POST"])
@role_required(*MARKETERS)
def greeting_new():
    try:
        greetings.add_brand_date(db.session, code=request.form.get("code", ""), name=request.form.get("name", ""),
                                 month=int(request.form.get("month") or 0), day=int(request.form.get("day") or 0),
                                 text=request.form.get("text", ""))
        db.session.commit()
        flash(_("Saved."), "success")
    except (DomainError, ValueError) as exc:
        db.session.rollback()
        flash(problem_text(exc) if isinstance(exc, DomainError) else _("Check the month and day."), "danger")
    return redirect(url_for(".greeting_list"))


# ---------------------------------------------------------------- segments

def _choices() -> dict:
    s = db.session
    distinct = lambda col: [v for v in s.scalars(select(col).distinct().order_by(col)) if v]  # noqa: E731
    return {
        "tier": [(t.code, t.name) for t in s.scalars(select(Tier).order_by(Tier.rank))],
        "home_store": [(st.code, f"{st.code} {st.name}") for st in s.scalars(select(Store).order_by(Store.code))],
        "group": [(g.code, g.name) for g in s.scalars(select(GroupAccount).order_by(GroupAccount.code))],
        "district": [(v, v) for v in distinct(Member.district)],
        "occupation": [(v, v) for v in distinct(Member.occupation)],
        "education": [(v, v) for v in distinct(Member.education)],
        "income_band": [(v, v) for v in distinct(Member.income_band)],
        "gender": [("male", _("male")), ("female", _("female")), ("unknown", _("unknown"))],
        "age_group": [("under_25", _("under 25")), ("25_34", "25–34"), ("35_44", "35–44"), ("45_54", "45–54"),
                      ("55_plus", _("55 and over"))],
        "birthday_month": [(str(m), _("%(m)d月", m=m)) for m in range(1, 13)],
        "rfm_class": [(code, _(label)) for code, label in rfm.CLASSES.items()],
    }


def _builder_spec() -> dict:
    choices = _choices()
    return {"fields": [{"name": f.name, "label": _(f.label), "group": f.group, "kind": f.kind,
                        "ops": [[op, str(OPS[op])] for op in f.ops], "window": f.window,
                        "choices": choices.get(f.name, [])} for f in segments.FIELDS.values()],
            "text": {"window": _("in the last %(n)s days", n="{n}"), "yes": _("yes"), "no": _("no"),
                     "remove": _("Remove")}}


@bp.route("/segments")
@role_required(*MARKETERS)
def segment_list():
    rows = list(db.session.scalars(select(Segment).order_by(Segment.id.desc())))
    today = _today()
    sizes = {s.id: segments.size(db.session, s.filters, today) for s in rows[:30]}
    return render_template("console/segments.html", segments=rows, sizes=sizes)


@bp.route("/segments/new")
@bp.route("/segments/<int:segment_id>")
@role_required(*MARKETERS)
def segment_edit(segment_id: int | None = None):
    segment = campaigns.get_segment(db.session, segment_id) if segment_id else None
    rfm_class = request.args.get("rfm")
    filters = segment.filters if segment else ([{"field": "rfm_class", "op": "in", "value": [rfm_class]}]
                                                if rfm_class in rfm.CLASSES else [])
    return render_template("console/segment_edit.html", segment=segment, filters=filters, spec=_builder_spec(),
                           thresholds=rfm.thresholds(db.session), threshold_labels=rfm.THRESHOLD_LABELS,
                           classes=rfm.CLASSES, reach_labels=REACH)


@bp.route("/segments/preview", methods=["POST"])
@role_required(*MARKETERS)
def segment_preview():
    """The builder's live figures (JSON): size, a sample and the reach per channel."""
    data = request.get_json(silent=True) or {}
    try:
        clean = segments.validate(data.get("filters") or [])
        today = _today()
        return jsonify({"size": segments.size(db.session, clean, today),
                        "sample": [{"card_no": m.card_no, "name": m.name or "—",
                                    "url": url_for("console.member_detail", member_id=m.id)}
                                   for m in segments.sample(db.session, clean, today, limit=8)],
                        "reach": segments.reach(db.session, clean, today, utcnow())})
    except DomainError as exc:
        return jsonify({"error": problem_text(exc)}), 422


@bp.route("/segments/save", methods=["POST"])
@role_required(*MARKETERS)
def segment_save():
    import json
    try:
        filters = json.loads(request.form.get("filters") or "[]")
        segment_id = request.form.get("segment_id")
        segment = campaigns.save_segment(db.session, name=request.form.get("name", ""), filters=filters,
                                         staff_id=current_user.id,
                                         segment_id=int(segment_id) if (segment_id or "").isdigit() else None)
        db.session.commit()
    except (DomainError, ValueError) as exc:
        db.session.rollback()
        flash(problem_text(exc) if isinstance(exc, DomainError) else _("The filter could not be read."), "danger")
        return redirect(request.referrer or url_for(".segment_list"))
    flash(_("Saved."), "success")
    return redirect(url_for(".segment_edit", segment_id=segment.id))


@bp.route("/segments/thresholds", methods=["POST"])
@role_required(*MARKETERS)
def thresholds_save():
    try:
        rfm.set_thresholds(db.session, {k: request.form.get(k) for k in rfm.DEFAULTS if request.form.get(k)})
        db.session.commit()
        flash(_("Saved."), "success")
    except DomainError as exc:
        db.session.rollback()
        _fail(exc)
    return redirect(request.referrer or url_for(".segment_list"))


@bp.route("/segments/<int:segment_id>/export.csv")
@role_required(*MARKETERS)
def segment_export(segment_id: int):
    segment = campaigns.get_segment(db.session, segment_id)
    body = segments.export_csv(db.session, segment.filters, _today())
    return Response("\ufeff" + body, mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=segment-{segment.id}.csv"})


# ---------------------------------------------------------------- campaigns

@bp.route("/campaigns")
@role_required(*MARKETERS)
def campaign_list():
    rows = list(db.session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(200)))
    return render_template("console/campaigns.html", campaigns=rows, statuses=CAMPAIGN_STATUS, kinds=KINDS)


@bp.route("/campaigns/new", methods=["GET", "POST"])
@role_required(*MARKETERS)
def campaign_new():
    segs = list(db.session.scalars(select(Segment).order_by(Segment.id.desc())))
    settings = current_settings()
    if request.method == "POST":
        form = request.form
        try:
            start = None
            if form.get("start_at"):
                try:
                    local = datetime.fromisoformat(form["start_at"]).replace(tzinfo=settings.tz)
                except ValueError:
                    raise DomainError("start time", code="bad_date", fields={"start_at": "invalid"}) from None
                start = to_utc_naive(local)
            c = campaigns.create_campaign(db.session, settings, name=form.get("name", ""),
                                          segment_id=int(form.get("segment_id") or 0), text=form.get("text", ""),
                                          purpose=form.get("purpose", "campaign"), start_at=start,
                                          control_pct=int(form.get("control_pct") or 0), staff_id=current_user.id,
                                          coupon_template_id=int(form["coupon_template_id"])
                                          if (form.get("coupon_template_id") or "").isdigit() else None,
                                          now=utcnow())
            if form.get("when") == "draft":
                c.status = "draft"
            db.session.commit()
            return redirect(url_for(".campaign_detail", campaign_id=c.id))
        except (DomainError, ValueError) as exc:
            db.session.rollback()
            flash(problem_text(exc) if isinstance(exc, DomainError) else _("Check the form."), "danger")
    return render_template("console/campaign_new.html", segments=segs, purposes=PURPOSE_HELP, kinds=KINDS,
                           coupon_templates=coupons.attachable(db.session),
                           selected=request.args.get("segment", type=int), form=request.form)


@bp.route("/campaigns/<int:campaign_id>")
@role_required(*MARKETERS)
def campaign_detail(campaign_id: int):
    c = campaigns.get_campaign(db.session, campaign_id)
    filters = c.filters if c.queued_at else c.segment.filters
    today = _today()
    reach = segments.reach(db.session, filters, today, utcnow())
    consented = reach["total"] - reach["no_consent"]
    data = campaigns.report(db.session, current_settings(), campaign_id, now=utcnow()) if c.queued_at else None
    return render_template("console/campaign.html", c=c, reach=reach, consented=consented, reach_labels=REACH,
                           statuses=CAMPAIGN_STATUS, kinds=KINDS, purposes=PURPOSE_HELP, data=data,
                           delivery=DELIVERY, channels=CHANNELS, describe=describe,
                           coupon=db.session.get(CouponTemplate, c.coupon_template_id) if c.coupon_template_id else None,
                           start_local=to_local(c.start_at, current_settings().tz))


@bp.route("/campaigns/<int:campaign_id>/<action>", methods=["POST"])
@role_required(*MARKETERS)
def campaign_action(campaign_id: int, action: str):
    settings = current_settings()
    try:
        if action == "send":
            c = campaigns.get_campaign(db.session, campaign_id)
            if c.status == "draft":
                c.status = "scheduled"
            counts = campaigns.send_now(db.session, settings, campaign_id, now=utcnow())
            flash(_("Queued %(n)d message(s); %(c)d member(s) in the control group.", n=counts.get("queued", 0),
                    c=counts.get("control", 0)), "success")
        elif action == "schedule":
            c = campaigns.get_campaign(db.session, campaign_id)
            if c.status != "draft":
                raise DomainError("only a draft can be scheduled", code="campaign_not_draft")
            c.status = "scheduled"
            flash(_("Scheduled."), "success")
        elif action == "pause":
            flash(_("Paused: %(n)d message(s) held.", n=campaigns.pause(db.session, campaign_id)), "success")
        elif action == "resume":
            flash(_("Resumed: %(n)d message(s) back in the queue.",
                    n=campaigns.resume(db.session, campaign_id, now=utcnow())), "success")
        elif action == "cancel":
            flash(_("Cancelled: %(n)d message(s) will not be sent.", n=campaigns.cancel(db.session, campaign_id)),
                  "success")
        else:
            raise DomainError("unknown action", code="bad_action")
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _fail(exc)
    return redirect(url_for(".campaign_detail", campaign_id=campaign_id))


@bp.route("/campaigns/<int:campaign_id>/report.csv")
@role_required(*MARKETERS)
def campaign_report_csv(campaign_id: int):
    data = campaigns.report(db.session, current_settings(), campaign_id, now=utcnow())
    return Response("\ufeff" + campaigns.report_csv(data), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=campaign-{campaign_id}.csv"})
