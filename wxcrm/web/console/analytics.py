"""The console's analytics: the dashboard (who, when, where, what), the pivot, drill-downs,
the standard reports and their exports. Figures come from wxcrm.analytics; this module only
reads the request, labels codes in the page's language and renders."""
from __future__ import annotations

import re
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, render_template, request, send_file, stream_with_context, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from wxcrm.analytics import imports, reports, standard
from wxcrm.analytics.reports import Filters
from wxcrm.analytics.rollup import AGE_BANDS
from wxcrm.campaigns.models import Segment
from wxcrm.config import current_settings
from wxcrm.errors import N_, DomainError
from wxcrm.extensions import db
from wxcrm.members.models import GroupAccount, Store, Tier
from wxcrm.timeutil import business_date
from wxcrm.web.auth import role_required
from wxcrm.web.labels import TRANSACTION_KINDS, label, payment_label, problem_text, tier_name

bp = Blueprint("console_analytics", __name__)

DIMENSION_LABELS = {
    "day": _l("Day"), "week": _l("Week"), "month": _l("Month"), "weekday": _l("Weekday"), "hour": _l("Hour of day"),
    "store": _l("Store"), "store_kind": _l("Store kind"), "tier": _l("Tier"), "gender": _l("Gender"),
    "age": _l("Age group"), "district": _l("District"), "occupation": _l("Occupation"), "education": _l("Education"),
    "income": _l("Income band"), "group": _l("Group account"), "category": _l("Category"), "sku": _l("SKU"),
}
MEASURE_LABELS = {
    "spend": _l("Net sales"), "visits": _l("Purchases"), "basket": _l("Average basket"), "members": _l("Buying members"),
    "qty": _l("Units"), "points_earned": _l("Points earned"), "points_redeemed": _l("Points redeemed"),
    "coupons": _l("Coupons redeemed"), "stored_value": _l("Paid with stored value"),
}
MONEY_MEASURES = ("spend", "basket", "stored_value")
WEEKDAYS = (_l("Mon"), _l("Tue"), _l("Wed"), _l("Thu"), _l("Fri"), _l("Sat"), _l("Sun"))
GENDERS = {"male": _l("male"), "female": _l("female"), "unknown": _l("not given")}
STORE_KINDS = {"direct": _l("direct"), "franchise": _l("franchise")}
RFM_LABELS = {"champions": _l("Champions"), "loyal": _l("Loyal"), "potential": _l("Potential"), "new": _l("New"),
              "at_risk": _l("At risk"), "cant_lose": _l("Can't lose"), "hibernating": _l("Hibernating"),
              "lost": _l("Lost")}
# The dashboard's charts: (dimension, chart kind), grouped by the question they answer.
SECTIONS = (
    (_l("When they buy"), (("day", "line"), ("hour", "bar"), ("weekday", "bar"), ("month", "bar"))),
    (_l("Where they buy"), (("store", "bar"), ("store_kind", "pie"))),
    (_l("What they buy"), (("category", "bar"), ("sku", "bar"))),
    (_l("Who buys"), (("gender", "pie"), ("age", "bar"), ("tier", "bar"), ("district", "bar"), ("occupation", "bar"),
                 ("education", "bar"), ("income", "bar"), ("group", "bar"))),
)


class Labeller:
    """Values of a dimension in the page's language (never a raw code)."""

    def __init__(self) -> None:
        s = db.session
        self.stores = {str(i): f"{c} {n}" for i, c, n in s.execute(select(Store.id, Store.code, Store.name))}
        self.tiers = {str(t.id): tier_name(t) for t in s.scalars(select(Tier))}
        self.tiers["0"] = _("no tier / walk-in")
        self.groups = {str(i): n for i, n in s.execute(select(GroupAccount.id, GroupAccount.name))}
        self.groups[""] = _("no group")

    def __call__(self, dim: str, value: str) -> str:
        if dim == "weekday":
            return str(WEEKDAYS[int(value)])
        if dim == "hour":
            return _("%(h)s:00", h=value)
        if dim == "store":
            return self.stores.get(value, value)
        if dim == "store_kind":
            return label(STORE_KINDS, value)
        if dim == "tier":
            return self.tiers.get(value, value)
        if dim == "gender":
            return label(GENDERS, value)
        if dim == "group":
            return self.groups.get(value, value)
        return value if value else _("not given")


