"""Rules are JSON data. This module says which JSON is a rule, with messages that name the path.

Two passes. The JSON Schema (checked by ``jsonschema``) fixes the shape: known fields,
types, ranges. The semantic pass then checks what a schema cannot say well: a fact or
an action suits the rule's event, an operator suits the fact, ``from`` is not after
``to``, a budget caps something the rule gives. Messages read
``actions[0].rate: must be >= 1`` so the console can put them next to the field.

A rule (every field but name, event and actions is optional)::

    {
      "id": 12, "version": 3,                 # given by storage; compile needs them
      "name": "生日当月双倍积分", "name_en": "Birthday-month double points",
      "event": "purchase",                    # see context.EVENTS
      "status": "active",                     # draft / active / paused / archived
      "priority": 100,                        # higher runs first; ties: lower id first
      "conditions": {"all": [
          {"fact": "member.birthday_this_month", "op": "==", "value": true},
          {"fact": "basket.total_fen", "op": ">=", "value": 10000}]},
      "actions": [{"type": "multiply_points", "pct": 200}],
      "validity": {"from": "2025-01-01", "to": "2025-12-31", "weekdays": [1, 2, 3, 4, 5],
                   "hours": [{"from": "10:00", "to": "14:00"}]},
      "scope": {"stores": ["SH001"], "store_kinds": ["direct"], "tiers": ["gold"],
                "groups": ["ACME"]},
      "stop": false,                          # matched: no lower rule runs
      "exclusive_group": "birthday",          # only the best matched rule of the group applies
      "limits": {"per_day": 1, "per_month": 1, "per_year": 12, "per_membership_year": 12,
                 "lifetime": 12, "budget_points": 1000000, "budget_fen": 0}
    }

Conditions nest ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": {...}}`` around leaves
``{"fact": ..., "op": ..., "value": ...}``; a leaf may add ``window_days`` (spend and
purchase counts over the last N days) or ``items`` (which basket lines ``item.qty`` and
``item.amount_fen`` count). See facts.FACTS for the facts and their operators.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache

from jsonschema import Draft202012Validator

from wxcrm.errors import N_, DomainError
from wxcrm.rules.actions import ACTIONS, CODE_LIST, LINE_SELECTOR
from wxcrm.rules.context import EVENTS
from wxcrm.rules.facts import FACTS, OPERATORS, STORE_EVENTS, FactSpec

RULE_STATUSES = ("draft", "active", "paused", "archived")
MAX_CONDITION_DEPTH = 8
MAX_CONDITION_LEAVES = 100

_DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "x-hint": N_("must be a date YYYY-MM-DD")}
_CLOCK = {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$",
          "x-hint": N_("must be a time HH:MM (00:00 to 24:00)")}
_COUNT_LIMIT = {"type": "integer", "minimum": 1, "maximum": 1_000_000}
_ALL_OPERATORS = sorted({op for ops in OPERATORS.values() for op in ops})


def _condition_schema() -> dict:
    def branch(key: str, body: dict) -> dict:
        return {"required": [key], "properties": {key: body}, "additionalProperties": False}

    leaf = {
        "required": ["fact", "op", "value"], "additionalProperties": False,
        "properties": {
            "fact": {"type": "string", "enum": sorted(FACTS),
                     "x-hint": N_("is not a known fact (see the fact catalogue)")},
            "op": {"type": "string", "enum": _ALL_OPERATORS},
            "value": {},  # typed by the fact, in the semantic pass
            "window_days": {"type": "integer", "minimum": 1, "maximum": 3660},
            "items": LINE_SELECTOR,
        },
    }
    group = {"type": "array", "maxItems": 50, "items": {"$ref": "#/$defs/condition"}}
    return {
        "type": "object", "minProperties": 1,
        "if": {"required": ["all"]}, "then": branch("all", group),
        "else": {"if": {"required": ["any"]}, "then": branch("any", group),
                 "else": {"if": {"required": ["not"]},
                          "then": branch("not", {"$ref": "#/$defs/condition"}),
                          "else": leaf}},
    }


def _action_schema() -> dict:
    cases = []
    for spec in ACTIONS.values():
        cases.append({
            "if": {"properties": {"type": {"const": spec.type}}, "required": ["type"]},
            "then": {"properties": {"type": True, **spec.params}, "required": list(spec.required),
                     "additionalProperties": False},
        })
    return {"type": "object", "required": ["type"],
            "properties": {"type": {"type": "string", "enum": sorted(ACTIONS)}},
            "allOf": cases}


RULE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "wxcrm rule",
    "type": "object",
    "required": ["name", "event", "actions"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer", "minimum": 1, "maximum": 2**53},
        "version": {"type": "integer", "minimum": 1, "maximum": 2**31},
        "name": {"type": "string", "minLength": 1, "maxLength": 120},
        "name_en": {"type": "string", "minLength": 1, "maxLength": 120},
        "description": {"type": "string", "maxLength": 2000},
        "event": {"type": "string", "enum": list(EVENTS)},
        "status": {"type": "string", "enum": list(RULE_STATUSES)},
        "priority": {"type": "integer", "minimum": -1_000_000, "maximum": 1_000_000},
        "conditions": {"$ref": "#/$defs/condition"},
        "actions": {"type": "array", "minItems": 1, "maxItems": 10,
                    "items": {"$ref": "#/$defs/action"}},
        "validity": {
            "type": "object", "additionalProperties": False, "minProperties": 1,
            "properties": {
                "from": _DATE, "to": _DATE,
                "weekdays": {"type": "array", "minItems": 1, "maxItems": 7, "uniqueItems": True,
                             "items": {"type": "integer", "minimum": 1, "maximum": 7}},
                "hours": {"type": "array", "minItems": 1, "maxItems": 12,
                          "items": {"type": "object", "required": ["from", "to"],
                                    "additionalProperties": False,
                                    "properties": {"from": _CLOCK, "to": _CLOCK}}},
            },
        },
        "scope": {
            "type": "object", "additionalProperties": False, "minProperties": 1,
            "properties": {"stores": CODE_LIST,
                           "store_kinds": {**CODE_LIST, "items": {"enum": ["direct", "franchise"]}},
                           "tiers": CODE_LIST, "groups": CODE_LIST},
        },
        "stop": {"type": "boolean"},
        "exclusive_group": {"type": "string", "pattern": r"^[A-Za-z0-9_.\-]{1,40}$",
                            "x-hint": N_("must be 1 to 40 letters, digits, '_', '-' or '.'")},
        "limits": {
            "type": "object", "additionalProperties": False, "minProperties": 1,
            "properties": {"per_day": _COUNT_LIMIT, "per_month": _COUNT_LIMIT,
                           "per_year": _COUNT_LIMIT, "per_membership_year": _COUNT_LIMIT,
                           "lifetime": _COUNT_LIMIT,
                           "budget_points": {"type": "integer", "minimum": 1, "maximum": 10**12},
                           "budget_fen": {"type": "integer", "minimum": 1, "maximum": 10**13}},
        },
    },
    "$defs": {"condition": _condition_schema(), "action": _action_schema()},
}


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a rule, at a path. ``message`` is English (the API's); pages
    say it again in their language from ``template`` (an ``N_`` msgid with ``%(name)s``
    slots) and ``args`` (the slots' values), see ``wxcrm.web.labels.problem_message``."""
    path: str
    message: str
    template: str = ""
    args: tuple = ()

    @classmethod
    def of(cls, path: str, template: str, **params) -> "Problem":
        return cls(path, template % params if params else template, template, tuple(sorted(params.items())))

    @property
    def params(self) -> dict:
        return dict(self.args)

    def at(self, path: str) -> "Problem":
        """The same problem at another path (a rule's position in a set)."""
        return replace(self, path=path)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidRule(DomainError):
    code = "invalid_rule"
    title = "Invalid rule"

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(map(str, problems)),
                         fields={p.path: p.message for p in problems})


