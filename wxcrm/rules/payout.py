"""Turn the rules that won into amounts and receipt lines.

The order is the receipt's, and it is fixed so that no rule's result depends on where a
marketer happened to store it:

1. **Discounts**, rule by rule in evaluation order. Each is worked out on what is still
   left to pay on its lines after the discounts before it, rounds down (a 10 % discount
   on 0.99 yuan is 0.09) and is never more than that. A discount is spread over its
   lines in proportion to what is left on each, so later item discounts and refunds
   see true line amounts.
2. **The points base**: what is left of the basket after discounts, less the part paid
   with points (that part earns nothing). For a top-up it is the top-up amount.
3. **Earned points** (``earn_points``): rate points per ``per_yuan`` yuan of the base,
   rounded down once (``wxcrm.money.points_for_amount``).
4. **Multipliers** (``multiply_points``) act on the earned points of step 3 only, never
   on bonus points or on each other: each adds (pct - 100) % of the earned points,
   rounded down, so one multiplier alone leaves pct % of them, rounded down (50 % of
   15 points is 7: the line reads -8). Several add up: 200 and 150 give
   1 + 1 + 0.5 = 2.5 times, 200 and 50 give 1 + 1 - 0.5 = 1.5 times, whatever their
   order; together they never take away more than was earned (never negative). Put
   competing multipliers in one exclusive group to give only the best.
5. **Bonus points** (``bonus_points``), fixed.
6. **Hold** (``hold_points``): every points line of this event stays pending for at least
   that many days (the return window).
7. **Stored-value bonus**, coupons, membership, tier, points reset and messages.

A ``no_points`` rule (staff purchases) takes steps 3 to 5 away: the event earns no
points whatever the other rules give, and the receipt has a line naming that rule.

A rule's budget caps what it gives in this event to what is left of the budget: the
policy is *partial* (a grant bigger than what is left gives what is left, and its line
says how much the budget cut); once the budget is spent the rule no longer applies.
"""
from __future__ import annotations

from dataclasses import fields, is_dataclass
from types import MappingProxyType
from typing import Callable, Mapping, NamedTuple

from wxcrm.money import percent_of, points_for_amount, spread
from wxcrm.rules.compiler import (
    BONUS,
    DISCOUNT,
    EARN,
    HOLD,
    MULTIPLY,
    NO_POINTS,
    OTHER,
    STORED_VALUE,
    Action,
    CompiledRule,
)
from wxcrm.rules.effects import Effect
from wxcrm.rules.facts import FactSnapshot
from wxcrm.rules.wording import yuan


class AppliedRule(NamedTuple):
    """A rule that gave this member something: what checkout records (and counts for limits)."""
    rule_id: int
    rule_version: int
    rule_name: str
    points: int = 0           # points it gave (counts against budget_points)
    fen: int = 0              # discount and stored value it gave (counts against budget_fen)


class Payout(NamedTuple):
    effects: tuple[Effect, ...]
    held_by: tuple[CompiledRule, ...]   # hold_points rules that held this event's points


class Award(NamedTuple):
    """One thing one action gives, in numbers; worded into an Effect when paying out."""
    stage: int
    rule: CompiledRule
    action: Action
    points: int
    fen: int
    pending_days: int
    base_fen: int                       # earn_points: the amount the points were earned on
    line_discounts: tuple[tuple[int, int], ...]   # discounts: (line number, fen) per line
    cut: int                            # what the rule's budget cut off the grant (0: nothing)


def _award(stage: int, rule: CompiledRule, action: Action, points: int, fen: int,
           pending_days: int, base_fen: int, line_discounts: tuple[tuple[int, int], ...],
           cut: int = 0) -> Award:
    # tuple.__new__ skips NamedTuple's Python-level __new__: a valuation makes several.
    return _new_tuple(Award, (stage, rule, action, points, fen, pending_days, base_fen, line_discounts, cut))


_new_tuple = tuple.__new__


def _plain_frozen_dataclass(cls) -> bool:
    return (is_dataclass(cls) and not hasattr(cls, "__post_init__")
            and not hasattr(cls, "__slots__") and cls.__setattr__ is not object.__setattr__)


_EFFECT_FIELDS = {f.name for f in fields(Effect)}
_FAST_EFFECTS = _plain_frozen_dataclass(Effect) and _EFFECT_FIELDS == {
    "kind", "rule_name", "text_zh", "text_en", "rule_id", "rule_version", "points",
    "pending_days", "amount_fen", "line_discounts", "params"}