def ordered(dim: str | None, keys) -> list[str]:
    """A dimension's values in their natural order (hours and weekdays by number, age bands by age)."""
    if dim in ("hour", "weekday", "store", "tier"):
        return sorted(keys, key=lambda k: int(k) if k.lstrip("-").isdigit() else 999)
    if dim == "age":
        order = [band for _lo, _hi, band in AGE_BANDS] + [""]
        return sorted(keys, key=lambda k: order.index(k) if k in order else 99)
    return sorted(keys)


def _filters() -> tuple[Filters, dict]:
    today = business_date(current_settings().tz)
    args = request.args
    end = standard.parse_day(args.get("end"), today - timedelta(days=1))
    start = standard.parse_day(args.get("start"), end - timedelta(days=29))
    stores = tuple(int(v) for v in args.getlist("store") if v.isdigit())
    tiers = tuple(int(v) for v in args.getlist("tier") if v.isdigit())
    segment = args.get("segment", "")
    segment_id = int(segment) if segment.isdigit() else None
    if segment_id is not None and db.session.get(Segment, segment_id) is None:
        raise DomainError(N_("no such segment"), code="segment_not_found")
    f = Filters(start, end, stores, tiers, segment_id, settings=current_settings())
    return f, {"start": start.isoformat(), "end": end.isoformat(), "store": list(stores), "tier": list(tiers),
               "segment": segment_id}


def _choices() -> dict:
    s = db.session
    return {"stores": list(s.execute(select(Store.id, Store.code, Store.name).order_by(Store.code))),
            "tiers": [(t.id, tier_name(t)) for t in s.scalars(select(Tier).order_by(Tier.rank))],
            "segments": list(s.execute(select(Segment.id, Segment.name).order_by(Segment.name)))}


def _drill_url(params: dict, cell: dict[str, str]) -> str:
    query = {k: v for k, v in params.items() if v not in ([], None, "")}
    query.update({f"d_{k}": v for k, v in cell.items()})
    return url_for("console_analytics.drill") + "?" + urlencode(query, doseq=True)


def _error_page(exc: DomainError, template: str = "console/analytics/error.html"):
    return render_template(template, message=problem_text(exc)), 400


@bp.route("/")
@role_required("admin", "marketer")
def dashboard():
    try:
        f, params = _filters()
    except DomainError as exc:
        return _error_page(exc)
    measure = request.args.get("measure", "spend")
    if measure not in reports.ROLLUP_MEASURES:
        measure = "spend"
    s = db.session
    names = Labeller()
    now, before = reports.totals(s, f), reports.totals(s, f.previous())
    sections = []
    for title, charts in SECTIONS:
        built = []
        for dim, kind in charts:
            rows = reports.with_previous(s, f, dim)
            if dim == "weekday":
                rows.sort(key=lambda r: int(r["key"]))
            elif dim == "hour":
                rows.sort(key=lambda r: int(r["key"]))
            elif dim == "age":
                order = [band for _lo, _hi, band in AGE_BANDS] + [""]
                rows.sort(key=lambda r: order.index(r["key"]) if r["key"] in order else 99)
            elif dim == "sku":
                rows = rows[:15]
            drill_dim = dim
            built.append({
                "id": f"chart-{dim}", "dim": dim, "title": str(DIMENSION_LABELS[dim]), "kind": kind,
                "money": measure in MONEY_MEASURES,
                "categories": [r["key"] if dim in ("day", "week", "month") else names(dim, r["key"]) for r in rows],
                "now": [r["now"].get(measure, 0) for r in rows],
                "before": [r["before"].get(measure, 0) for r in rows],
                "drill": [_drill_url(params, {drill_dim: r["key"]}) for r in rows],
            })
        sections.append((title, built))
    rfm = reports.rfm(s, f.end)
    rfm_chart = {"id": "chart-rfm", "title": _("RFM segments of buying members"), "kind": "pie", "money": False,
                 "categories": [str(RFM_LABELS[k]) for k in rfm], "now": list(rfm.values()), "before": [],
                 "drill": []}
    return render_template(
        "console/analytics/dashboard.html", f=f, params=params, now=now, before=before, sections=sections,
        rfm_chart=rfm_chart, measure=measure, measures=[(m, MEASURE_LABELS[m]) for m in reports.ROLLUP_MEASURES],
        series_names=[_("This period"), _("Previous period")], **_choices())