def validate_rule(rule: dict, *, require_identity: bool = False) -> None:
    """Raise InvalidRule listing every problem, or return quietly.

    ``require_identity``: the rule must carry ``id`` and ``version`` (stored rules do;
    a rule being drafted in the console does not yet).
    """
    problems = rule_problems(rule, require_identity=require_identity)
    if problems:
        raise InvalidRule(problems)


def validate_rule_set(rules: list[dict], *, require_identity: bool = True) -> None:
    """Every rule valid, ids unique. Paths are prefixed with the rule's position: ``[3].event``."""
    problems: list[Problem] = []
    seen: dict[object, int] = {}
    for position, rule in enumerate(rules):
        for p in rule_problems(rule, require_identity=require_identity):
            problems.append(p.at(_join(f"[{position}]", p.path)))
        if isinstance(rule, dict) and "id" in rule:
            if rule["id"] in seen:
                problems.append(Problem.of(f"[{position}].id", N_("repeats the id of [%(position)s]"),
                                           position=seen[rule["id"]]))
            seen.setdefault(rule["id"], position)
    if problems:
        raise InvalidRule(problems)


def rule_problems(rule: object, *, require_identity: bool = False) -> list[Problem]:
    """Every problem with a rule, sorted by path; empty when the rule is valid."""
    problems = sorted(set(_shape_problems(rule)))
    if not problems:  # the semantic pass may rely on the shape
        problems = _SemanticCheck(rule).problems()
        if require_identity:
            problems += [Problem.of(key, N_("is required")) for key in ("id", "version") if key not in rule]
    return sorted(set(problems))