def new_effect(kind: str, rule: CompiledRule, text_zh: str, text_en: str, points: int = 0,
               pending_days: int = 0, amount_fen: int = 0, line_discounts: tuple[tuple[int, int], ...] = (),
               params: Mapping | None = None) -> Effect:
    """Effect(...) for a rule, built directly.

    Effect is a frozen dataclass, so its generated __init__ sets each of its eleven
    fields through object.__setattr__: about 2 µs an effect on this hardware, and a busy
    purchase makes several. Filling the new instance's __dict__ gives the same object
    (same fields, same equality, still frozen) in a third of the time. Should Effect
    ever gain __post_init__, slots or other fields, the ordinary constructor is used.
    """
    if params is None:
        params = _NO_PARAMS
    if not _FAST_EFFECTS:
        return Effect(kind, rule.name, text_zh, text_en, rule.id, rule.version, points,
                      pending_days, amount_fen, line_discounts, params)
    effect = _new_object(Effect)
    effect.__dict__.update(kind=kind, rule_name=rule.name, text_zh=text_zh, text_en=text_en,
                           rule_id=rule.id, rule_version=rule.version, points=points,
                           pending_days=pending_days, amount_fen=amount_fen,
                           line_discounts=line_discounts, params=params)
    return effect


_new_object = object.__new__
_NO_PARAMS: Mapping = MappingProxyType({})


def pay_out(rules: list[CompiledRule], s: FactSnapshot) -> Payout:
    """The effects of ``rules`` (already in evaluation order) for one event."""
    effects, _, held_by = awards(rules, s, make=_as_effect)   # worded as they are worked out
    return Payout(tuple(effects), held_by)


def applied_rules(rules: list[CompiledRule], effects: tuple[Effect, ...],
                  held_by: tuple[CompiledRule, ...] = ()) -> tuple[AppliedRule, ...]:
    """Each rule that gave something, in evaluation order, with its points and fen."""
    given: dict[int, list[int]] = {rule.id: [0, 0] for rule in held_by}
    for effect in effects:
        totals = given.get(effect.rule_id)
        if totals is None:
            totals = given[effect.rule_id] = [0, 0]
        if effect.kind == "points":
            totals[0] += effect.points
        else:
            totals[1] += effect.amount_fen
    return tuple(AppliedRule(rule.id, rule.version, rule.name, *given[rule.id])
                 for rule in rules if rule.id in given)


def worth_alone(rule: CompiledRule, s: FactSnapshot, *, earned_elsewhere: int = 0,
                point_value_fen: int = 1) -> int:
    """What ``rule`` would give on its own, in fen: money plus points at their value.

    ``earned_elsewhere``: the points other rules earn, which a multiplier acts on.
    """
    if len(rule.actions) == 1:
        points, fen = _one_action_alone(rule, rule.actions[0], s, earned_elsewhere)
    else:
        found = awards([rule], s, earned_elsewhere=earned_elsewhere)[0]
        points, fen = sum(a.points for a in found), sum(a.fen for a in found)
    return fen + points * point_value_fen


def _one_action_alone(rule: CompiledRule, action: Action, s: FactSnapshot,
                      earned_elsewhere: int) -> tuple[int, int]:
    """(points, fen) of a one-action rule on its own: the same numbers as awards([rule]),
    without building awards. Most rivals in an exclusive group are such rules."""
    stage, params, ctx = action.stage, action.params, s.ctx
    points = fen = 0
    if stage == DISCOUNT:
        if action.selector is None:
            room = s.total_fen
        else:
            amounts = s.amounts
            room = sum([amounts[i] for i in s.chosen(action.selector)])
        if action.type == "discount_percent":
            fen = percent_of(room, params["pct"])
        elif params.get("per_item"):
            fen = params["amount_fen"] * (sum([line.qty for line in s.lines]) if action.selector is None
                                          else s.chosen_qty(action.selector))
        else:
            fen = params["amount_fen"]
        fen = min(fen, room)
    elif stage == EARN:
        base = ctx.topup_amount_fen if ctx.event == "topup" else \
            max(s.total_fen - ctx.points_payment_fen, 0)
        points = _earned(action, s, None, base)[0]
    elif stage == MULTIPLY:
        points = percent_of(earned_elsewhere, params["pct"] - 100)
    elif stage == BONUS:
        points = params["points"]
    elif stage == STORED_VALUE:
        fen = percent_of(ctx.topup_amount_fen, params["pct"]) if "pct" in params else params["amount_fen"]
    if points and rule.budget_points is not None:
        points = _capped(rule, points, {}, s, "points")
    if fen and rule.budget_fen is not None:
        fen = _capped(rule, fen, {}, s, "fen")
    return max(points, 0), max(fen, 0)


