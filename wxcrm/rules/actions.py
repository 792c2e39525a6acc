"""What a rule may do: the allow-listed actions, their parameters and the events they suit.

Only these actions exist; a stored rule naming anything else fails validation, so the
engine never looks an action up by an arbitrary name. Parameters are integers (fen,
points, whole percent) or short codes: nothing here holds a float.
"""
from __future__ import annotations

from dataclasses import dataclass

from wxcrm.errors import N_
from wxcrm.rules.context import EVENTS

_ALL = frozenset(EVENTS)
_EARNING = frozenset({"purchase", "topup"})
_LIFECYCLE = frozenset({"membership_expiry", "schedule"})

CODE = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^\S(.*\S)?$",
        "x-hint": N_("must be a code without leading or trailing spaces")}
CODE_LIST = {"type": "array", "minItems": 1, "maxItems": 1000, "uniqueItems": True, "items": CODE}
LINE_SELECTOR = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {key: CODE_LIST for key in
                   ("skus", "categories", "exclude_skus", "exclude_categories")},
}
PENDING_DAYS = {"type": "integer", "minimum": 0, "maximum": 365}
POSITIVE_FEN = {"type": "integer", "minimum": 1, "maximum": 100_000_000}  # up to 1,000,000 yuan


@dataclass(frozen=True)
class ActionSpec:
    type: str
    effect_kind: str            # the Effect.kind it produces ("" for hold_points)
    events: frozenset[str]
    gives: str                  # "points", "fen" or "" (what a rule budget caps)
    params: dict                # JSON Schema properties of the parameters
    required: tuple[str, ...]
    label_zh: str
    label_en: str


_ACTIONS = (
    ActionSpec("earn_points", "points", _EARNING, "points",
               {"rate": {"type": "integer", "minimum": 1, "maximum": 1000},
                "per_yuan": {"type": "integer", "minimum": 1, "maximum": 10_000},
                "on": LINE_SELECTOR, "pending_days": PENDING_DAYS},
               ("rate",), "按消费金额积分", "earn points per amount spent"),
    ActionSpec("bonus_points", "points", _ALL - {"refund"}, "points",
               {"points": {"type": "integer", "minimum": 1, "maximum": 10_000_000},
                "pending_days": PENDING_DAYS},
               ("points",), "赠送积分", "bonus points"),
    ActionSpec("multiply_points", "points", _EARNING, "points",
               {"pct": {"type": "integer", "minimum": 1, "maximum": 1000,
                        "x-hint": N_("must be a whole percent from 1 to 1000 (50 = half, 200 = double points)")},
                "pending_days": PENDING_DAYS},
               ("pct",), "积分倍数", "points multiplier"),
    ActionSpec("no_points", "no_points", _EARNING, "", {}, (),
               "不积分（本单不得任何积分）", "no points (this sale earns none)"),
    ActionSpec("hold_points", "", _EARNING, "",
               {"days": {"type": "integer", "minimum": 1, "maximum": 365}},
               ("days",), "积分冻结期（退货期）", "hold points for a return window"),
    ActionSpec("discount_percent", "discount", frozenset({"purchase"}), "fen",
               {"pct": {"type": "integer", "minimum": 1, "maximum": 100,
                        "x-hint": N_("must be a whole percent off from 1 to 100 (10 = 10 percent off)")},
                "on": LINE_SELECTOR},
               ("pct",), "折扣", "percentage discount"),
    ActionSpec("discount_fixed", "discount", frozenset({"purchase"}), "fen",
               {"amount_fen": POSITIVE_FEN, "on": LINE_SELECTOR, "per_item": {"type": "boolean"}},
               ("amount_fen",), "立减", "fixed discount"),
    ActionSpec("issue_coupon", "coupon", _ALL - {"refund"}, "",
               {"template": CODE, "count": {"type": "integer", "minimum": 1, "maximum": 10}},
               ("template",), "发放优惠券", "issue a coupon"),
    ActionSpec("bonus_stored_value", "stored_value_bonus", frozenset({"topup"}), "fen",
               {"pct": {"type": "integer", "minimum": 1, "maximum": 100},
                "amount_fen": POSITIVE_FEN},
               (), "充值赠送储值", "bonus stored value"),
    ActionSpec("renew_membership", "renew", _ALL - {"refund"}, "",
               {"months": {"type": "integer", "minimum": 1, "maximum": 120},
                "cost_points": {"type": "integer", "minimum": 0, "maximum": 10_000_000}},
               ("months",), "会员续期", "renew membership"),
    ActionSpec("cancel_membership", "cancel", _LIFECYCLE, "", {}, (),
               "取消会员资格", "cancel membership"),
    ActionSpec("set_tier", "set_tier", _ALL, "", {"tier": CODE}, ("tier",),
               "调整会员等级", "set tier"),
    ActionSpec("reset_points", "reset_points", _LIFECYCLE, "", {}, (),
               "积分清零", "reset points to zero"),
    ActionSpec("send_message", "message", _ALL, "",
               {"template": CODE,
                "data": {"type": "object", "maxProperties": 20,
                         "additionalProperties": {"type": "string", "maxLength": 200}}},
               ("template",), "发送微信模板消息", "send a WeChat template message"),
)
ACTIONS: dict[str, ActionSpec] = {spec.type: spec for spec in _ACTIONS}


def export_actions() -> list[dict]:
    """The catalogue as plain data, for the console's rule form."""
    return [{"type": a.type, "effect_kind": a.effect_kind, "events": sorted(a.events),
             "gives": a.gives, "params": a.params, "required": list(a.required),
             "label_zh": a.label_zh, "label_en": a.label_en} for a in _ACTIONS]
