"""Marketing: holidays and greetings, segments (size, sample, reach, export), campaigns
(create, send, pause, resume, report), and the scheduled jobs (list, runs, run now)."""
from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from wxcrm.api.auth import current_staff, roles_required
from wxcrm.campaigns import greetings, rfm, segments
from wxcrm.campaigns import service as campaigns
from wxcrm.campaigns.holidays import MAX_YEAR, MIN_YEAR, holidays_of
from wxcrm.campaigns.models import Campaign, Greeting, Segment
from wxcrm.config import current_settings
from wxcrm.extensions import db
from wxcrm.timeutil import business_date, rfc3339, utcnow

blp = Blueprint("api_campaigns", __name__, description="Greetings, segments and campaigns (marketers)")

MARKETERS = ("marketer", "admin")
MAX_ID = 2**31 - 1


class YearQuery(Schema):
    year = fields.Integer(required=True, strict=False, validate=validate.Range(min=MIN_YEAR, max=MAX_YEAR))


class GreetingIn(Schema):
    text = fields.String(validate=validate.Length(min=1, max=600))
    enabled = fields.Boolean()
    send_time = fields.String(validate=validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$"))
    coupon_template_id = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=MAX_ID))


class FiltersIn(Schema):
    filters = fields.List(fields.Dict(), required=True, validate=validate.Length(max=segments.MAX_CONDITIONS))


class SegmentIn(FiltersIn):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))


class CampaignIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    segment_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))
    text = fields.String(required=True, validate=validate.Length(min=1, max=600))
    purpose = fields.String(load_default="campaign", validate=validate.OneOf(campaigns.MESSAGE_PURPOSES))
    start_at = fields.AwareDateTime(load_default=None, metadata={"description": "RFC 3339; default now"})
    control_pct = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0, max=50))
    coupon_template_id = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=MAX_ID))


class ThresholdsIn(Schema):
    window_days = fields.Integer(strict=True, validate=validate.Range(min=1, max=3650))
    lapsing_days = fields.Integer(strict=True, validate=validate.Range(min=1, max=3650))
    frequent_visits = fields.Integer(strict=True, validate=validate.Range(min=1, max=10000))
    big_spend_fen = fields.Integer(strict=True, validate=validate.Range(min=1, max=10**12))


def greeting_out(g: Greeting, year: int) -> dict:
    day = greetings.greeting_date(g, year)
    return {"id": g.id, "code": g.code, "kind": g.kind, "name": g.name, "name_en": g.name_en, "text": g.text,
            "enabled": g.enabled, "send_time": g.send_time, "coupon_template_id": g.coupon_template_id,
            "date": day.isoformat() if day else None}


def segment_out(s: Segment, **extra) -> dict:
    return {"id": s.id, "name": s.name, "filters": s.filters, **extra}


def campaign_out(c: Campaign) -> dict:
    return {"id": c.id, "name": c.name, "segment_id": c.segment_id, "purpose": c.purpose, "text": c.text,
            "start_at": rfc3339(c.start_at), "control_pct": c.control_pct, "status": c.status, "counts": c.counts,
            "coupon_template_id": c.coupon_template_id}


def _today():
    return business_date(current_settings().tz)


@blp.route("/greetings/holidays", methods=["GET"])
@roles_required(blp, *MARKETERS)
@blp.arguments(YearQuery, location="query")
def list_holidays(query):
    """Each holiday with its date in the year (lunar dates and solar terms computed)."""
    year = query["year"]
    return {"year": year, "holidays": [{"code": h.code, "name": h.name, "name_en": h.label,
                                        "calendar": h.calendar, "date": day.isoformat()}
                                       for h, day in holidays_of(year)]}


@blp.route("/greetings", methods=["GET"])
@roles_required(blp, *MARKETERS)
def list_greetings():
    greetings.ensure_greetings(db.session)
    db.session.commit()
    year = _today().year
    return {"greetings": [greeting_out(g, year) for g in db.session.query(Greeting).order_by(Greeting.id)]}


@blp.route("/greetings/<int:greeting_id>", methods=["PATCH"])
@roles_required(blp, *MARKETERS)
@blp.arguments(GreetingIn)
def update_greeting(data, greeting_id):
    """Enable, edit, schedule (time of day) a greeting, or attach a coupon (an active template's id; null: none)."""
    clear = "coupon_template_id" in data and data["coupon_template_id"] is None
    g = greetings.update_greeting(db.session, greeting_id, text=data.get("text"), enabled=data.get("enabled"),
                                  send_time=data.get("send_time"),
                                  coupon_template_id=data.get("coupon_template_id"), clear_coupon=clear)
    db.session.commit()
    return greeting_out(g, _today().year)


@blp.route("/segments/fields", methods=["GET"])
@roles_required(blp, *MARKETERS)
def segment_fields():
    """The fields a segment filter may use, and the RFM classes with their thresholds."""
    return {"fields": [{"name": f.name, "label": f.label, "group": f.group, "kind": f.kind, "ops": list(f.ops),
                        "choices": list(f.choices), "window": f.window} for f in segments.FIELDS.values()],
            "rfm": {"classes": dict(rfm.CLASSES), "thresholds": rfm.thresholds(db.session)}}


@blp.route("/segments/rfm-thresholds", methods=["PUT"])
@roles_required(blp, *MARKETERS)
@blp.arguments(ThresholdsIn)
def set_thresholds(data):
    found = rfm.set_thresholds(db.session, data)
    db.session.commit()
    return {"thresholds": found}