def earned_points(rules: list[CompiledRule], s: FactSnapshot) -> int:
    """The points ``rules`` earn (step 3): what a multiplier acts on. Only their
    discounts and earn actions count; later stages never change it."""
    shaping = [rule for rule in rules if rule.shapes_earnings]
    return awards(shaping, s)[1] if shaping else 0


def awards(rules: list[CompiledRule], s: FactSnapshot, *, earned_elsewhere: int = 0,
           make: Callable[..., object] = _award) -> tuple[list, int, tuple[CompiledRule, ...]]:
    """What each action of ``rules`` gives, in pay-out order; the earned points; and the
    hold_points rules that held some of them (they have no line of their own).

    ``make`` builds each list item from an award's numbers (``Award``'s fields, in
    order): an ``Award`` when valuing rules, the Effect itself when paying out.
    """
    found: list = []
    fen_so_far: dict[int, int] = {}                        # budgeted rules only
    left: list[int] | None = None                          # per line, what is left to pay
    # Discounts now, in evaluation order; every other stage waits for them, in its own list.
    earns, multipliers, bonuses, rest, holds, blockers = [], [], [], [], [], []
    hold = 0
    for rule in rules:
        for action in rule.actions:
            stage = action.stage
            if stage == DISCOUNT:
                if action.selector is not None and not s.chosen(action.selector):
                    continue                   # none of its lines is in this basket
                if left is None:
                    left = s.amounts.copy()
                amount, line_discounts, cut = _take_discount(rule, action, s, left, fen_so_far)
                if amount > 0:
                    found.append(make(DISCOUNT, rule, action, 0, amount, 0, 0, line_discounts, cut))
            elif stage == EARN:
                earns.append((rule, action))
            elif stage == MULTIPLY:
                multipliers.append((rule, action))
            elif stage == BONUS:
                bonuses.append((rule, action))
            elif stage == HOLD:
                holds.append((rule, action))
                hold = max(hold, action.params["days"])
            elif stage == NO_POINTS:
                blockers.append((rule, action))
            else:
                rest.append((rule, action))

    ctx = s.ctx
    points_so_far: dict[int, int] = {}
    earned = 0
    gave_points = False
    if blockers:
        # A no_points rule (staff purchases): the event earns no points whatever the other
        # rules give; its own line on the receipt says which rule.
        earns, multipliers, bonuses = (), (), ()
        for rule, action in blockers:
            found.append(make(NO_POINTS, rule, action, 0, 0, 0, 0, (), 0))
    if earns:
        if ctx.event == "topup":
            base = ctx.topup_amount_fen
        else:
            base = max((s.total_fen if left is None else sum(left)) - ctx.points_payment_fen, 0)
        for rule, action in earns:
            points, amount = _earned(action, s, left, base)
            cut = 0
            if rule.budget_points is not None:
                wanted = points
                points = _capped(rule, points, points_so_far, s, "points")
                cut = wanted - points
            if points > 0:
                earned += points
                gave_points = True
                found.append(make(EARN, rule, action, points, 0, max(action.pending_days, hold),
                                  amount, (), cut))
    if multipliers:                                       # on the earned points only
        adjustments = []
        for rule, action in multipliers:
            points = percent_of(earned + earned_elsewhere, action.params["pct"] - 100)
            cut = 0
            if points > 0 and rule.budget_points is not None:
                wanted = points
                points = _capped(rule, points, points_so_far, s, "points")
                cut = wanted - points
            if points:
                adjustments.append([rule, action, points, cut])
        # Multipliers below 100 % take points off; all of them together never take more
        # than the earned points (with what the others added): the result is never negative.
        room = earned + earned_elsewhere + sum(a[2] for a in adjustments if a[2] > 0)
        for adjustment in adjustments:
            if adjustment[2] < 0:
                adjustment[2] = max(adjustment[2], -room)
                room += adjustment[2]
        for rule, action, points, cut in adjustments:
            if points > 0:
                gave_points = True
                found.append(make(MULTIPLY, rule, action, points, 0, max(action.pending_days, hold),
                                  0, (), cut))
            elif points < 0:
                found.append(make(MULTIPLY, rule, action, points, 0, 0, 0, (), 0))
    for rule, action in bonuses:
        points = action.params["points"]
        cut = 0
        if rule.budget_points is not None:
            points = _capped(rule, points, points_so_far, s, "points")
            cut = action.params["points"] - points
        if points > 0:
            gave_points = True
            found.append(make(BONUS, rule, action, points, 0, max(action.pending_days, hold), 0, (), cut))
    held_by = ()
    if holds and gave_points:
        held_by = tuple(rule for rule, _ in holds)     # it changed what was given
    for rule, action in rest:
        if action.stage == STORED_VALUE:
            params = action.params
            amount = (percent_of(ctx.topup_amount_fen, params["pct"]) if "pct" in params
                      else params["amount_fen"])
            cut = 0
            if rule.budget_fen is not None:
                wanted = amount
                amount = _capped(rule, amount, fen_so_far, s, "fen")
                cut = wanted - amount
            if amount > 0:
                found.append(make(STORED_VALUE, rule, action, 0, amount, 0, 0, (), cut))
        elif action.type == "renew_membership" and \
                action.params.get("cost_points", 0) > s.member.points_balance:
            continue                                     # cannot pay for the renewal with points
        else:
            found.append(make(OTHER, rule, action, 0, 0, 0, 0, (), 0))
    return found, earned, held_by