# ---------------------------------------------------------------- shape (JSON Schema)

@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(RULE_SCHEMA)
    return Draft202012Validator(RULE_SCHEMA)


def _shape_problems(rule: object):
    for error in _validator().iter_errors(rule):
        yield from _explain_schema_error(error)


_TYPE_MESSAGES = {"string": N_("must be a string"), "integer": N_("must be an integer"),
                  "boolean": N_("must be true or false"), "object": N_("must be an object"),
                  "array": N_("must be a list"), "number": N_("must be a number")}


def _explain_schema_error(error) -> list[Problem]:
    path = _format_path(error.absolute_path)
    kind, expected, instance = error.validator, error.validator_value, error.instance
    hint = error.schema.get("x-hint") if isinstance(error.schema, dict) else None
    if kind == "required":
        return [Problem.of(_join(path, name), N_("is required"))
                for name in expected if isinstance(instance, dict) and name not in instance]
    if kind == "additionalProperties":
        known = error.schema.get("properties", {})
        return [Problem.of(_join(path, name), N_("is not a known field"))
                for name in instance if name not in known]
    if hint and kind in ("pattern", "enum", "minimum", "maximum"):
        return [Problem.of(path, hint)]
    if kind == "type":
        names = expected if isinstance(expected, list) else [expected]
        if len(names) == 1 and names[0] in _TYPE_MESSAGES:
            return [Problem.of(path, _TYPE_MESSAGES[names[0]])]
        return [Problem.of(path, N_("must be %(kinds)s"), kinds=" or ".join(names))]
    if kind == "enum":
        if len(expected) <= 16:
            return [Problem.of(path, N_("must be one of %(choices)s"), choices=", ".join(map(str, expected)))]
        return [Problem.of(path, N_("must be a known value"))]
    messages = {
        "minimum": lambda: Problem.of(path, N_("must be >= %(n)s"), n=expected),
        "maximum": lambda: Problem.of(path, N_("must be <= %(n)s"), n=expected),
        "exclusiveMinimum": lambda: Problem.of(path, N_("must be > %(n)s"), n=expected),
        "exclusiveMaximum": lambda: Problem.of(path, N_("must be < %(n)s"), n=expected),
        "minLength": lambda: (Problem.of(path, N_("must not be empty")) if expected == 1
                              else Problem.of(path, N_("must have at least %(n)s characters"), n=expected)),
        "maxLength": lambda: Problem.of(path, N_("must have at most %(n)s characters"), n=expected),
        "minItems": lambda: (Problem.of(path, N_("must not be empty")) if expected == 1
                             else Problem.of(path, N_("must have at least %(n)s items"), n=expected)),
        "maxItems": lambda: Problem.of(path, N_("must have at most %(n)s items"), n=expected),
        "uniqueItems": lambda: Problem.of(path, N_("must not repeat an item")),
        "minProperties": lambda: Problem.of(path, N_("must not be empty")),
        "maxProperties": lambda: Problem.of(path, N_("must have at most %(n)s entries"), n=expected),
        "pattern": lambda: Problem.of(path, N_("has an invalid format")),
    }
    return [messages[kind]() if kind in messages else Problem(path, error.message)]