@bp.route("/pivot")
@role_required("admin", "marketer")
def pivot():
    try:
        f, params = _filters()
    except DomainError as exc:
        return _error_page(exc)
    dim1 = request.args.get("rows", "store")
    dim2 = request.args.get("cols", "month") or None
    measure = request.args.get("measure", "spend")
    table, error = None, None
    names = Labeller()
    try:
        cells = reports.pivot(db.session, f, dim1, dim2, measure)
    except DomainError as exc:
        cells, error = {}, problem_text(exc)
    row_keys = ordered(dim1, {k[0] for k in cells})
    col_keys = ordered(dim2, {k[1] for k in cells})
    if cells:
        table = {
            "rows": [(k, names(dim1, k) if dim1 not in ("day", "week", "month") else k) for k in row_keys],
            "cols": [(k, (names(dim2, k) if dim2 not in ("day", "week", "month") else k) if dim2 else
                      str(MEASURE_LABELS[measure])) for k in col_keys],
            "cells": cells,
            "drill": {key: _drill_url(params, {dim1: key[0], **({dim2: key[1]} if dim2 else {})}) for key in cells},
        }
    chart = None
    if table:
        chart = {"id": "chart-pivot", "title": "", "kind": "bar", "money": measure in MONEY_MEASURES,
                 "categories": [label for _k, label in table["rows"]],
                 "series": [{"name": col_label, "data": [cells.get((r, c), 0) for r in row_keys]}
                            for c, col_label in table["cols"]],
                 "drill": [_drill_url(params, {dim1: r}) for r in row_keys]}
    return render_template("console/analytics/pivot.html", f=f, params=params, dim1=dim1, dim2=dim2 or "",
                           measure=measure, table=table, chart=chart, error=error,
                           dimensions=[(d, DIMENSION_LABELS[d]) for d in reports.DIMENSIONS],
                           measures=[(m, MEASURE_LABELS[m]) for m in reports.MEASURES], money=measure in MONEY_MEASURES,
                           **_choices())


@bp.route("/drill")
@role_required("admin", "marketer")
def drill():
    try:
        f, params = _filters()
        cell = {k[2:]: v for k, v in request.args.items() if k.startswith("d_")}
        result = reports.drill_down(db.session, f, cell, current_settings().tz)
    except DomainError as exc:
        return _error_page(exc)
    names = Labeller()
    described = [(DIMENSION_LABELS[d], names(d, v) if d not in ("day", "week", "month") else v) for d, v in cell.items()]
    return render_template("console/analytics/drill.html", f=f, result=result, described=described,
                           payment_label=payment_label, stores=names.stores)


# ------------------------------------------------------------------ standard reports

@bp.route("/reports")
@role_required("admin", "marketer")
def report_list():
    return render_template("console/analytics/reports.html", reports=standard.REPORTS.values())


def _report_args(code: str):
    report = standard.get(code)
    f, params = _filters()
    period = standard.period_or_default(request.args.get("period"))
    params["period"] = period
    return report, f, params, period


@bp.route("/reports/<code>")
@role_required("admin", "marketer")
def report(code: str):
    try:
        rep, f, params, period = _report_args(code)
    except DomainError as exc:
        return _error_page(exc)
    limit = 500
    rows = []
    for n, row in enumerate(rep.rows(db.session, f, period)):
        if n >= limit:
            break
        rows.append(row)
    return render_template("console/analytics/report.html", report=rep, rows=rows, limit=limit, f=f, params=params,
                           period=period, zip=zip, payment_label=payment_label, export_query=urlencode({k: v for k, v in params.items() if v not in ([], None)},
                                                                 doseq=True), **{**_choices(), "segments": []})


def _readable_rows(rep: standard.Report, rows):
    """The rows with their codes in the reader's words (``wechat_pay`` -> 微信支付, ``refund``
    -> 退款), as the page shows them; each code is translated once per export."""
    keys = [c.key for c in rep.columns]
    words = {"kind": lambda v: label(TRANSACTION_KINDS, v), "payment_method": payment_label}
    fixes = [(i, words[k], {}) for i, k in enumerate(keys) if k in words]
    if not fixes:
        yield from rows
        return
    for row in rows:
        row = list(row)
        for i, say, seen in fixes:
            v = row[i]
            if v not in seen:
                seen[v] = say(v)
            row[i] = seen[v]
        yield row