def _capped(rule: CompiledRule, amount: int, so_far: dict[int, int], s: FactSnapshot,
            kind: str) -> int:
    """``amount`` cut to what is left of the rule's points or fen budget.

    The budget policy is *partial*: a grant bigger than what is left of the budget gives
    what is left (the receipt line says so); once nothing is left the rule stops."""
    budget = rule.limits.budget_points if kind == "points" else rule.limits.budget_fen
    used = s.ctx.budget_used.get(rule.id)
    left = budget - (getattr(used, kind) if used else 0) - so_far.get(rule.id, 0)
    amount = max(min(amount, left), 0)
    so_far[rule.id] = so_far.get(rule.id, 0) + amount
    return amount


# ---------------------------------------------------------------- numbers

def _take_discount(rule: CompiledRule, action: Action, s: FactSnapshot, left: list[int],
                   fen_so_far: dict[int, int]) -> tuple[int, tuple[int, ...], int]:
    """(fen off, (line number, fen) per line it came off, fen the budget cut) for one
    discount; takes it off
    ``left``. Spread over its lines by ``wxcrm.money.spread``, the till's own rule."""
    lines = s.lines
    selector = action.selector
    chosen = [i for i in (range(len(lines)) if selector is None else s.chosen(selector)) if left[i] > 0]
    room = sum([left[i] for i in chosen])
    if room <= 0:
        return 0, (), 0
    params = action.params
    if action.type == "discount_percent":
        amount = percent_of(room, params["pct"])
    elif params.get("per_item"):
        amount = params["amount_fen"] * sum(lines[i].qty for i in chosen)
    else:
        amount = params["amount_fen"]
    amount = min(amount, room)
    cut = 0
    if rule.budget_fen is not None:
        wanted = amount
        amount = _capped(rule, amount, fen_so_far, s, "fen")
        cut = wanted - amount
    if amount <= 0:
        return 0, (), 0
    shares = spread(amount, [left[i] for i in chosen])
    for i, share in zip(chosen, shares):
        left[i] -= share
    return amount, tuple((lines[i].line_no, share) for i, share in zip(chosen, shares) if share), cut


