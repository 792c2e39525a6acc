"""Compile a rule set once into an index the engine walks in microseconds.

What compiling does, and why:

* **Order.** Rules are put in evaluation order once: priority high to low, ties by lower
  id. The order rules were stored in never matters.
* **Fold.** Condition trees are simplified: nested ``all``/``any`` flattened, ``not not``
  removed, ``in`` a single value turned into ``==``, constant branches cut. Within a
  group, cheap tests (member tier) go before dear ones (scanning basket lines) so
  short-circuiting skips the dear ones most of the time.
* **Hoist.** A top-level test on the store, store kind, tier, group account or weekday
  is moved out of the conditions into the index, where it costs nothing per rule.
* **Generate.** What is left, with the rule's hours, becomes one Python function per
  rule whose ``and``/``or`` short-circuit natively. The source is built from our own
  fact attribute names and constant slots only; no text from a rule reaches it.
* **Index.** Per event, every rule gets a bit. A purchase's candidates are the AND of
  a few precomputed bitsets (its store, store kind, tier, group account, and the rules
  open on its business day), so a rule scoped to another store costs nothing.

The parsed (unfolded) condition tree is kept too, for the simulator's explanations.
The parts live in their own modules: ``conditions`` (trees, folding, hoisting),
``codegen`` (predicates), ``index`` (bitsets), ``scope`` (scope, validity, limits) and
``explain`` (the words); this module puts a rule set together.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Iterable

from wxcrm.errors import N_
from wxcrm.rules.actions import ACTIONS
from wxcrm.rules.codegen import UnsafeRule, generate_predicate
from wxcrm.rules.conditions import fold, hoist_index_tests, leaves, parse_condition
from wxcrm.rules.facts import LineSelector
from wxcrm.rules.index import EventIndex
from wxcrm.rules.schema import InvalidRule, Problem, validate_rule
from wxcrm.rules.scope import Limits, Scope, Validity
from wxcrm.rules.wording import phrases

LIVE_STATUSES = ("active",)


# Pay-out stages, in the order payout.pay_out works through them.
DISCOUNT, EARN, MULTIPLY, BONUS, HOLD, STORED_VALUE, OTHER, NO_POINTS = range(8)
_STAGE = {"discount_percent": DISCOUNT, "discount_fixed": DISCOUNT, "earn_points": EARN,
          "multiply_points": MULTIPLY, "bonus_points": BONUS, "hold_points": HOLD,
          "bonus_stored_value": STORED_VALUE, "no_points": NO_POINTS}


@dataclass(eq=False, slots=True)
class Action:
    type: str
    params: dict
    selector: LineSelector | None      # "on": which lines; None: the whole basket
    stage: int = OTHER
    # Worked out once here rather than in every evaluation:
    pending_days: int = 0
    per_yuan: int = 1
    zh: tuple[str, ...] = ()           # the receipt sentence around its numbers (wording.phrases)
    en: tuple[str, ...] = ()
    # set_tier: the tier's name (zh, en) for the receipt, when the compiler was given it
    tier_name: tuple[str, str] | None = None
    constant_effect: object = None     # the pay-out's Effect when it never changes (filled on use)

    def __post_init__(self):
        self.pending_days = self.params.get("pending_days", 0)
        self.per_yuan = self.params.get("per_yuan", 1)


@dataclass(frozen=True, eq=False, slots=True)
class CompiledRule:
    id: int
    version: int
    name: str
    name_en: str
    event: str
    status: str
    priority: int
    stop: bool
    exclusive_group: str | None
    scope: Scope                       # as written
    validity: Validity                 # as written
    condition: object                  # parsed tree (or True), for explanations
    limits: Limits | None
    actions: tuple[Action, ...]
    source: dict
    position: int = 0                  # place in evaluation order
    # derived when compiling
    index_scope: Scope = field(default_factory=Scope)
    index_weekdays: frozenset[int] | None = None
    predicate: Callable | None = None
    never_matches: bool = False
    budget_points: int | None = None   # limits.budget_points, at hand for the pay-out
    budget_fen: int | None = None
    multiplies: bool = False           # has a multiply_points action
    shapes_earnings: bool = False      # has an earn_points or discount action (see payout.earned_points)

    @property
    def sort_key(self) -> tuple[int, int]:
        return (-self.priority, self.id)



@dataclass(frozen=True, eq=False)
class CompiledRuleSet:
    rules: tuple[CompiledRule, ...]             # every rule given, in evaluation order
    by_event: dict[str, EventIndex]             # live rules only
    live_statuses: tuple[str, ...]
    point_value_fen: int                        # what a point is worth when ranking rules
    spend_windows: frozenset[int]               # MemberFacts.spend_in_window_fen keys needed
    purchase_windows: frozenset[int]            # MemberFacts.purchases_in_window keys needed

    def rule(self, rule_id: int) -> CompiledRule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)



def compile_rules(rules: Iterable[dict], *, live_statuses: Iterable[str] = LIVE_STATUSES,
                  point_value_fen: int = 1, validate: bool = False,
                  tier_names: dict[str, tuple[str, str]] | None = None) -> CompiledRuleSet:
    """Compile stored rules (each with ``id`` and ``version``) once per rule-set version.

    Storage validates a rule when it is saved, so by default compiling trusts the shape
    and only refuses what it cannot compile. ``validate=True`` runs the full schema and
    semantic check first: for rule sets from outside (an import, a simulator's draft).
    ``live_statuses``: which rules take part (the simulator may add ``draft``).
    ``tier_names``: tier code -> (Chinese, English) name, so a receipt never shows a code.
    """
    rules = list(rules)
    live = tuple(live_statuses)
    problems: list[Problem] = []
    compiled: list[CompiledRule] = []
    seen: set[int] = set()
    for position, raw in enumerate(rules):
        try:
            if validate:
                validate_rule(raw, require_identity=True)
            rule = compile_rule(raw, tier_names)
        except InvalidRule as exc:
            problems += [p.at(f"[{position}].{p.path}" if p.path else f"[{position}]") for p in exc.problems]
            continue
        except UnsafeRule as exc:
            problems.append(Problem(f"[{position}]", f"refused by the code generator: {exc}"))
            continue
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            problems.append(Problem(f"[{position}]", f"cannot be compiled ({exc!r}); validate it"))
            continue
        if rule.id in seen:
            problems.append(Problem.of(f"[{position}].id", N_("repeats rule id %(id)s"), id=rule.id))
        seen.add(rule.id)
        compiled.append(rule)
    if problems:
        raise InvalidRule(problems)

    compiled.sort(key=lambda r: r.sort_key)
    compiled = [replace(rule, position=i) for i, rule in enumerate(compiled)]
    by_event: dict[str, list[CompiledRule]] = {}
    for rule in compiled:
        if rule.status in live and not rule.never_matches:
            by_event.setdefault(rule.event, []).append(rule)
    spend, purchases = set(), set()
    for rule in compiled:
        if rule.status in live:
            for leaf in leaves(rule.condition):
                if leaf.spec.name == "member.spend_fen":
                    spend.add(leaf.window_days)
                elif leaf.spec.name == "member.purchase_count" and leaf.window_days:
                    purchases.add(leaf.window_days)
    return CompiledRuleSet(
        rules=tuple(compiled),
        by_event={event: EventIndex(event_rules) for event, event_rules in by_event.items()},
        live_statuses=live, point_value_fen=point_value_fen,
        spend_windows=frozenset(spend), purchase_windows=frozenset(purchases))


def compile_rule(raw: dict, tier_names: dict[str, tuple[str, str]] | None = None) -> CompiledRule:
    rule_id, version = raw["id"], raw["version"]
    if not isinstance(rule_id, int) or not isinstance(version, int):
        raise InvalidRule([Problem.of("id", N_("id and version must be whole numbers"))])
    condition = parse_condition(raw["conditions"]) if "conditions" in raw else True
    validity = Validity.from_json(raw.get("validity"))
    scope = Scope.from_json(raw.get("scope"))
    remaining, hoisted = hoist_index_tests(fold(condition))
    weekdays = hoisted.pop("weekdays", None)
    index_scope = scope.narrowed(hoisted)
    if weekdays is not None and validity.weekdays is not None:
        weekdays &= validity.weekdays
    never = remaining is False or index_scope.empty or (weekdays is not None and not weekdays)
    limits = Limits(**raw["limits"]) if raw.get("limits") else None
    name, name_en = raw["name"], raw.get("name_en") or raw["name"]
    actions = []
    for a in raw["actions"]:
        if a["type"] not in ACTIONS:  # only allow-listed actions ever run
            raise InvalidRule([Problem("actions", f"unknown action type {a['type']!r}")])
        params = {k: v for k, v in a.items() if k not in ("type", "on")}
        zh, en = phrases(a["type"], params, name, name_en)
        actions.append(Action(a["type"], params, LineSelector.from_json(a["on"]) if "on" in a else None,
                              _STAGE.get(a["type"], OTHER), zh=zh, en=en,
                              tier_name=(tier_names or {}).get(a.get("tier")) if a["type"] == "set_tier" else None))
    actions = tuple(actions)

    return CompiledRule(
        id=rule_id, version=version, name=name, name_en=name_en,
        event=raw["event"], status=raw.get("status", "draft"), priority=raw.get("priority", 0),
        stop=raw.get("stop", False), exclusive_group=raw.get("exclusive_group"),
        scope=scope, validity=validity, condition=condition, limits=limits, actions=actions,
        source=raw, index_scope=index_scope, index_weekdays=weekdays,
        predicate=None if never else generate_predicate(remaining, validity.hours),
        never_matches=never,
        budget_points=limits.budget_points if limits else None,
        budget_fen=limits.budget_fen if limits else None,
        multiplies=any(a.stage == MULTIPLY for a in actions),
        shapes_earnings=any(a.stage in (EARN, DISCOUNT) for a in actions),
    )