@bp.route("/reports/<code>.csv")
@role_required("admin", "marketer")
def report_csv(code: str):
    try:
        rep, f, params, period = _report_args(code)
    except DomainError as exc:
        return _error_page(exc)
    headers = [_(c.label) for c in rep.columns]
    rows = _readable_rows(rep, rep.rows(db.session, f, period))
    name = f"{code}-{f.start.isoformat()}-{f.end.isoformat()}.csv"
    return Response(stream_with_context(standard.csv_chunks(rep, rows, headers)), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}"})


@bp.route("/reports/<code>.xlsx")
@role_required("admin", "marketer")
def report_xlsx(code: str):
    try:
        rep, f, params, period = _report_args(code)
    except DomainError as exc:
        return _error_page(exc)
    headers = [_(c.label) for c in rep.columns]
    # Written row by row to a temporary file (write-only workbook), then sent with its length,
    # so the browser (and the page's progress bar) knows how far the download is.
    spool = tempfile.TemporaryFile()
    standard.write_xlsx(rep, _readable_rows(rep, rep.rows(db.session, f, period)), headers, spool, title=_(rep.title))
    spool.seek(0)
    name = f"{code}-{f.start.isoformat()}-{f.end.isoformat()}.xlsx"
    return send_file(spool, as_attachment=True, download_name=name,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


# ------------------------------------------------------------------ imports

IMPORT_KIND_LABELS = {"members": _l("Members"), "points": _l("Points balances (lots with expiry)"),
                      "stored-value": _l("Stored value"), "transactions": _l("Past transactions")}
UPLOAD_MAX_BYTES = 50 * 1024 * 1024


def _upload_dir() -> Path:
    path = Path(current_app.instance_path) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _bad_rows(report) -> list[tuple[int, str]]:
    return [(b.line, _(b.reason, **b.params) if b.params else _(b.reason)) for b in report.bad]


@bp.route("/imports", methods=["GET", "POST"])
@role_required("admin")
def imports_page():
    """Upload a file and see its dry run; then import it (the file waits in the instance folder)."""
    kinds = list(IMPORT_KIND_LABELS.items())
    if request.method == "GET":
        return render_template("console/analytics/imports.html", kinds=kinds, columns=imports.COLUMNS)
    request.max_content_length = UPLOAD_MAX_BYTES
    kind = request.form.get("kind", "")
    token = request.form.get("token", "")
    settings = current_settings()
    try:
        if kind not in imports.KINDS:
            raise DomainError(N_("unknown import kind"), code="import_kind")
        if token:   # the second step: import the file the dry run checked
            if not re.fullmatch(r"[0-9a-f]{32}\.(csv|xlsx)", token) or not (_upload_dir() / token).exists():
                raise DomainError(N_("the uploaded file is gone: upload it again"), code="import_gone")
            path = _upload_dir() / token
            report = imports.run_import(db.session, settings, kind, imports.read_rows(path), dry_run=False,
                                        commit=db.session.commit)
            db.session.commit()
            path.unlink(missing_ok=True)
        else:
            upload = request.files.get("file")
            if upload is None or not upload.filename:
                raise DomainError(N_("choose a CSV or XLSX file"), code="import_no_file")
            ext = upload.filename.rsplit(".", 1)[-1].lower()
            if ext not in ("csv", "xlsx"):
                raise DomainError(N_("choose a CSV or XLSX file"), code="import_no_file")
            token = f"{uuid.uuid4().hex}.{ext}"
            upload.save(_upload_dir() / token)
            report = imports.run_import(db.session, settings, kind, imports.read_rows(_upload_dir() / token),
                                        dry_run=True)
            db.session.rollback()
    except DomainError as exc:
        db.session.rollback()
        message = _(exc.detail, **exc.params) if exc.params else _(exc.detail)
        return render_template("console/analytics/imports.html", kinds=kinds, columns=imports.COLUMNS,
                               error=message, kind=kind), 400
    return render_template("console/analytics/imports.html", kinds=kinds, columns=imports.COLUMNS, report=report,
                           bad=_bad_rows(report), kind=kind, kind_label=IMPORT_KIND_LABELS[kind],
                           token=token if report.dry_run else "")
