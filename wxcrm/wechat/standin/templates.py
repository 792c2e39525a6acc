"""The account's template messages and WeChat's keyword types (类目模板消息参数值内容限制).

A template is registered with its keywords (``thing1``, ``number2``, ...) whose prefix is
the type; a value that does not fit its type is what WeChat answers 47003 for.
The defaults are the templates wxcrm ships in ``WXCRM_WECHAT_TEMPLATE_IDS`` with the
keyword layouts ``wxcrm.messages.kinds`` documents (the account's configuration, not a
rule: ``/standin/templates`` registers others).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DATE = r"(?:\d{4}年\d{1,2}月\d{1,2}日|\d{4}年\d{1,2}月|\d{1,2}月\d{1,2}日|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|" \
        r"\d{4}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2})"
_TIME = r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?"
_DATE_POINT = rf"{_DATE}(?:\s*{_TIME})?"
_TIME_POINT = rf"(?:{_DATE}\s*)?{_TIME}"
DATE = re.compile(rf"^{_DATE_POINT}(?:\s*~\s*(?:{_DATE_POINT}|{_TIME}))?$")
TIME = re.compile(rf"^{_TIME_POINT}(?:\s*~\s*{_TIME_POINT})?$")
NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
AMOUNT = re.compile(r"^[¥￥$€£]?\d{1,10}(?:\.\d{1,2})?元?$")
CHAR_STRING = re.compile(r"^[\x21-\x7e]+$")
LETTERS = re.compile(r"^[A-Za-z]+$")
PHONE = re.compile(r"^[0-9+\-() ]+$")
CAR = re.compile(rf"^[{CJK}A-Z0-9][A-Z0-9]{{4,6}}[{CJK}A-Z0-9]$")
CHINESE = re.compile(rf"^[{CJK}]+$")
SYMBOLS = re.compile(rf"^[^0-9A-Za-z{CJK}\s]+$")


def _thing(v: str) -> bool:
    return 0 < len(v) <= 20


def _name(v: str) -> bool:
    if re.search(f"[{CJK}]", v):
        return len(v) <= 10
    return 0 < len(v) <= 20 and bool(re.fullmatch(r"[A-Za-z\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e ]+", v))


CHECKS = {
    "thing": _thing,
    "number": lambda v: len(v) <= 32 and bool(NUMBER.match(v)),
    "letter": lambda v: len(v) <= 32 and bool(LETTERS.match(v)),
    "symbol": lambda v: len(v) <= 5 and bool(SYMBOLS.match(v)),
    "character_string": lambda v: len(v) <= 32 and bool(CHAR_STRING.match(v)),
    "time": lambda v: bool(TIME.match(v)),
    "date": lambda v: bool(DATE.match(v)),
    "amount": lambda v: bool(AMOUNT.match(v)),
    "phone_number": lambda v: len(v) <= 17 and bool(PHONE.match(v)),
    "car_number": lambda v: len(v) <= 8 and bool(CAR.match(v)),
    "name": _name,
    "phrase": lambda v: len(v) <= 5 and bool(CHINESE.match(v)),
}


def keyword_type(key: str) -> str:
    return key.rstrip("0123456789")


@dataclass
class Template:
    template_id: str
    title: str
    keywords: tuple[str, ...]                           # ("thing1", "number2", ...), in the template's order
    const_values: dict[str, tuple[str, ...]] = field(default_factory=dict)   # approved values of const keywords

    def bad_keyword(self, data: object) -> str | None:
        """The first keyword whose value WeChat would refuse, or None."""
        data = data if isinstance(data, dict) else {}
        for key in self.keywords:
            item = data.get(key)
            value = item.get("value") if isinstance(item, dict) else None
            if not isinstance(value, str) or not value_fits(key, value, self.const_values.get(key, ())):
                return key
        return None

    def as_dict(self) -> dict:
        return {"template_id": self.template_id, "title": self.title, "keywords": list(self.keywords),
                "const_values": {k: list(v) for k, v in self.const_values.items()}}


def value_fits(key: str, value: str, approved: tuple[str, ...] = ()) -> bool:
    kind = keyword_type(key)
    if kind == "const":
        return value == "" or value in approved
    if not value or CONTROL.search(value):
        return False
    check = CHECKS.get(kind)
    return bool(check and check(value))


def template_from(data: dict) -> Template:
    """A template from its registration (``/standin/templates``); ValueError names what is wrong."""
    template_id = str(data.get("template_id") or "").strip()
    keywords = tuple(str(k) for k in data.get("keywords") or ())
    if not template_id or not keywords:
        raise ValueError("a template needs template_id and keywords")
    unknown = [k for k in keywords if keyword_type(k) not in CHECKS and keyword_type(k) != "const"]
    if unknown:
        raise ValueError(f"unknown keyword types: {', '.join(unknown)}")
    const = {str(k): tuple(str(v) for v in values) for k, values in (data.get("const_values") or {}).items()}
    return Template(template_id, str(data.get("title") or template_id), keywords, const)


DEFAULT_TEMPLATES = (
    # thing1 store name, character_string2 the signed change ("+20"; a number has no sign), number3 balance
    Template("TPL_POINTS_CHANGED", "积分变动提醒", ("thing1", "character_string2", "number3")),
    Template("TPL_TOPUP_DONE", "充值成功通知", ("thing1", "amount2", "amount3", "time4")),
    Template("TPL_STORED_VALUE_LOW", "余额不足提醒", ("amount1",)),
    Template("TPL_COUPON_RECEIVED", "优惠券到账通知", ("thing1", "date2")),
    Template("TPL_COUPON_EXPIRING", "优惠券过期提醒", ("thing1", "date2")),
    # character_string1 card number, date2 expiry date
    Template("TPL_MEMBERSHIP_EXPIRING", "会员到期提醒", ("character_string1", "date2")),
    Template("TPL_POINTS_EXPIRING", "积分到期提醒", ("number1", "date2")),
    Template("TPL_SERVICE_NOTICE", "服务通知", ("thing1", "time2")),
)


def default_templates() -> dict[str, Template]:
    return {t.template_id: Template(t.template_id, t.title, t.keywords, dict(t.const_values))
            for t in DEFAULT_TEMPLATES}