@blp.route("/segments/preview", methods=["POST"])
@roles_required(blp, *MARKETERS)
@blp.arguments(FiltersIn)
def preview_segment(data):
    """A filter's size, a sample of members and its reach per channel, at once (nothing saved)."""
    return _figures(data["filters"])


def _figures(filters) -> dict:
    today = _today()
    clean = segments.validate(filters)
    return {"filters": clean, "size": segments.size(db.session, clean, today),
            "sample": [{"id": m.id, "card_no": m.card_no, "name": m.name} for m in
                       segments.sample(db.session, clean, today, limit=10)],
            "reach": segments.reach(db.session, clean, today, utcnow())}


@blp.route("/segments", methods=["POST"])
@roles_required(blp, *MARKETERS)
@blp.arguments(SegmentIn)
def create_segment(data):
    s = campaigns.save_segment(db.session, name=data["name"], filters=data["filters"], staff_id=current_staff().id)
    db.session.commit()
    return segment_out(s, **{k: v for k, v in _figures(s.filters).items() if k != "filters"}), 201


@blp.route("/segments", methods=["GET"])
@roles_required(blp, *MARKETERS)
def list_segments():
    return {"segments": [segment_out(s) for s in db.session.query(Segment).order_by(Segment.id.desc())]}


@blp.route("/segments/<int:segment_id>", methods=["GET"])
@roles_required(blp, *MARKETERS)
def get_segment(segment_id):
    s = campaigns.get_segment(db.session, segment_id)
    return segment_out(s, **{k: v for k, v in _figures(s.filters).items() if k != "filters"})


@blp.route("/segments/<int:segment_id>/export.csv", methods=["GET"])
@roles_required(blp, *MARKETERS)
def export_segment(segment_id):
    s = campaigns.get_segment(db.session, segment_id)
    body = segments.export_csv(db.session, s.filters, _today())
    return Response("\ufeff" + body, mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=segment-{s.id}.csv"})


@blp.route("/campaigns", methods=["POST"])
@roles_required(blp, *MARKETERS)
@blp.arguments(CampaignIn)
def create_campaign(data):
    from wxcrm.timeutil import to_utc_naive
    start = to_utc_naive(data["start_at"]) if data.get("start_at") else None
    c = campaigns.create_campaign(db.session, current_settings(), name=data["name"], segment_id=data["segment_id"],
                                  text=data["text"], purpose=data["purpose"], start_at=start,
                                  control_pct=data["control_pct"], coupon_template_id=data.get("coupon_template_id"),
                                  staff_id=current_staff().id, now=utcnow())
    db.session.commit()
    return campaign_out(c), 201


@blp.route("/campaigns", methods=["GET"])
@roles_required(blp, *MARKETERS)
def list_campaigns():
    return {"campaigns": [campaign_out(c) for c in db.session.query(Campaign).order_by(Campaign.id.desc())]}


@blp.route("/campaigns/<int:campaign_id>", methods=["GET"])
@roles_required(blp, *MARKETERS)
def get_campaign(campaign_id):
    return campaign_out(campaigns.get_campaign(db.session, campaign_id))


@blp.route("/campaigns/<int:campaign_id>/send", methods=["POST"])
@roles_required(blp, *MARKETERS)
def send_campaign(campaign_id):
    """Start now: choose the members and queue the messages (set-based)."""
    campaigns.send_now(db.session, current_settings(), campaign_id, now=utcnow())
    db.session.commit()
    return campaign_out(campaigns.get_campaign(db.session, campaign_id))


@blp.route("/campaigns/<int:campaign_id>/pause", methods=["POST"])
@roles_required(blp, *MARKETERS)
def pause_campaign(campaign_id):
    held = campaigns.pause(db.session, campaign_id)
    db.session.commit()
    return {**campaign_out(campaigns.get_campaign(db.session, campaign_id)), "held": held}


@blp.route("/campaigns/<int:campaign_id>/resume", methods=["POST"])
@roles_required(blp, *MARKETERS)
def resume_campaign(campaign_id):
    back = campaigns.resume(db.session, campaign_id, now=utcnow())
    db.session.commit()
    return {**campaign_out(campaigns.get_campaign(db.session, campaign_id)), "resumed": back}


@blp.route("/campaigns/<int:campaign_id>/report", methods=["GET"])
@roles_required(blp, *MARKETERS)
def campaign_report(campaign_id):
    return campaigns.report(db.session, current_settings(), campaign_id, now=utcnow())


@blp.route("/campaigns/<int:campaign_id>/report.csv", methods=["GET"])
@roles_required(blp, *MARKETERS)
def campaign_report_csv(campaign_id):
    data = campaigns.report(db.session, current_settings(), campaign_id, now=utcnow())
    return Response("\ufeff" + campaigns.report_csv(data), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=campaign-{campaign_id}.csv"})


class SmsReplyIn(Schema):
    phone = fields.String(required=True, validate=validate.Length(min=5, max=20))
    text = fields.String(required=True, validate=validate.Length(max=500))


@blp.route("/sms/replies", methods=["POST"])
@roles_required(blp, "admin")
@blp.arguments(SmsReplyIn)
def sms_reply(data):
    """A member's reply to an SMS, as the gateway's uplink passes it on (its forwarder holds an
    admin token): "T", "TD", "R" or "退订" withdraws marketing consent and stops queued marketing."""
    from wxcrm.campaigns.consent import opt_out_by_reply
    member = opt_out_by_reply(db.session, text=data["text"], phone=data["phone"], at=utcnow())
    db.session.commit()
    return {"opted_out": member is not None}
