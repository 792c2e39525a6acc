"""The rule console: list, edit (a form for the common cases, JSON for the rest), pause,
simulate and backtest rules. Marketers and admins; importing a rule set is for admins.

The pages call the rule services (wxcrm.rules.storage, .live, .simulation, .conflicts); the
form <-> JSON conversion is in ``rule_form`` (pure, tested alone).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from wxcrm.config import current_settings
from wxcrm.errors import N_, DomainError
from wxcrm.extensions import db
from wxcrm.ledger.service import available_points
from wxcrm.members.models import Member, Staff, Store, Tier
from wxcrm.rules import simulation, storage
from wxcrm.rules.actions import ACTIONS, export_actions
from wxcrm.rules.backtest import run_backtest
from wxcrm.rules.catalogue import TEMPLATES
from wxcrm.rules.conflicts import find_conflicts
from wxcrm.rules.context import EVENTS
from wxcrm.rules.engine import OUTCOMES
from wxcrm.rules.facts import FACTS, MissingFact, export_facts
from wxcrm.rules.live import UNSAVED_ID_BASE, draft_rule_set, live_rule_set, proposed_rule_set
from wxcrm.rules.models import RULE_STATUSES, Rule
from wxcrm.rules.schema import InvalidRule, Problem
from wxcrm.rules.wording import multiplier_factor, rate_words, zhe
from wxcrm.sales.models import TransactionItem
from wxcrm.timeutil import business_date, to_local, utcnow
from wxcrm.topups.service import topup_events
from wxcrm.web.auth import role_required
from wxcrm.web.console import rule_form
from wxcrm.web.console.rule_form import ACTION_FIELDS, RuleForm, SimulationForm
from wxcrm.web.labels import action_label, event_label, fact_label, problem_message, problem_text, tier_name
from wxcrm.web.paging import int_arg

bp = Blueprint("console_rules", __name__)
EDITORS = ("admin", "marketer")
THIS_RULE_ID = UNSAVED_ID_BASE  # a new rule's id while it is simulated
PAYMENT_METHODS = ("wechat_pay", "cash", "card", "stored_value", "alipay", "other")
MAX_BACKTEST_DAYS = 366

# Status codes are shown as ``_(status)``; listed for `pybabel extract`.
VOCABULARY = (N_("draft"), N_("active"), N_("paused"), N_("archived"))
OUTCOME_BADGE = {"applied": "green", "no_effect": "amber", "lost_exclusive": "amber", "not_matched": "",
                 "out_of_scope": "", "outside_validity": "", "limit_reached": "red", "after_stop": "red",
                 "other_event": "", "not_live": ""}
STATUS_BADGE = {"active": "green", "draft": "blue", "paused": "amber", "archived": ""}


def _zh() -> bool:
    from flask_babel import get_locale
    return str(get_locale()).startswith("zh")


def _points_balance(member_id: int, day) -> int:
    return available_points(db.session, member_id, day)


def _tz() -> ZoneInfo:
    return current_settings().tz


def _point_value() -> int:
    return current_settings().point_value_fen


# ---------------------------------------------------------------- words for people

def rule_title(rule: dict) -> str:
    """The rule's name in the page's language (the Chinese name when no English one)."""
    return (rule.get("name_en") or rule.get("name", "")) if not _zh() else rule.get("name", "")


def action_summary(action: dict) -> str:
    """'每元 1 积分', '九折', 'points x2': an action in a few words."""
    kind, zh = action.get("type"), _zh()
    spec = ACTIONS.get(kind)
    label = (spec.label_zh if zh else spec.label_en) if spec else str(kind)
    try:
        if kind == "earn_points":
            text = rate_words(action)[0 if zh else 1]
            return text + (f"（{action['pending_days']} 天后可用）" if zh and action.get("pending_days") else "")
        if kind == "multiply_points":
            return f"积分 ×{multiplier_factor(action['pct'])}" if zh else f"points x{multiplier_factor(action['pct'])}"
        if kind == "bonus_points":
            return f"赠送 {action['points']} 积分" if zh else f"+{action['points']} bonus points"
        if kind == "discount_percent":
            return zhe(action["pct"]) if zh else f"{action['pct']}% off"
        if kind == "discount_fixed":
            return f"立减 ¥{action['amount_fen'] / 100:.2f}" if zh else f"¥{action['amount_fen'] / 100:.2f} off"
        if kind == "renew_membership":
            words = f"续期 {action['months']} 个月" if zh else f"renew {action['months']} months"
            if action.get("cost_points"):
                words += f"（{action['cost_points']} 积分）" if zh else f" for {action['cost_points']} points"
            return words
        if kind == "issue_coupon":
            return f"{label} {action['template']}"
        if kind == "set_tier":
            return f"{label} → {tier_label(action['tier'])}"
        if kind == "no_points":
            return "本单不积分" if zh else "no points"
    except (KeyError, TypeError):
        pass
    return label


def limits_summary(rule: dict) -> list[str]:
    limits = rule.get("limits") or {}
    words = []
    if "per_day" in limits:
        words.append(_("%(n)d a day", n=limits["per_day"]))
    if "per_month" in limits:
        words.append(_("%(n)d a month", n=limits["per_month"]))
    if "lifetime" in limits:
        words.append(_("%(n)d in all", n=limits["lifetime"]))
    if "budget_points" in limits:
        words.append(_("budget %(n)s points", n=f"{limits['budget_points']:,}"))
    if "budget_fen" in limits:
        words.append(_("budget ¥%(y)s", y=f"{limits['budget_fen'] / 100:,.2f}"))
    return words


def scope_summary(rule: dict) -> list[str]:
    scope, validity = rule.get("scope") or {}, rule.get("validity") or {}
    words = []
    if scope.get("stores"):
        words.append(_("stores %(s)s", s=", ".join(scope["stores"])))
    if scope.get("store_kinds"):
        words.append(" / ".join(_(k) for k in scope["store_kinds"]))
    if scope.get("tiers"):
        words.append(_("tiers %(s)s", s=", ".join(tier_label(code) for code in scope["tiers"])))
    if scope.get("groups"):
        words.append(_("groups %(s)s", s=", ".join(scope["groups"])))
    if validity.get("from") or validity.get("to"):
        words.append(f"{validity.get('from', '…')} – {validity.get('to', '…')}")
    if validity.get("weekdays"):
        words.append(", ".join(weekday_name(d) for d in validity["weekdays"]))
    for window in validity.get("hours") or []:
        words.append(f"{window['from']}–{window['to']}")
    return words


def tier_label(code: str) -> str:
    """A tier code as the tier's name in the page's language (the code if no tier has it)."""
    tier = db.session.scalar(select(Tier).where(Tier.code == code))
    return tier_name(tier) if tier is not None else code


def weekday_name(day: int) -> str:
    return (("周一", "周二", "周三", "周四", "周五", "周六", "周日") if _zh()
            else ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))[day - 1]


def outcome_label(outcome: str) -> str:
    return {"applied": _("Applied"), "no_effect": _("Matched, nothing to give"),
            "lost_exclusive": _("Lost to a better rule"), "not_matched": _("Conditions not met"),
            "out_of_scope": _("Out of scope"), "outside_validity": _("Outside its dates or hours"),
            "limit_reached": _("Limit reached"), "after_stop": _("Stopped by a higher rule"),
            "other_event": _("Another event"), "not_live": _("Not live")}.get(outcome, outcome)


def conflict_label(kind: str) -> str:
    return {"exclusive_overlap": _("Exclusive overlap"), "unreachable": _("Never reached"),
            "never_matches": _("Can never match")}.get(kind, kind)


def effect_label(kind: str) -> str:
    return {"points": _("Points"), "discount": _("Discount"), "coupon": _("Coupon"),
            "stored_value_bonus": _("Stored value"), "renew": _("Renewal"), "cancel": _("Cancellation"),
            "set_tier": _("Tier"), "reset_points": _("Points reset"), "message": _("Message"),
            "no_points": _("No points")}.get(kind, kind)


def payment_label(method: str) -> str:
    return {"wechat_pay": _("WeChat Pay"), "cash": _("Cash"), "card": _("Bank card"),
            "stored_value": _("Stored value"), "alipay": _("Alipay"), "other": _("Other")}.get(method, method)


def op_label(op: str) -> str:
    return {"==": _("is"), "!=": _("is not"), ">": _("more than"), ">=": _("at least"), "<": _("less than"),
            "<=": _("at most"), "between": _("between"), "in": _("is one of"),
            "not_in": _("is none of")}.get(op, op)


def param_label(kind: str, name: str) -> str:
    labels = {
        ("earn_points", "rate"): _("Points"), ("earn_points", "per_yuan"): _("for every … yuan"),
        ("bonus_points", "points"): _("Bonus points"),
        ("multiply_points", "pct"): _("Multiplier in percent (200 = double)"),
        ("hold_points", "days"): _("Hold for (days)"),
        ("discount_percent", "pct"): _("Discount in percent (10 = 10 percent off)"),
        ("discount_fixed", "amount_fen"): _("Amount off (yuan)"), ("discount_fixed", "per_item"): _("Per item"),
        ("issue_coupon", "template"): _("Coupon template"), ("issue_coupon", "count"): _("How many"),
        ("bonus_stored_value", "pct"): _("Bonus in percent of the top-up"),
        ("bonus_stored_value", "amount_fen"): _("or a fixed bonus (yuan)"),
        ("renew_membership", "months"): _("Months"), ("renew_membership", "cost_points"): _("Costs points"),
        ("set_tier", "tier"): _("Tier"), ("send_message", "template"): _("Message template"),
    }
    generic = {"on": _("Only on"), "pending_days": _("Usable after (days)")}
    return labels.get((kind, name)) or generic.get(name, name)


def bool_word(value: str) -> str:
    if not _zh():
        return value
    return {"true": "是", "false": "否"}.get(value, value)


# ---------------------------------------------------------------- the list

@bp.route("/")
@role_required(*EDITORS)
def rule_list():
    event = request.args.get("event") or None
    status = request.args.get("status") or None
    event = event if event in EVENTS else None
    status = status if status in RULE_STATUSES else None
    rows = storage.list_rules(db.session, status=status, event=event)
    everything = storage.list_rules(db.session, include_archived=True)
    counts = {s: sum(1 for r in everything if r.status == s) for s in RULE_STATUSES}
    event_counts = {e: sum(1 for r in everything if r.event == e and r.status != "archived") for e in EVENTS}
    by_event = _by_event(rows)
    conflicts = []
    try:
        conflicts = find_conflicts(proposed_rule_set(db.session, point_value_fen=_point_value()))
    except DomainError:  # a stored rule no longer compiles: the page still lists them
        pass
    conflicts_by_rule: dict[int, list] = {}
    for c in conflicts:
        for rid in c.rule_ids:
            conflicts_by_rule.setdefault(rid, []).append(c)
    templates = [{"key": t.key, "title": t.title_zh if _zh() else t.title_en, "rules": t.rules()}
                 for t in TEMPLATES.values()]
    earning = [storage.rule_json(r) for r in storage.earning_rules(db.session)]
    return render_template("console/rules/list.html", by_event=by_event, events=EVENTS, statuses=RULE_STATUSES,
                           event=event, status=status, counts=counts, event_counts=event_counts,
                           conflicts=conflicts, conflicts_by_rule=conflicts_by_rule, templates=templates,
                           total=len(rows), import_problems=None, earning=earning)


@bp.route("/base-earning", methods=["POST"])
@role_required(*EDITORS)
def add_base_earning():
    """The first-run step from the rules page: the base earning rule, live, when no live
    purchase rule earns points."""
    rule = storage.ensure_base_earning(db.session, staff_id=current_user.id)
    db.session.commit()
    if rule is not None:
        flash(_("Rule “%(name)s” is live: every purchase earns points.", name=rule_title(storage.rule_json(rule))),
              "success")
    return redirect(url_for(".rule_list"))


@bp.route("/<int:rule_id>/status", methods=["POST"])
@role_required(*EDITORS)
def change_status(rule_id: int):
    status = request.form.get("status", "")
    try:
        rule = storage.set_status(db.session, rule_id, status)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(problem_text(exc), "danger")
        return redirect(_back())
    messages = {"active": _("Rule “%(name)s” is live."), "paused": _("Rule “%(name)s” is paused."),
                "archived": _("Rule “%(name)s” is archived."), "draft": _("Rule “%(name)s” is a draft again.")}
    flash(messages[rule.status] % {"name": rule_title(storage.rule_json(rule))}, "success")
    return redirect(_back())


def _by_event(rows: list[Rule]) -> dict[str, list[dict]]:
    """Rules grouped by event (in the order events are listed), each group by priority."""
    groups: dict[str, list[dict]] = {event: [] for event in EVENTS}
    for r in rows:
        groups.setdefault(r.event, []).append(storage.rule_json(r))
    return {event: group for event, group in groups.items() if group}


def _back() -> str:
    """Where a status button came from (the list with its filters, or the editor)."""
    target = request.form.get("next", "")
    return target if target.startswith("/") and not target.startswith("//") else url_for(".rule_list")


@bp.route("/templates/<key>", methods=["POST"])
@role_required(*EDITORS)
def create_from_template(key: str):
    """Every rule of a template, as drafts (a template of one rule opens in the editor instead)."""
    template = TEMPLATES.get(key)
    if template is None:
        abort(404)
    try:
        made = [storage.create_rule(db.session, {**r, "status": "draft"}, staff_id=current_user.id)
                for r in template.rules()]
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(problem_text(exc), "danger")
        return redirect(url_for(".rule_list"))
    flash(_("%(n)d draft rules created from “%(t)s”. Check them, then switch them on.", n=len(made),
            t=template.title_zh if _zh() else template.title_en), "success")
    return redirect(url_for(".rule_list", status="draft"))


@bp.route("/export")
@role_required(*EDITORS)
def export():
    body = json.dumps({"rules": storage.export_rules(db.session)}, ensure_ascii=False, indent=2)
    name = f"wxcrm-rules-{business_date(_tz()).isoformat()}.json"
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/import", methods=["POST"])
@role_required("admin")
def import_rule_set():
    upload = request.files.get("file")
    text = upload.read().decode("utf-8-sig") if upload and upload.filename else request.form.get("json", "")
    problems: list[Problem] = []
    try:
        loaded = json.loads(text)
        data = loaded.get("rules") if isinstance(loaded, dict) else loaded
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ValueError
    except json.JSONDecodeError as exc:
        problems = [Problem("", _("not JSON: %(msg)s (line %(line)d, column %(col)d)", msg=exc.msg,
                                  line=exc.lineno, col=exc.colno))]
    except ValueError:
        problems = [Problem("", _("expected a list of rules, or {\"rules\": [...]}"))]
    if not problems:
        try:
            result = storage.import_rules(db.session, data, staff_id=current_user.id)
            db.session.commit()
            flash(_("Imported: %(c)d created, %(u)d updated.", c=result["created"], u=result["updated"]), "success")
            return redirect(url_for(".rule_list"))
        except InvalidRule as exc:
            db.session.rollback()
            problems = exc.problems
        except DomainError as exc:
            db.session.rollback()
            problems = [Problem("", problem_text(exc))]
    flash(_("Nothing was imported: fix the rules below and try again."), "danger")
    rows = storage.list_rules(db.session)
    by_event = _by_event(rows)
    templates = [{"key": t.key, "title": t.title_zh if _zh() else t.title_en, "rules": t.rules()}
                 for t in TEMPLATES.values()]
    everything = storage.list_rules(db.session, include_archived=True)
    return render_template("console/rules/list.html", by_event=by_event, events=EVENTS, statuses=RULE_STATUSES,
                           event=None, status=None, counts={s: sum(1 for r in everything if r.status == s)
                                                            for s in RULE_STATUSES},
                           event_counts={e: sum(1 for r in everything if r.event == e) for e in EVENTS},
                           conflicts=[], conflicts_by_rule={}, templates=templates, total=len(rows),
                           import_problems=problems), 422


# ---------------------------------------------------------------- the editor

@dataclass
class EditorState:
    """Everything the editor page shows besides the stored rule."""
    form: RuleForm
    mode: str = "form"                  # form / json
    json_text: str = ""
    note: str = ""                      # why the rule opened as JSON
    problems: list | None = None
    sim: SimulationForm | None = None
    sim_problems: list | None = None
    results: dict | None = None         # {"live": ..., "draft": ...}
    conflicts: list | None = None


def _rule_for_json_tab(rule: dict) -> str:
    shown = {k: v for k, v in rule.items() if k not in ("id", "version")}
    return json.dumps(shown, ensure_ascii=False, indent=2)


def _state_for(rule: dict) -> EditorState:
    try:
        form = rule_form.rule_to_form(rule)
        return EditorState(form=form, json_text=_rule_for_json_tab(rule))
    except rule_form.NotRepresentable as exc:
        return EditorState(form=RuleForm(name=rule.get("name", ""), event=rule.get("event", "purchase")),
                           mode="json", json_text=_rule_for_json_tab(rule),
                           note=_("This rule uses something the form cannot show (%(why)s), so it opens as JSON.",
                                  why=str(exc)))


def _default_sim(event: str) -> SimulationForm:
    now = to_local(utcnow(), _tz()).replace(second=0, microsecond=0)
    store = db.session.scalar(select(Store.code).where(Store.active.is_(True)).order_by(Store.code))
    lines = [("", "", "1", "")] if event in ("purchase", "refund") else []
    return SimulationForm(lines=lines, store=store or "", at=now.strftime("%Y-%m-%dT%H:%M"))


@bp.route("/new", methods=["GET", "POST"])
@role_required(*EDITORS)
def new_rule():
    if request.method == "POST":
        return _handle_post(None)
    template_key, part = request.args.get("template"), int_arg("part", 0, low=0, high=100)
    template = TEMPLATES.get(template_key) if template_key else None
    if template is not None:
        parts = template.rules()
        rule = parts[min(max(part, 0), len(parts) - 1)]
    elif int_arg("copy"):
        source = storage.get_rule(db.session, int_arg("copy"))
        rule = {k: v for k, v in storage.rule_json(source).items() if k not in ("id", "version")}
        rule["name"] = f"{rule['name']}（副本）"
        if rule.get("name_en"):
            rule["name_en"] = f"{rule['name_en']} (copy)"
        rule["status"] = "draft"
    else:
        rule = {"name": "", "event": request.args.get("event") if request.args.get("event") in EVENTS
                else "purchase", "status": "draft", "priority": 0,
                "actions": [{"type": "earn_points", "rate": 1}]}
    state = _state_for(rule)
    if template is not None:
        state.form.status = "draft"
    state.sim = _default_sim(state.form.event)
    state.conflicts = _conflicts_with(None, rule)
    return _render_editor(None, state, template=template, part=part)


@bp.route("/<int:rule_id>", methods=["GET", "POST"])
@role_required(*EDITORS)
def edit_rule(rule_id: int):
    stored = db.session.get(Rule, rule_id) or abort(404)
    if request.method == "POST":
        return _handle_post(stored)
    version = int_arg("version")
    known = {v.version: v for v in stored.versions}
    rule = storage.rule_json(stored, known[version]) if version in known else storage.rule_json(stored)
    rule["status"] = stored.status
    state = _state_for(rule)
    if version in known and version != stored.current_version:
        flash(_("Showing version %(v)d. Saving makes it the newest version.", v=version), "info")
    state.sim = _default_sim(state.form.event)
    state.conflicts = _conflicts_with(stored.id, rule)
    return _render_editor(stored, state)


def _handle_post(stored: Rule | None):
    action = request.form.get("do", "save")
    mode = "json" if request.form.get("mode") == "json" else "form"
    state = EditorState(form=RuleForm(), mode=mode)
    if mode == "json":
        state.json_text = request.form.get("rule_json", "")
        rule, problems = _rule_from_json_text(state.json_text)
        if rule is not None:
            try:
                state.form = rule_form.rule_to_form(rule)
            except rule_form.NotRepresentable:
                state.form = RuleForm(name=str(rule.get("name", "")), event=str(rule.get("event", "purchase")))
    else:
        state.form, rule, problems = rule_form.parse_rule_post(request.form)
        state.json_text = _rule_for_json_tab(rule)
    state.sim = rule_form.simulation_from_post(request.form)

    if action == "to_json" and mode == "form":
        state.mode, state.problems = "json", problems or None
        return _render_editor(stored, state)
    if action == "to_form" and mode == "json":
        if rule is None:
            state.problems = problems
            return _render_editor(stored, state), 422
        try:
            state.form = rule_form.rule_to_form(rule)
            state.mode = "form"
        except rule_form.NotRepresentable as exc:
            state.note = _("This rule uses something the form cannot show (%(why)s), so it stays JSON.", why=str(exc))
        return _render_editor(stored, state)
    if problems:
        state.problems = problems
        return _render_editor(stored, state), 422
    if action == "simulate":
        return _simulate_into(stored, rule, state)
    if action == "backtest":
        return _backtest_page(_draft_rules_with(stored.id if stored else None, rule),
                              draft_label=_("the live rules with “%(name)s” as edited", name=rule_title(rule)),
                              days=int_arg("days", 30, high=100_000, form=True))
    return _save(stored, rule, state)


def _rule_from_json_text(text: str) -> tuple[dict | None, list[Problem]]:
    try:
        rule = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [Problem("", _("not JSON: %(msg)s (line %(line)d, column %(col)d)", msg=exc.msg,
                                    line=exc.lineno, col=exc.colno))]
    if not isinstance(rule, dict):
        return None, [Problem("", _("a rule is a JSON object {…}"))]
    return {k: v for k, v in rule.items() if k not in ("id", "version")}, []


def _save(stored: Rule | None, rule: dict, state: EditorState):
    try:
        if stored is None:
            saved = storage.create_rule(db.session, rule, staff_id=current_user.id)
            db.session.commit()
            flash(_("Rule “%(name)s” saved as a %(status)s (version 1).", name=rule_title(rule),
                    status=_(saved.status)), "success")
        else:
            before = stored.current_version, stored.status
            saved = storage.update_rule(db.session, stored.id, rule, staff_id=current_user.id)
            db.session.commit()
            if (saved.current_version, saved.status) == before:
                flash(_("Nothing changed."), "info")
            elif saved.current_version != before[0]:
                flash(_("Saved as version %(v)d.", v=saved.current_version), "success")
            else:
                flash(_("Status is now %(status)s.", status=_(saved.status)), "success")
    except InvalidRule as exc:
        db.session.rollback()
        state.problems = exc.problems
        return _render_editor(stored, state), 422
    except DomainError as exc:
        db.session.rollback()
        state.problems = [Problem(next(iter(exc.fields), ""), problem_text(exc))]
        return _render_editor(stored, state), 422
    return redirect(url_for(".edit_rule", rule_id=saved.id))


def _draft_rules_with(rule_id: int | None, rule: dict) -> list[dict]:
    """The live rules with this one in place of its stored version (or added), as a draft set."""
    live = [storage.rule_json(r) for r in db.session.scalars(select(Rule).where(Rule.status == "active"))
            if r.id != rule_id]
    this = {k: v for k, v in rule.items() if k != "version"}
    this["id"] = rule_id or THIS_RULE_ID
    this["status"] = "draft"  # takes part in a draft set whatever its status
    return live + [this]


def _draft_set_with(rule_id: int | None, rule: dict):
    return draft_rule_set(_draft_rules_with(rule_id, rule), point_value_fen=_point_value())


def _conflicts_with(rule_id: int | None, rule: dict) -> list | None:
    """Conflicts that involve this rule, were it live beside the live rules."""
    try:
        compiled = _draft_set_with(rule_id, rule)
    except DomainError:
        return None
    this = rule_id or THIS_RULE_ID
    return [c for c in find_conflicts(compiled) if this in c.rule_ids]


def _simulate_into(stored: Rule | None, rule: dict, state: EditorState):
    rule_id = stored.id if stored else None
    draft_rules = _draft_rules_with(rule_id, rule)
    state.results, state.sim_problems = _run_simulation(state.sim, rule.get("event", "purchase"), draft_rules)
    state.conflicts = _conflicts_with(rule_id, rule)
    status = 422 if state.sim_problems else 200
    return _render_editor(stored, state), status


def _run_simulation(sim: SimulationForm, event: str, draft_rules: list[dict] | None) -> tuple[dict | None, list]:
    """The basket under the live rules and under the draft set, side by side."""
    point_value = _point_value()
    live = live_rule_set(db.session, point_value_fen=point_value)
    windows = set(live.spend_windows) | set(live.purchase_windows)
    if draft_rules is not None:
        try:
            draft = draft_rule_set(draft_rules, point_value_fen=point_value)
        except InvalidRule as exc:
            return None, exc.problems
        windows |= set(draft.spend_windows) | set(draft.purchase_windows)
    data, problems = rule_form.simulation_request(sim, event=event, windows=tuple(sorted(windows)))
    if sim.card_no:
        member = db.session.scalar(select(Member).where(Member.card_no == sim.card_no))
        if member is None:
            problems.append(Problem("member.card_no", _("no member has card %(card)s", card=sim.card_no)))
        else:
            data["member_id"] = member.id
            data.pop("member", None)
    if problems:
        return None, problems
    results = {}
    try:
        results["live"] = simulation.simulate(db.session, data, settings=current_settings(), points_balance_of=_points_balance)
        if draft_rules is not None:
            results["draft"] = simulation.simulate(db.session, {**data, "rules": draft_rules},
                                                   settings=current_settings(), points_balance_of=_points_balance)
    except MissingFact as exc:
        return None, [Problem("member", str(exc))]
    except DomainError as exc:
        return None, [Problem(next(iter(exc.fields), ""), problem_text(exc))]
    finally:
        db.session.rollback()  # simulation reads only
    names = {r.id: storage.rule_json(r) for r in db.session.scalars(select(Rule))}
    names.update({r["id"]: r for r in draft_rules or [] if "id" in r})  # the edited version's own name
    tier_words = _tier_words()
    for result in results.values():
        for row in result["rules"]:
            stored = names.get(row["rule_id"])
            row["title"] = rule_title(stored) if stored else row["rule"]
            # The engine's reasons name tiers by code; people read the tier's name.
            row["reason"] = tier_words(row["reason"], zh=False)
            row["reason_zh"] = tier_words(row["reason_zh"], zh=True)
    return results, []


def _tier_words():
    """A function putting tier names in place of tier codes in a sentence."""
    tiers = list(db.session.scalars(select(Tier)))
    if not tiers:
        return lambda text, zh: text
    pattern = re.compile(r"(?<![A-Za-z0-9_-])(" + "|".join(re.escape(t.code) for t in tiers) + r")(?![A-Za-z0-9_-])")
    by_code = {t.code: t for t in tiers}

    def replace(text: str, zh: bool) -> str:
        return pattern.sub(lambda m: by_code[m.group(1)].name if zh
                           else (by_code[m.group(1)].name_en or by_code[m.group(1)].name), text or "")
    return replace


def _render_editor(stored: Rule | None, state: EditorState, *, template=None, part: int = 0):
    tiers = list(db.session.scalars(select(Tier).order_by(Tier.rank)))
    stores = list(db.session.scalars(select(Store).order_by(Store.code)))
    groups = sorted({g for g in (storage.rule_json(r).get("exclusive_group") for r in storage.list_rules(db.session)) if g})
    history = []
    if stored is not None:
        staff = {s.id: s.username for s in db.session.scalars(select(Staff))}
        for v in reversed(stored.versions):
            history.append({"version": v.version, "created_at": v.created_at, "by": staff.get(v.created_by, ""),
                            "definition": json.dumps(v.definition, ensure_ascii=False, indent=2),
                            "current": v.version == stored.current_version})
    problems = state.problems or []
    return render_template(
        "console/rules/edit.html", stored=stored, state=state, form=state.form, problems=problems,
        errors_at=lambda prefix: [problem_message(p) for p in rule_form.problems_under(problems, prefix)],
        errors_exact=lambda *paths: [problem_message(p) for p in problems if p.path in paths],
        events=EVENTS, statuses=RULE_STATUSES, facts=export_facts(), fact_specs=FACTS, actions=export_actions(),
        action_fields=ACTION_FIELDS, tiers=tiers, stores=stores, exclusive_groups=groups,
        history=history, template=template, part=part, payment_methods=PAYMENT_METHODS,
        this_rule_id=stored.id if stored else THIS_RULE_ID, weekday_name=weekday_name,
        sim_errors_at=lambda prefix: [problem_message(p) for p in rule_form.problems_under(state.sim_problems or [], prefix)],
        rule_title=rule_title, categories=_known_categories())


def _known_categories() -> list[str]:
    return sorted(c for c in db.session.scalars(select(TransactionItem.category).distinct().limit(100)) if c)


# ---------------------------------------------------------------- a standalone simulator

@bp.route("/simulate", methods=["GET", "POST"])
@role_required(*EDITORS)
def simulate_page():
    """A basket under the live rules, and under the live rules plus every draft."""
    sim = _default_sim("purchase") if request.method == "GET" else rule_form.simulation_from_post(request.form)
    event = request.form.get("event", "purchase") if request.method == "POST" else "purchase"
    event = event if event in EVENTS else "purchase"
    results, problems = None, []
    if request.method == "POST":
        proposed = [storage.rule_json(r) for r in db.session.scalars(
            select(Rule).where(Rule.status.in_(("active", "draft"))))]
        results, problems = _run_simulation(sim, event, proposed)
    return render_template("console/rules/simulate.html", sim=sim, event=event, events=EVENTS, results=results,
                           problems=problems, stores=list(db.session.scalars(select(Store).order_by(Store.code))),
                           tiers=list(db.session.scalars(select(Tier).order_by(Tier.rank))),
                           payment_methods=PAYMENT_METHODS, categories=_known_categories(),
                           sim_errors_at=lambda prefix: [problem_message(p) for p in rule_form.problems_under(problems, prefix)],
                           this_rule_id=None), (422 if problems else 200)


# ---------------------------------------------------------------- backtest

@bp.route("/backtest", methods=["GET", "POST"])
@role_required(*EDITORS)
def backtest():
    candidates = [r for r in storage.list_rules(db.session) if r.status != "active"]
    if request.method == "GET":
        return render_template("console/rules/backtest.html", report=None, days=30, candidates=candidates,
                               chosen=int_arg("rule_id"), draft_label="", rows=[],
                               max_days=MAX_BACKTEST_DAYS, point_value=_point_value())
    days = int_arg("days", 30, high=100_000, form=True)
    rule_id = int_arg("rule_id", form=True)
    if rule_id:
        stored = db.session.get(Rule, rule_id) or abort(404)
        rule = storage.rule_json(stored)
        return _backtest_page(_draft_rules_with(stored.id, rule), days=days, chosen=rule_id, candidates=candidates,
                              draft_label=_("the live rules with “%(name)s”", name=rule_title(rule)))
    return _backtest_page(None, draft_label=_("the live rules plus every draft"), days=days,
                          candidates=candidates)


def _backtest_page(draft_rules: list[dict] | None, *, draft_label: str, days: int, chosen: int | None = None,
                   candidates=None):
    """Run the backtest: `draft_rules` beside the live set (None: the live rules plus every draft)."""
    days = min(max(days or 30, 1), MAX_BACKTEST_DAYS)
    started = datetime.now()
    try:
        today = business_date(_tz())
        report = run_backtest(db.session, current_settings(), days=days, today=today, draft_rules=draft_rules,
                              topups=topup_events(db.session, since=today - timedelta(days=days - 1)))
    except DomainError as exc:
        db.session.rollback()
        flash(problem_text(exc), "danger")
        return redirect(url_for(".backtest"))
    finally:
        db.session.rollback()  # the backtest writes nothing; end the read
    seconds = (datetime.now() - started).total_seconds()
    if candidates is None:
        candidates = [r for r in storage.list_rules(db.session) if r.status != "active"]
    return render_template("console/rules/backtest.html", report=report, days=days, candidates=candidates,
                           chosen=chosen, draft_label=draft_label, rows=_backtest_rows(report),
                           seconds=seconds, max_days=MAX_BACKTEST_DAYS, point_value=_point_value())


def _backtest_rows(report: dict) -> list[dict]:
    """One row per rule, live beside draft."""
    titles = {r.id: rule_title(storage.rule_json(r)) for r in db.session.scalars(select(Rule))}
    rows: dict[int, dict] = {}
    for side in ("live", "draft"):
        for r in report[side]["rules"]:
            row = rows.setdefault(r["rule_id"], {"rule_id": r["rule_id"],
                                                 "title": titles.get(r["rule_id"], r["rule"]),
                                                 "live": None, "draft": None})
            row[side] = r
    return sorted(rows.values(), key=lambda row: -max((row[s] or {}).get("points", 0) for s in ("live", "draft")))


# ---------------------------------------------------------------- page helpers for the templates

@bp.app_template_global()
def rule_badge_class(status: str) -> str:
    return STATUS_BADGE.get(status, "")


@bp.app_template_global()
def outcome_badge_class(outcome: str) -> str:
    return OUTCOME_BADGE.get(outcome, "")


@bp.app_context_processor
def rule_words():
    if request.blueprint != "console_rules":
        return {}
    return {"action_summary": action_summary, "limits_summary": limits_summary, "scope_summary": scope_summary,
            "rule_title": rule_title, "outcomes": OUTCOMES, "fact_label": fact_label, "action_label": action_label,
            "op_label": op_label, "param_label": param_label, "bool_word": bool_word,
            "weekday_name": weekday_name, "is_zh": _zh(), "event_label": event_label,
            "outcome_label": outcome_label, "conflict_label": conflict_label, "effect_label": effect_label,
            "payment_label": payment_label}
