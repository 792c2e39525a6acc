"""The rule editor's form as plain functions: posted fields -> rule JSON, rule JSON -> form rows.

No Flask and no database here, so the conversion is tested alone. The page posts flat
fields; rows (conditions, actions, hour windows, basket lines) are parallel lists, so a
row the browser clones posts one value per field and the lists stay aligned.

Marketers think in yuan: money facts and money parameters are shown and typed in yuan
and stored in fen. A rule the form cannot show faithfully (``not``, nested all/any,
line exclusions, message data) raises ``NotRepresentable`` and opens in JSON mode.

The form checks only what it must to build JSON (a number is a number); the rule
schema judges the rest, with the same paths (``actions[0].rate``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from wxcrm.errors import N_
from wxcrm.money import fen_to_yuan_str, yuan_str_to_fen
from wxcrm.rules.actions import ACTIONS
from wxcrm.rules.facts import FACTS
from wxcrm.rules.schema import Problem

# Per action type: its parameters as the form shows them. kind: int, yuan (stored as
# fen), code, selector (basket lines: by categories or SKUs), bool.
ACTION_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "earn_points": (("rate", "int"), ("per_yuan", "int"), ("on", "selector"), ("pending_days", "int")),
    "bonus_points": (("points", "int"), ("pending_days", "int")),
    "multiply_points": (("pct", "int"), ("pending_days", "int")),
    "no_points": (),
    "hold_points": (("days", "int"),),
    "discount_percent": (("pct", "int"), ("on", "selector")),
    "discount_fixed": (("amount_fen", "yuan"), ("on", "selector"), ("per_item", "bool")),
    "issue_coupon": (("template", "code"), ("count", "int")),
    "bonus_stored_value": (("pct", "int"), ("amount_fen", "yuan")),
    "renew_membership": (("months", "int"), ("cost_points", "int")),
    "cancel_membership": (),
    "set_tier": (("tier", "code"),),
    "reset_points": (),
    "send_message": (("template", "code"),),
}
# Parameters only the JSON editor offers.
JSON_ONLY_PARAMS = frozenset({("send_message", "data")})
SELECTOR_KINDS = ("categories", "skus")
LIST_SPLIT = re.compile(r"[,，、;；\n]")
TRUE_WORDS = {"true", "yes", "y", "1", "是", "对"}
FALSE_WORDS = {"false", "no", "n", "0", "否", "不"}
RULE_KEYS = frozenset({"id", "version", "name", "name_en", "description", "event", "status", "priority",
                       "conditions", "actions", "validity", "scope", "stop", "exclusive_group", "limits"})


class NotRepresentable(ValueError):
    """The form cannot show this rule without changing it: edit it as JSON."""


class FormData(Protocol):  # werkzeug's MultiDict, or anything like it
    def get(self, key, default=None): ...
    def getlist(self, key) -> list: ...


@dataclass
class ConditionRow:
    fact: str = ""
    op: str = ""
    value: str = ""
    window: str = ""        # window_days
    items_by: str = ""      # categories / skus / "" (every line)
    items: str = ""


@dataclass
class ActionRow:
    type: str = ""
    params: dict[str, str] = field(default_factory=dict)  # "on" and "on_by" for selectors


@dataclass
class RuleForm:
    name: str = ""
    name_en: str = ""
    description: str = ""
    event: str = "purchase"
    status: str = "draft"
    priority: str = ""
    combinator: str = "all"
    conditions: list[ConditionRow] = field(default_factory=list)
    actions: list[ActionRow] = field(default_factory=list)
    valid_from: str = ""
    valid_to: str = ""
    weekdays: list[int] = field(default_factory=list)
    hours: list[tuple[str, str]] = field(default_factory=list)
    stores: list[str] = field(default_factory=list)
    store_kinds: list[str] = field(default_factory=list)
    tiers: list[str] = field(default_factory=list)
    groups: str = ""
    per_day: str = ""
    per_month: str = ""
    per_year: str = ""
    per_membership_year: str = ""
    lifetime: str = ""
    budget_points: str = ""
    budget_yuan: str = ""
    stop: bool = False
    exclusive_group: str = ""

    def condition_path(self, i: int) -> str:
        """Where the rule schema reports on the i-th condition row."""
        return "conditions" if len(self.conditions) == 1 else f"conditions.{self.combinator}[{i}]"


# ---------------------------------------------------------------- rule JSON -> form

def rule_to_form(rule: dict) -> RuleForm:
    """The form rows for a rule; NotRepresentable when the form would lose something."""
    unknown = set(rule) - RULE_KEYS
    if unknown:
        raise NotRepresentable(f"unknown fields: {', '.join(sorted(unknown))}")
    validity, scope, limits = rule.get("validity") or {}, rule.get("scope") or {}, rule.get("limits") or {}
    combinator, leaves = _leaves(rule.get("conditions"))
    hours = []
    for window in validity.get("hours") or []:
        hours.append((str(window.get("from", "")), str(window.get("to", ""))))
    return RuleForm(
        name=str(rule.get("name", "")), name_en=str(rule.get("name_en", "")),
        description=str(rule.get("description", "")), event=str(rule.get("event", "purchase")),
        status=str(rule.get("status", "draft")), priority=_text(rule.get("priority")), combinator=combinator,
        conditions=[_condition_row(leaf) for leaf in leaves],
        actions=[_action_row(action) for action in rule.get("actions") or []],
        valid_from=str(validity.get("from", "")), valid_to=str(validity.get("to", "")),
        weekdays=[int(d) for d in validity.get("weekdays") or []], hours=hours,
        stores=list(scope.get("stores") or []), store_kinds=list(scope.get("store_kinds") or []),
        tiers=list(scope.get("tiers") or []), groups=", ".join(scope.get("groups") or []),
        per_day=_text(limits.get("per_day")), per_month=_text(limits.get("per_month")),
        per_year=_text(limits.get("per_year")), per_membership_year=_text(limits.get("per_membership_year")),
        lifetime=_text(limits.get("lifetime")), budget_points=_text(limits.get("budget_points")),
        budget_yuan=_yuan_text(limits.get("budget_fen")), stop=bool(rule.get("stop", False)),
        exclusive_group=str(rule.get("exclusive_group") or ""),
    )


def _leaves(conditions) -> tuple[str, list[dict]]:
    if conditions is None:
        return "all", []
    if not isinstance(conditions, dict):
        raise NotRepresentable("conditions are not an object")
    for key in ("all", "any"):
        if key in conditions:
            children = conditions[key]
            if len(conditions) != 1 or not isinstance(children, list):
                raise NotRepresentable("conditions have an unusual shape")
            if not all(isinstance(c, dict) and "fact" in c for c in children):
                raise NotRepresentable("conditions nest all / any groups")
            return key, children
    if "not" in conditions:
        raise NotRepresentable("conditions use not")
    return "all", [conditions]


def _condition_row(leaf: dict) -> ConditionRow:
    if set(leaf) - {"fact", "op", "value", "window_days", "items"}:
        raise NotRepresentable("a condition has fields the form does not know")
    spec = FACTS.get(leaf.get("fact"))
    if spec is None or leaf.get("op") not in spec.operators:
        raise NotRepresentable("a condition names an unknown fact or operator")
    items_by, items = _selector_text(leaf.get("items"))
    return ConditionRow(fact=spec.name, op=leaf["op"], value=_value_text(spec.type, leaf["op"], leaf.get("value")),
                        window=_text(leaf.get("window_days")), items_by=items_by, items=items)


def _value_text(kind: str, op: str, value) -> str:
    if op in ("in", "not_in", "between"):
        if not isinstance(value, list):
            raise NotRepresentable("a list value is not a list")
        return ", ".join(_scalar_text(kind, v) for v in value)
    return _scalar_text(kind, value)


def _scalar_text(kind: str, value) -> str:
    if kind == "bool":
        if not isinstance(value, bool):
            raise NotRepresentable("a yes/no value is not true or false")
        return "true" if value else "false"
    if kind == "money":
        if not isinstance(value, int) or isinstance(value, bool):
            raise NotRepresentable("an amount is not whole fen")
        return fen_to_yuan_str(value)
    if isinstance(value, (dict, list)) or value is None:
        raise NotRepresentable("a value has an unusual shape")
    return str(value)


def _selector_text(selector) -> tuple[str, str]:
    if selector is None:
        return "", ""
    if not isinstance(selector, dict) or len(selector) != 1 or next(iter(selector)) not in SELECTOR_KINDS:
        raise NotRepresentable("a line choice excludes items or mixes SKUs and categories")
    by, values = next(iter(selector.items()))
    return by, ", ".join(map(str, values))


def _action_row(action: dict) -> ActionRow:
    kind = action.get("type")
    fields = dict(ACTION_FIELDS.get(kind, ()))
    if kind not in ACTION_FIELDS or set(action) - {"type"} - set(fields):
        raise NotRepresentable(f"action {kind!r} has parameters only JSON can edit")
    params: dict[str, str] = {}
    for name, value in action.items():
        if name == "type":
            continue
        param_kind = fields[name]
        if param_kind == "selector":
            params["on_by"], params["on"] = _selector_text(value)
        elif param_kind == "yuan":
            params[name] = _scalar_text("money", value)
        elif param_kind == "bool":
            if not isinstance(value, bool):
                raise NotRepresentable("a yes/no parameter is not true or false")
            params[name] = "yes" if value else ""
        elif param_kind == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                raise NotRepresentable("a number parameter is not a whole number")
            params[name] = str(value)
        else:
            params[name] = _scalar_text("text", value)
    return ActionRow(kind, params)


def _text(value) -> str:
    return "" if value is None else str(value)


def _yuan_text(fen) -> str:
    return "" if fen is None else fen_to_yuan_str(fen)


# ---------------------------------------------------------------- posted fields -> form

def form_from_post(data: FormData) -> RuleForm:
    """The form as posted, kept as text (to show again with its errors). Blank rows go."""
    conditions = []
    facts, ops, values = data.getlist("cond_fact"), data.getlist("cond_op"), data.getlist("cond_value")
    windows, items_by, items = data.getlist("cond_window"), data.getlist("cond_items_by"), data.getlist("cond_items")
    for i, fact in enumerate(facts):
        row = ConditionRow(fact.strip(), _at(ops, i), _at(values, i).strip(), _at(windows, i).strip(),
                           _at(items_by, i), _at(items, i).strip())
        if row.fact:
            conditions.append(row)
    actions = []
    for i, kind in enumerate(data.getlist("act_type")):
        if not kind:
            continue
        params = {}
        for name, param_kind in ACTION_FIELDS.get(kind, ()):
            if param_kind == "selector":
                params["on_by"] = _at(data.getlist(f"act_{kind}_on_by"), i)
                params["on"] = _at(data.getlist(f"act_{kind}_on"), i).strip()
            else:
                params[name] = _at(data.getlist(f"act_{kind}_{name}"), i).strip()
        actions.append(ActionRow(kind, params))
    hours = [(f.strip(), t.strip()) for f, t in zip(data.getlist("hour_from"), data.getlist("hour_to"))
             if f.strip() or t.strip()]
    weekdays = sorted({int(d) for d in data.getlist("weekdays") if str(d).isdigit()})
    return RuleForm(
        name=_get(data, "name"), name_en=_get(data, "name_en"), description=_get(data, "description"),
        event=_get(data, "event") or "purchase", status=_get(data, "status") or "draft",
        priority=_get(data, "priority"), combinator="any" if data.get("combinator") == "any" else "all",
        conditions=conditions, actions=actions, valid_from=_get(data, "valid_from"), valid_to=_get(data, "valid_to"),
        weekdays=weekdays, hours=hours, stores=_distinct(data.getlist("stores")),
        store_kinds=_distinct(data.getlist("store_kinds")), tiers=_distinct(data.getlist("tiers")),
        groups=_get(data, "groups"), per_day=_get(data, "per_day"), per_month=_get(data, "per_month"),
        per_year=_get(data, "per_year"), per_membership_year=_get(data, "per_membership_year"),
        lifetime=_get(data, "lifetime"), budget_points=_get(data, "budget_points"),
        budget_yuan=_get(data, "budget_yuan"), stop=data.get("stop") in ("on", "1", "true", "yes"),
        exclusive_group=_get(data, "exclusive_group"),
    )


def _at(values: list, i: int) -> str:
    return values[i] if i < len(values) and values[i] is not None else ""


def _get(data: FormData, key: str) -> str:
    return (data.get(key) or "").strip()


def _distinct(values) -> list[str]:
    seen = []
    for v in values:
        v = (v or "").strip()
        if v and v not in seen:
            seen.append(v)
    return seen


# ---------------------------------------------------------------- form -> rule JSON

class _Problems(list):
    def add(self, path: str, message: str) -> None:
        self.append(Problem.of(path, message))


def form_to_rule(form: RuleForm) -> tuple[dict, list[Problem]]:
    """The rule JSON the form describes, and what stops the form from building it.

    With problems, the rule is partial: show the problems, save nothing.
    """
    problems = _Problems()
    rule: dict = {"name": form.name, "event": form.event, "status": form.status}
    if form.name_en:
        rule["name_en"] = form.name_en
    if form.description:
        rule["description"] = form.description
    _put_int(rule, "priority", form.priority, "priority", problems)
    leaves = [_condition(form, row, i, problems) for i, row in enumerate(form.conditions)]
    if len(leaves) == 1:
        rule["conditions"] = leaves[0]
    elif leaves:
        rule["conditions"] = {form.combinator: leaves}
    rule["actions"] = [_action(row, i, problems) for i, row in enumerate(form.actions)]
    validity: dict = {}
    if form.valid_from:
        validity["from"] = form.valid_from
    if form.valid_to:
        validity["to"] = form.valid_to
    if form.weekdays:
        validity["weekdays"] = sorted(form.weekdays)
    if form.hours:
        validity["hours"] = [{"from": f, "to": t} for f, t in form.hours]
    if validity:
        rule["validity"] = validity
    scope: dict = {}
    for key, values in (("stores", form.stores), ("store_kinds", form.store_kinds), ("tiers", form.tiers),
                        ("groups", split_list(form.groups))):
        if values:
            scope[key] = list(values)
    if scope:
        rule["scope"] = scope
    if form.stop:
        rule["stop"] = True
    if form.exclusive_group:
        rule["exclusive_group"] = form.exclusive_group
    limits: dict = {}
    for key in ("per_day", "per_month", "per_year", "per_membership_year", "lifetime", "budget_points"):
        _put_int(limits, key, getattr(form, key), f"limits.{key}", problems)
    _put_yuan(limits, "budget_fen", form.budget_yuan, "limits.budget_fen", problems)
    if limits:
        rule["limits"] = limits
    return rule, list(problems)


def _condition(form: RuleForm, row: ConditionRow, i: int, problems: _Problems) -> dict:
    path = form.condition_path(i)
    leaf: dict = {"fact": row.fact, "op": row.op}
    spec = FACTS.get(row.fact)
    if row.window:
        _put_int(leaf, "window_days", row.window, f"{path}.window_days", problems)
    if row.items_by in SELECTOR_KINDS and split_list(row.items):
        leaf["items"] = {row.items_by: split_list(row.items)}
    if spec is None:
        leaf["value"] = row.value  # the schema names the unknown fact
        return leaf
    texts = split_list(row.value) if row.op in ("in", "not_in", "between") else [row.value]
    if row.op == "between" and len(texts) != 2:
        problems.add(f"{path}.value", N_("must be two values: lowest, highest"))
        leaf["value"] = texts
        return leaf
    values = []
    for n, text in enumerate(texts):
        where = f"{path}.value[{n}]" if len(texts) > 1 or row.op in ("in", "not_in") else f"{path}.value"
        values.append(_parse_value(spec.type, text, where, problems))
    leaf["value"] = values if row.op in ("in", "not_in", "between") else values[0]
    return leaf


def _parse_value(kind: str, text: str, path: str, problems: _Problems):
    if text == "":
        problems.add(path, N_("is required"))
        return None
    if kind == "money":
        try:
            return yuan_str_to_fen(text)
        except ValueError:
            problems.add(path, N_("must be an amount in yuan, such as 100 or 99.50"))
            return None
    if kind in ("count", "int"):
        try:
            return int(text)
        except ValueError:
            problems.add(path, N_("must be a whole number"))
            return None
    if kind == "bool":
        word = text.lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        problems.add(path, N_("must be true or false"))
        return None
    return text


def _action(row: ActionRow, i: int, problems: _Problems) -> dict:
    action: dict = {"type": row.type}
    path = f"actions[{i}]"
    for name, kind in ACTION_FIELDS.get(row.type, ()):
        if kind == "selector":
            values = split_list(row.params.get("on", ""))
            by = row.params.get("on_by", "")
            if values and by in SELECTOR_KINDS:
                action["on"] = {by: values}
        elif kind == "int":
            _put_int(action, name, row.params.get(name, ""), f"{path}.{name}", problems)
        elif kind == "yuan":
            _put_yuan(action, name, row.params.get(name, ""), f"{path}.{name}", problems)
        elif kind == "bool":
            if row.params.get(name) in ("yes", "on", "true", "1"):
                action[name] = True
        elif row.params.get(name):
            action[name] = row.params[name]
    return action


def _put_int(target: dict, key: str, text: str, path: str, problems: _Problems) -> None:
    text = (text or "").strip()
    if not text:
        return
    try:
        target[key] = int(text)
    except ValueError:
        problems.add(path, N_("must be a whole number"))


def _put_yuan(target: dict, key: str, text: str, path: str, problems: _Problems) -> None:
    text = (text or "").strip()
    if not text:
        return
    try:
        target[key] = yuan_str_to_fen(text)
    except ValueError:
        problems.add(path, N_("must be an amount in yuan, such as 100 or 99.50"))


def split_list(text: str) -> list[str]:
    """'tea, coffee，beans' -> ['tea', 'coffee', 'beans'] (Chinese commas too)."""
    return [part.strip() for part in LIST_SPLIT.split(text or "") if part.strip()]


def parse_rule_post(data: FormData) -> tuple[RuleForm, dict, list[Problem]]:
    form = form_from_post(data)
    rule, problems = form_to_rule(form)
    return form, rule, problems


def problems_under(problems: list[Problem], prefix: str) -> list[Problem]:
    """The problems at a path or below it (``actions[0]`` takes ``actions[0].rate``)."""
    return [p for p in problems if p.path == prefix or p.path.startswith(prefix + ".")
            or p.path.startswith(prefix + "[")]


# ---------------------------------------------------------------- the simulator's basket and member

@dataclass
class SimulationForm:
    lines: list[tuple[str, str, str, str]] = field(default_factory=list)  # sku, category, qty, price yuan
    store: str = ""
    payment: str = "wechat_pay"
    card_no: str = ""
    tier: str = ""
    birthday: str = ""
    gender: str = "unknown"
    joined_on: str = ""
    purchase_count: str = ""
    spend_yuan: str = ""
    points_balance: str = ""
    at: str = ""            # datetime-local: 2026-05-20T12:30
    topup_yuan: str = ""
    first_topup: bool = False      # the member's first top-up (the `topup.first` fact)
    # A referral event: the member who was referred (the basket is their purchase).
    referred_joined: str = ""
    referred_purchases: str = ""
    referred_first: bool = False


def simulation_from_post(data: FormData) -> SimulationForm:
    lines = []
    skus, cats = data.getlist("sim_sku"), data.getlist("sim_category")
    qtys, prices = data.getlist("sim_qty"), data.getlist("sim_price")
    for i in range(max(len(skus), len(cats), len(prices))):
        line = (_at(skus, i).strip(), _at(cats, i).strip(), _at(qtys, i).strip() or "1", _at(prices, i).strip())
        if line[0] or line[1] or line[3]:
            lines.append(line)
    return SimulationForm(
        lines=lines, store=_get(data, "sim_store"), payment=_get(data, "sim_payment") or "wechat_pay",
        card_no=_get(data, "sim_card"), tier=_get(data, "sim_tier"), birthday=_get(data, "sim_birthday"),
        gender=_get(data, "sim_gender") or "unknown", joined_on=_get(data, "sim_joined"),
        purchase_count=_get(data, "sim_purchase_count"), spend_yuan=_get(data, "sim_spend"),
        points_balance=_get(data, "sim_points_balance"), at=_get(data, "sim_at"), topup_yuan=_get(data, "sim_topup"),
        first_topup=data.get("sim_first_topup") in ("on", "1", "yes", "true"),
        referred_joined=_get(data, "sim_referred_joined"), referred_purchases=_get(data, "sim_referred_purchases"),
        referred_first=data.get("sim_referred_first") in ("on", "1", "yes", "true"))


def simulation_request(sim: SimulationForm, *, event: str, windows: tuple[int, ...] = ()) -> tuple[dict, list[Problem]]:
    """The simulator's input (see rules.simulation.simulate) for a basket typed in yuan.

    A described member's spend and purchase count stand for every window the rules ask
    about (``windows``). A card number is looked up by the caller (``member_id``).
    """
    problems = _Problems()
    items = []
    for i, (sku, category, qty, price) in enumerate(sim.lines):
        try:
            qty_n = int(qty)
            if qty_n <= 0:
                raise ValueError
        except ValueError:
            problems.add(f"basket[{i}].qty", N_("must be a whole number above 0"))
            continue
        try:
            price_fen = yuan_str_to_fen(price or "0")
            if price_fen < 0:
                raise ValueError
        except ValueError:
            problems.add(f"basket[{i}].price", N_("must be an amount in yuan, such as 100 or 99.50"))
            continue
        items.append({"sku": sku, "category": category, "qty": qty_n, "unit_price_fen": price_fen})
    data: dict = {"event": event, "store_code": sim.store, "items": items, "payment_method": sim.payment}
    if sim.at:
        try:
            data["at"] = datetime.fromisoformat(sim.at)
        except ValueError:
            problems.add("at", N_("must be a date and time"))
    if sim.topup_yuan:
        holder: dict = {}
        _put_yuan(holder, "topup", sim.topup_yuan, "topup", problems)
        data["topup_amount_fen"] = holder.get("topup", 0)
    if event == "topup":
        data["first_topup"] = sim.first_topup
    member: dict = {"gender": sim.gender or "unknown"}
    if sim.tier:
        member["tier"] = sim.tier
    for key, text in (("birthday", sim.birthday), ("joined_on", sim.joined_on)):
        if text:
            try:
                member[key] = date.fromisoformat(text).isoformat()
            except ValueError:
                problems.add(f"member.{key}", N_("must be a date YYYY-MM-DD"))
    counts: dict = {}
    _put_int(counts, "purchase_count", sim.purchase_count, "member.purchase_count", problems)
    _put_int(counts, "points_balance", sim.points_balance, "member.points_balance", problems)
    _put_yuan(counts, "spend", sim.spend_yuan, "member.spend", problems)
    member["purchase_count"] = counts.get("purchase_count", 0)
    member["points_balance"] = counts.get("points_balance", 0)
    member["spend_in_window_fen"] = {str(w): counts.get("spend", 0) for w in windows}
    member["purchases_in_window"] = {str(w): counts.get("purchase_count", 0) for w in windows}
    data["member"] = member
    if event == "referral":
        referred: dict = {"first_purchase": sim.referred_first}
        if sim.referred_joined:
            try:
                referred["joined_on"] = date.fromisoformat(sim.referred_joined).isoformat()
            except ValueError:
                problems.add("referred.joined_on", N_("must be a date YYYY-MM-DD"))
        _put_int(referred, "purchase_count", sim.referred_purchases, "referred.purchase_count", problems)
        data["referred"] = referred
    return data, list(problems)


def check_catalogue_coverage() -> list[tuple[str, str]]:
    """Action parameters neither the form nor JSON_ONLY_PARAMS knows (a test keeps it empty)."""
    missing = []
    for spec in ACTIONS.values():
        known = {name for name, _ in ACTION_FIELDS.get(spec.type, ())}
        missing += [(spec.type, p) for p in spec.params if p not in known and (spec.type, p) not in JSON_ONLY_PARAMS]
    return missing