def _earned(action: Action, s: FactSnapshot, left: list[int] | None, base: int) -> tuple[int, int]:
    """(points, amount they were earned on) for one earn_points action."""
    amount = base
    if action.selector is not None:
        if left is None:                  # no discount: every line is still at full price
            net, left = s.total_fen, s.amounts
        else:
            net = sum(left)
        lines = s.chosen(action.selector)
        chosen = net if len(lines) == len(left) else sum([left[i] for i in lines])
        # The chosen lines' share of the points payment, rounded up: points never come
        # from value that was itself paid with points.
        paid_with_points = -(-s.ctx.points_payment_fen * chosen // net) if net else 0
        amount = max(min(chosen - paid_with_points, base), 0)
    return points_for_amount(amount, action.params["rate"]) // action.per_yuan, amount


# ---------------------------------------------------------------- words

def _as_effect(stage: int, rule: CompiledRule, action: Action, points: int, fen: int,
               pending_days: int, base_fen: int, line_discounts: tuple[tuple[int, int], ...],
               cut: int = 0) -> Effect:
    """The receipt line for one award (given as ``Award``'s fields), in zh-CN and English."""
    zh, en = action.zh, action.en
    if stage == EARN:
        amount = yuan(base_fen)
        return _points_effect(rule, points, pending_days, f"{zh[0]}{amount}{zh[1]}{points}{zh[2]}",
                              f"{en[0]}{amount}{en[1]}{points}{en[2]}", cut)
    if stage == MULTIPLY:
        if points < 0:                       # a multiplier below 100 %: points off
            return _points_effect(rule, points, 0, f"{zh[0][:-1]}{points}{zh[1]}",
                                  f"{en[0][:-1]}{points}{en[1]}")
        return _points_effect(rule, points, pending_days, f"{zh[0]}{points}{zh[1]}",
                              f"{en[0]}{points}{en[1]}", cut)
    if stage == BONUS:
        effect = action.constant_effect      # the same line every time unless a budget cut it
        if effect is None or effect.points != points or effect.pending_days != pending_days:
            effect = _points_effect(rule, points, pending_days, f"{zh[0]}{points}{zh[1]}",
                                    f"{en[0]}{points}{en[1]}", cut)
            if points == action.params["points"] and pending_days == action.pending_days:
                action.constant_effect = effect
        return effect
    if stage == DISCOUNT:
        amount = yuan(fen)
        zh_text, en_text = _budget_note(f"{zh[0]}{amount}{zh[1]}", f"{en[0]}{amount}{en[1]}", cut, "fen")
        return new_effect("discount", rule, zh_text, en_text, 0, 0, fen, line_discounts)
    if stage == STORED_VALUE:
        amount = yuan(fen)
        zh_text, en_text = _budget_note(f"{zh[0]}{amount}{zh[1]}", f"{en[0]}{amount}{en[1]}", cut, "fen")
        return new_effect("stored_value_bonus", rule, zh_text, en_text, 0, 0, fen)
    effect = action.constant_effect          # coupons, membership, tier, reset, messages
    if effect is None:
        effect = action.constant_effect = _fixed_effect(rule, action)
    return effect


def _points_effect(rule: CompiledRule, points: int, pending_days: int, text_zh: str,
                   text_en: str, cut: int = 0) -> Effect:
    if pending_days:                         # held for a return window, or a hold_points rule
        text_zh += f"（{pending_days} 天后可用）"
        text_en += f" (usable after {pending_days} days)"
    text_zh, text_en = _budget_note(text_zh, text_en, cut, "points")
    return new_effect("points", rule, text_zh, text_en, points, pending_days)


def _budget_note(text_zh: str, text_en: str, cut: int, kind: str) -> tuple[str, str]:
    """A grant the rule's budget cut (the partial policy) says so on its line."""
    if not cut:
        return text_zh, text_en
    if kind == "points":
        return (text_zh + f"（预算余额不足，少发 {cut} 积分）",
                text_en + f" (budget nearly spent: {cut} points short)")
    return (text_zh + f"（预算余额不足，少优惠 {yuan(cut)} 元）",
            text_en + f" (budget nearly spent: {yuan(cut)} yuan short)")


def _fixed_effect(rule: CompiledRule, action: Action) -> Effect:
    p = action.params
    kind = action.type
    if kind == "issue_coupon":
        count = p.get("count", 1)
        zh, en = f"赠送优惠券 {p['template']} × {count}", f"coupon {p['template']} x{count}"
        params = {"template": p["template"], "count": count}
        effect_kind = "coupon"
    elif kind == "renew_membership":
        cost = p.get("cost_points", 0)
        zh, en = f"会员续期 {p['months']} 个月", f"membership renewed for {p['months']} months"
        if cost:
            zh += f"（使用 {cost} 积分）"
            en += f" (for {cost} points)"
        params = {"months": p["months"], "cost_points": cost}
        effect_kind = "renew"
    elif kind == "cancel_membership":
        zh, en, params, effect_kind = "会员资格取消", "membership cancelled", {}, "cancel"
    elif kind == "set_tier":
        name_zh, name_en = action.tier_name or (p["tier"], p["tier"])
        zh, en = f"会员等级调整为{name_zh}", f"tier set to {name_en}"
        params, effect_kind = {"tier": p["tier"]}, "set_tier"
    elif kind == "reset_points":
        zh, en, params, effect_kind = "积分清零", "points reset to zero", {}, "reset_points"
    elif kind == "no_points":
        zh, en, params, effect_kind = "本单不积分", "no points on this sale", {}, "no_points"
    elif kind == "send_message":
        zh, en = f"微信消息 {p['template']}", f"WeChat message {p['template']}"
        params = {"template": p["template"], "data": dict(p.get("data", {}))}
        effect_kind = "message"
    else:  # pragma: no cover - the schema allows no other action
        raise ValueError(f"unknown action {kind!r}")
    # Shared by every evaluation of the rule set: its params stay read-only (a message's
    # data stays a plain dict, so that json.dumps(dict(effect.params)) works).
    return new_effect(effect_kind, rule, f"{rule.name}：{zh}", f"{rule.name_en}: {en}",
                      params=MappingProxyType(params))