def _format_path(parts) -> str:
    text = ""
    for part in parts:
        text = f"{text}[{part}]" if isinstance(part, int) else _join(text, str(part))
    return text


def _join(path: str, name: str) -> str:
    if not path:
        return name
    if not name:
        return path
    return f"{path}{name}" if name.startswith("[") else f"{path}.{name}"


# ---------------------------------------------------------------- meaning

_CLOCK_RE = re.compile(r"^(\d\d):(\d\d)$")


def parse_date(text: str) -> date:
    return date.fromisoformat(text)


def parse_clock(text: str) -> int:
    """'10:30' -> minutes since midnight (24:00 -> 1440)."""
    hours, minutes = _CLOCK_RE.match(text).groups()
    return int(hours) * 60 + int(minutes)


class _SemanticCheck:
    """The checks a schema cannot express, run on a rule whose shape is already right."""

    def __init__(self, rule: dict):
        self.rule = rule
        self.event = rule["event"]
        self.found: list[Problem] = []

    def problems(self) -> list[Problem]:
        if "conditions" in self.rule:
            self._check_condition_tree(self.rule["conditions"])
        self._check_actions()
        self._check_validity()
        self._check_limits()
        scope = self.rule.get("scope", {})
        if ("stores" in scope or "store_kinds" in scope) and self.event not in STORE_EVENTS:
            self._add("scope", N_("a '%(event)s' event happens outside any store"), event=self.event)
        return self.found

    def _add(self, path: str, template: str, **params) -> None:
        self.found.append(Problem.of(path, template, **params))

    # -- conditions

    def _check_condition_tree(self, root: dict) -> None:
        leaves = 0
        stack = [(root, "conditions", 1)]
        while stack:
            node, path, depth = stack.pop()
            if depth > MAX_CONDITION_DEPTH:
                self._add(path, N_("nests deeper than %(n)s levels"), n=MAX_CONDITION_DEPTH)
                continue
            if "all" in node or "any" in node:
                key = "all" if "all" in node else "any"
                stack.extend((child, f"{path}.{key}[{i}]", depth + 1)
                             for i, child in enumerate(node[key]))
            elif "not" in node:
                stack.append((node["not"], f"{path}.not", depth + 1))
            else:
                leaves += 1
                self._check_leaf(node, path)
        if leaves > MAX_CONDITION_LEAVES:
            self._add("conditions", N_("has %(n)s tests; at most %(most)s are allowed"), n=leaves, most=MAX_CONDITION_LEAVES)

    def _check_leaf(self, leaf: dict, path: str) -> None:
        spec = FACTS[leaf["fact"]]
        op = leaf["op"]
        if self.event not in spec.events:
            self._add(f"{path}.fact", N_("'%(fact)s' is not known at a '%(event)s' event"), fact=spec.name, event=self.event)
        if op not in spec.operators:
            self._add(f"{path}.op", N_("'%(fact)s' allows %(ops)s"), fact=spec.name, ops=", ".join(spec.operators))
            return
        if spec.window == "required" and "window_days" not in leaf:
            self._add(f"{path}.window_days", N_("is required for '%(fact)s' (the last N days)"), fact=spec.name)
        if spec.window == "" and "window_days" in leaf:
            self._add(f"{path}.window_days", N_("does not apply to '%(fact)s'"), fact=spec.name)
        if "items" in leaf and not spec.takes_items:
            self._add(f"{path}.items", N_("does not apply to '%(fact)s'"), fact=spec.name)
        self._check_value(spec, op, leaf["value"], f"{path}.value")

    def _check_value(self, spec: FactSpec, op: str, value: object, path: str) -> None:
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                self._add(path, N_("must be a non-empty list"))
                return
            for i, item in enumerate(value):
                self._check_scalar(spec, item, f"{path}[{i}]")
        elif op == "between":
            if not isinstance(value, list) or len(value) != 2:
                self._add(path, N_("must be a list [lowest, highest]"))
                return
            low_ok = self._check_scalar(spec, value[0], f"{path}[0]")
            high_ok = self._check_scalar(spec, value[1], f"{path}[1]")
            if low_ok and high_ok and _comparable(spec, value[0]) > _comparable(spec, value[1]):
                self._add(path, N_("lowest must not be above highest"))
        else:
            self._check_scalar(spec, value, path)

    def _check_scalar(self, spec: FactSpec, value: object, path: str) -> bool:
        kind = spec.type
        if kind in ("money", "count", "int"):
            if not isinstance(value, int) or isinstance(value, bool):
                self._add(path, N_("must be a whole number in fen") if kind == "money"
                          else N_("must be a whole number"))
                return False
            if spec.minimum is not None and value < spec.minimum:
                self._add(path, N_("must be >= %(n)s"), n=spec.minimum)
                return False
            if spec.maximum is not None and value > spec.maximum:
                self._add(path, N_("must be <= %(n)s"), n=spec.maximum)
                return False
        elif kind == "bool":
            if not isinstance(value, bool):
                self._add(path, N_("must be true or false"))
                return False
        elif kind == "date":
            try:
                parse_date(value)
            except (TypeError, ValueError):
                self._add(path, N_("must be a date YYYY-MM-DD"))
                return False
        elif kind == "choice":
            if value not in spec.choices:
                self._add(path, N_("must be one of %(choices)s"), choices=", ".join(spec.choices))
                return False
        elif not isinstance(value, str) or not value.strip():
            self._add(path, N_("must be a non-empty code"))
            return False
        return True

    # -- actions

    def _check_actions(self) -> None:
        for i, action in enumerate(self.rule["actions"]):
            spec = ACTIONS[action["type"]]
            path = f"actions[{i}]"
            if self.event not in spec.events:
                self._add(f"{path}.type", N_("'%(action)s' cannot run at a '%(event)s' event (only %(events)s)"),
                          action=spec.type, event=self.event, events=", ".join(sorted(spec.events)))
            if spec.type == "bonus_stored_value" and ("pct" in action) == ("amount_fen" in action):
                self._add(path, N_("needs exactly one of pct or amount_fen"))
            if "on" in action and spec.type == "earn_points" and self.event != "purchase":
                self._add(f"{path}.on", N_("chooses basket lines, which only a purchase has"))
            if action.get("per_item") and "on" not in action:
                self._add(f"{path}.per_item", N_("needs 'on' to say which items"))

    # -- validity and limits

    def _check_validity(self) -> None:
        validity = self.rule.get("validity", {})
        dates = {}
        for key in ("from", "to"):
            if key in validity:
                try:
                    dates[key] = parse_date(validity[key])
                except ValueError:
                    self._add(f"validity.{key}", N_("is not a calendar date"))
        if len(dates) == 2 and dates["from"] > dates["to"]:
            self._add("validity.to", N_("must not be before validity.from"))
        for i, window in enumerate(validity.get("hours", ())):
            if parse_clock(window["from"]) >= parse_clock(window["to"]):
                self._add(f"validity.hours[{i}].to", N_("must be after from (use 24:00 for midnight)"))

    def _check_limits(self) -> None:
        limits = self.rule.get("limits", {})
        gives = {ACTIONS[a["type"]].gives for a in self.rule["actions"]}
        if "budget_points" in limits and "points" not in gives:
            self._add("limits.budget_points", N_("the rule gives no points"))
        if "budget_fen" in limits and "fen" not in gives:
            self._add("limits.budget_fen", N_("the rule gives no money (discount or stored value)"))
        # Each period's limit fits in the longer periods' (per_day <= per_month <= per_year
        # <= lifetime; per_membership_year <= lifetime).
        for shorter, longer in (("per_day", "per_month"), ("per_month", "per_year"), ("per_year", "lifetime"),
                                ("per_membership_year", "lifetime")):
            if shorter in limits and longer in limits and limits[shorter] > limits[longer]:
                self._add(f"limits.{shorter}", N_("must not exceed %(limit)s"), limit=longer)
        if "per_month" in limits and "lifetime" in limits and "per_year" not in limits \
                and limits["per_month"] > limits["lifetime"]:
            self._add("limits.per_month", N_("must not exceed %(limit)s"), limit="lifetime")


def _comparable(spec: FactSpec, value: object):
    return parse_date(value) if spec.type == "date" else value
