"""WeChat template messages as the account has them: each purpose's template id WITH its
keywords, and each value checked against its keyword's type before it is sent.

``WXCRM_WECHAT_TEMPLATE_IDS`` names them: ``purpose=TEMPLATE_ID`` uses the layout
``kinds`` documents for that purpose; ``purpose=TEMPLATE_ID:thing1=store|number3=balance``
spells it out (keyword = the message value that fills it). A keyword's type is its
prefix (``thing1`` is a thing), as in WeChat's category templates, whose rules
(类目模板消息参数值内容限制) are checked here: a value WeChat would refuse with 47003
is never sent. A thing longer than 20 characters is cut with "…" (still a thing);
nothing else is ever cut, since a cut number, amount or code is no longer valid.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from wxcrm.config import Settings
from wxcrm.messages.kinds import KINDS

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_DATE = r"(?:\d{4}年\d{1,2}月\d{1,2}日|\d{4}年\d{1,2}月|\d{1,2}月\d{1,2}日|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|" \
        r"\d{4}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2})"
_TIME = r"(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?"
_PATTERNS = {
    "number": re.compile(r"\d{1,32}(?:\.\d+)?"),
    "letter": re.compile(r"[A-Za-z]{1,32}"),
    "symbol": re.compile(rf"[^0-9A-Za-z{_CJK}\s]{{1,5}}"),
    "character_string": re.compile(r"[\x21-\x7e]{1,32}"),
    "time": re.compile(rf"(?:{_DATE}\s*)?{_TIME}(?:\s*~\s*(?:{_DATE}\s*)?{_TIME})?"),
    "date": re.compile(rf"{_DATE}(?:\s*{_TIME})?(?:\s*~\s*(?:{_DATE}(?:\s*{_TIME})?|{_TIME}))?"),
    "amount": re.compile(r"[¥￥$€£]?\d{1,10}(?:\.\d{1,2})?元?"),
    "phone_number": re.compile(r"[0-9+\-() ]{1,17}"),
    "car_number": re.compile(rf"[{_CJK}A-Z0-9][A-Z0-9]{{4,6}}[{_CJK}A-Z0-9]"),
    "phrase": re.compile(rf"[{_CJK}]{{1,5}}"),
}
THING_LIMIT = 20
KEYWORD_TYPES = frozenset(_PATTERNS) | {"thing", "name", "const"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class TemplateValueError(ValueError):
    """A value does not fit its keyword: ``keyword`` and ``value`` say which."""

    def __init__(self, keyword: str, value: str | None):
        super().__init__(f"{keyword} {value!r}" if value is not None else f"{keyword} has no value")
        self.keyword = keyword
        self.value = value


@dataclass(frozen=True)
class TemplateSpec:
    purpose: str
    template_id: str
    keywords: tuple[tuple[str, str], ...]     # (keyword, message value name)

    def data(self, values: Mapping[str, object]) -> dict[str, dict[str, str]]:
        """The template data WeChat takes, or TemplateValueError for the first value that
        does not fit. A value is looked up by its name, then by the keyword itself."""
        data = {}
        for keyword, name in self.keywords:
            raw = values.get(name, values.get(keyword))
            data[keyword] = {"value": fit(keyword, None if raw is None else str(raw))}
        return data


def keyword_type(keyword: str) -> str:
    return keyword.rstrip("0123456789")


def fit(keyword: str, value: str | None) -> str:
    """``value`` as WeChat accepts it for ``keyword``: unchanged, or a thing cut to 20."""
    if value is None or not value.strip() or _CONTROL.search(value):
        raise TemplateValueError(keyword, value)
    kind = keyword_type(keyword)
    if kind == "thing":
        return value if len(value) <= THING_LIMIT else value[:THING_LIMIT - 1] + "…"
    if kind == "const":
        return value   # approved values only; WeChat's list is the account's, not ours to know
    if kind == "name":
        ok = len(value) <= 10 if re.search(f"[{_CJK}]", value) else (
            len(value) <= 20 and re.fullmatch(r"[A-Za-z .'\-]+", value) is not None)
        if ok:
            return value
        raise TemplateValueError(keyword, value)
    pattern = _PATTERNS.get(kind)
    if pattern is None or not pattern.fullmatch(value):
        raise TemplateValueError(keyword, value)
    return value


def parse_spec(purpose: str, raw: str) -> TemplateSpec:
    """``TEMPLATE_ID`` or ``TEMPLATE_ID:keyword=name|keyword|...``; ValueError when wrong."""
    template_id, _, layout = raw.partition(":")
    template_id = template_id.strip()
    if not template_id:
        raise ValueError(f"{purpose}: no template id")
    if layout.strip():
        keywords = []
        for item in layout.split("|"):
            keyword, _, name = item.strip().partition("=")
            keywords.append((keyword.strip(), (name or keyword).strip()))
    else:
        kind = KINDS.get(purpose)
        if kind is None or not kind.template_keywords:
            raise ValueError(f"{purpose}: no default layout; give its keywords (TEMPLATE_ID:thing1=...)")
        keywords = list(kind.template_keywords)
    unknown = [k for k, _ in keywords if keyword_type(k) not in KEYWORD_TYPES or k == keyword_type(k)]
    if unknown:
        raise ValueError(f"{purpose}: unknown keyword types {', '.join(unknown)}")
    return TemplateSpec(purpose, template_id, tuple(keywords))


def template_for(settings: Settings, purpose: str) -> TemplateSpec | None:
    """The account's template for a purpose, or None when none is configured (or its
    configuration is wrong: ``config_problems`` names it, and production refuses it)."""
    raw = settings.wechat_template_ids.get(purpose)
    if not raw:
        return None
    try:
        return parse_spec(purpose, raw)
    except ValueError:
        return None


def config_problems(settings: Settings) -> list[str]:
    problems = []
    for purpose, raw in settings.wechat_template_ids.items():
        if purpose not in KINDS:
            problems.append(f"WXCRM_WECHAT_TEMPLATE_IDS: unknown purpose {purpose}")
            continue
        if not KINDS[purpose].service_notice:
            problems.append(f"WXCRM_WECHAT_TEMPLATE_IDS: {purpose} is marketing, never a template message")
            continue
        try:
            parse_spec(purpose, raw)
        except ValueError as exc:
            problems.append(f"WXCRM_WECHAT_TEMPLATE_IDS: {exc}")
    return problems
