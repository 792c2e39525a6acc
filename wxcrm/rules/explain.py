"""Why a condition, a scope, a validity or a limit does not let a rule apply, in words:
English naming the JSON path (for whoever reads the rule), Chinese naming the fact by its
label with amounts in 元 (for the console). Only the simulator's trace uses this; the
till's fast path never words anything.
"""
from __future__ import annotations

from wxcrm.rules.conditions import AllOf, Leaf, NotOf, holds, leaf_holds, read_fact
from wxcrm.rules.facts import FactSnapshot, FactSpec, LineSelector
from wxcrm.rules.wording import DATE_OP_ZH, OP_ZH, VALUES_ZH, listed_zh, money_zh, weekday_zh


def describe(leaf: Leaf) -> str:
    name = leaf.spec.name
    if leaf.window_days:
        name += f" (last {leaf.window_days} days)"
    if leaf.selector is not None and not leaf.selector.chooses_every_line:
        name += f" [{leaf.selector.describe()}]"
    return f"{name} {leaf.op} {show(leaf.value)}"


def describe_zh(leaf: Leaf) -> str:
    """The same test in the console's Chinese: 购物篮总额 至少 300.00 元."""
    spec = leaf.spec
    name = fact_name_zh(spec)
    if leaf.window_days:
        name = f"最近 {leaf.window_days} 天{name}"
    if leaf.selector is not None and not leaf.selector.chooses_every_line:
        name += f"（{_selector_zh(leaf.selector)}）"
    if leaf.op == "between":
        low, high = leaf.value
        return f"{name} 介于 {value_zh(spec, low)} 与 {value_zh(spec, high)} 之间"
    if spec.type == "bool":
        return f"{name} 为 {value_zh(spec, leaf.value)}"
    words = DATE_OP_ZH if spec.type == "date" else OP_ZH
    return f"{name} {words[leaf.op]} {values_zh(spec, leaf.value)}"


def show(value: object) -> str:
    if isinstance(value, frozenset):
        return "[" + ", ".join(sorted(map(str, value))) + "]"
    if isinstance(value, tuple):
        return f"[{value[0]}, {value[1]}]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def fact_name_zh(spec: FactSpec) -> str:
    """The fact's Chinese label without its unit note: amounts are shown in 元, weekdays
    by name (购物篮总额（分） -> 购物篮总额, 星期（1=周一） -> 星期)."""
    return spec.label_zh.split("（", 1)[0]


def _ordered(values) -> list:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def value_zh(spec: FactSpec, value: object) -> str:
    if value is None:
        return "未知"
    if isinstance(value, bool):
        return "是" if value else "否"
    if spec.type == "money" and isinstance(value, int):
        return money_zh(value)
    if spec.name == "time.weekday":
        return weekday_zh(value)
    return VALUES_ZH.get(spec.name, {}).get(value, str(value))


def values_zh(spec: FactSpec, value: object) -> str:
    if isinstance(value, (frozenset, set)):
        return listed_zh(value_zh(spec, v) for v in _ordered(value)) or "无"
    return value_zh(spec, value)


def _selector_zh(selector: LineSelector) -> str:
    parts = []
    if selector.skus:
        parts.append("商品 " + listed_zh(sorted(selector.skus)))
    if selector.categories:
        parts.append("品类 " + listed_zh(sorted(selector.categories)))
    if selector.exclude_skus:
        parts.append("不含商品 " + listed_zh(sorted(selector.exclude_skus)))
    if selector.exclude_categories:
        parts.append("不含品类 " + listed_zh(sorted(selector.exclude_categories)))
    return "；".join(parts) or "全部商品"



def why_not(node, s: FactSnapshot) -> tuple[str, str] | None:
    """Why a condition tree does not hold, as (English, Chinese); None when it holds.

    The English names the failing test by its path and fact name, for whoever reads the
    rule's JSON; the Chinese by the fact's label, with amounts in 元, for the console."""
    if isinstance(node, Leaf):
        actual = read_fact(node, s)
        if leaf_holds(node, actual):
            return None
        if node.spec.type == "lines":
            shown = show(frozenset(actual))
            found_zh = f"购物篮中为 {values_zh(node.spec, actual)}" if actual else "购物篮为空"
        else:
            shown = show(actual)
            found_zh = f"实际为 {value_zh(node.spec, actual)}"
        return (f"{node.path}: {describe(node)} is false ({node.spec.name} is {shown})",
                f"{describe_zh(node)} 不成立（{found_zh}）")
    if isinstance(node, NotOf):
        if holds(node.child, s):
            return (f"{node.path}: must not hold, but {_describe(node.child)} does",
                    f"不应满足“{_describe_zh(node.child)}”，但满足了")
        return None
    if isinstance(node, AllOf):
        for child in node.children:
            reasons = why_not(child, s)
            if reasons:
                return reasons
        return None
    found = []
    for child in node.children:
        reasons = why_not(child, s)
        if reasons is None:
            return None
        found.append(reasons)
    return (f"{node.path}: none of the alternatives holds ({'; '.join(en for en, _ in found)})",
            f"以下条件都不成立：{'；'.join(zh for _, zh in found)}")


def _describe(node) -> str:
    if isinstance(node, Leaf):
        return describe(node)
    if isinstance(node, NotOf):
        return f"not ({_describe(node.child)})"
    joiner = " and " if isinstance(node, AllOf) else " or "
    return "(" + joiner.join(map(_describe, node.children)) + ")"


def _describe_zh(node) -> str:
    if isinstance(node, Leaf):
        return describe_zh(node)
    if isinstance(node, NotOf):
        return f"非（{_describe_zh(node.child)}）"
    joiner = " 且 " if isinstance(node, AllOf) else " 或 "
    return "（" + joiner.join(map(_describe_zh, node.children)) + "）"

