"""Hostile XML stops here, before wechatpy (xmltodict/expat) sees the body.

defusedxml refuses DTDs, entity declarations and external references (billion laughs,
quadratic blow-up, XXE); the size cap bounds the work a request can make us do.
"""
from __future__ import annotations

import re
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

MAX_BODY_BYTES = 64 * 1024  # WeChat messages are a few KB; text content is capped at 2048 bytes


class HostileXml(ValueError):
    """The body is not a plain, small WeChat <xml> document."""


def checked_xml(body: bytes | str) -> Element:
    """Parse safely and return the root, or raise HostileXml saying why."""
    raw = body.encode() if isinstance(body, str) else body
    if len(raw) > MAX_BODY_BYTES:
        raise HostileXml(f"body over {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        raise HostileXml("empty body")
    try:
        root = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise HostileXml(f"forbidden XML construct: {type(exc).__name__}") from exc
    except (ParseError, ValueError) as exc:
        raise HostileXml(f"malformed XML: {exc}") from exc
    if root.tag != "xml":
        raise HostileXml(f"root element is <{root.tag}>, not <xml>")
    return root


# What a WeChat message may hold, checked before wechatpy converts anything (its fields convert
# lazily, so a bad value would fail deep inside the handler). Anything else is refused with 400.
_TAG = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_FIELDS = {
    "ToUserName": re.compile(r"^[A-Za-z0-9_@.-]{1,64}$"),
    "FromUserName": re.compile(r"^[A-Za-z0-9_-]{1,64}$"),
    "CreateTime": re.compile(r"^\d{1,10}$"),
    "MsgType": re.compile(r"^[a-z_]{1,32}$"),
    "MsgId": re.compile(r"^\d{1,19}$"),
    "MsgID": re.compile(r"^\d{1,19}$"),
    "Event": re.compile(r"^[A-Za-z_]{1,32}$"),
}
_REQUIRED = ("ToUserName", "FromUserName", "CreateTime", "MsgType")
# Events that carry a nested block (menu scan / photo / location pickers; a mass send's report
# with its copyright check and article results); nothing else nests.
_CONTAINERS = frozenset({"ScanCodeInfo", "SendPicsInfo", "SendLocationInfo", "PicList", "item",
                         "CopyrightCheckResult", "ResultList", "ArticleUrlResult"})
MAX_FIELD_CHARS = 2048
MAX_ID = 2**63 - 1


def checked_message(root: Element) -> None:
    """Raise HostileXml unless ``root`` is a flat WeChat message with sane fields."""
    seen: set[str] = set()
    for child in root:
        tag = child.tag
        if not isinstance(tag, str) or not _TAG.match(tag):
            raise HostileXml("bad element name")
        if tag in seen:
            raise HostileXml(f"<{tag}> appears twice")
        seen.add(tag)
        if len(child):
            if tag not in _CONTAINERS:
                raise HostileXml(f"<{tag}> holds elements")
            _check_container(child, depth=1)
            continue
        text = child.text or ""
        if len(text) > MAX_FIELD_CHARS:
            raise HostileXml(f"<{tag}> is too long")
        pattern = _FIELDS.get(tag)
        if pattern is not None and not pattern.match(text.strip()):
            raise HostileXml(f"<{tag}> is not a valid value")
        if tag in ("MsgId", "MsgID") and int(text) > MAX_ID:
            raise HostileXml(f"<{tag}> is too large")
    missing = [name for name in _REQUIRED if name not in seen]
    if missing:
        raise HostileXml(f"missing {', '.join(missing)}")


def _check_container(node: Element, depth: int) -> None:
    if depth > 3:
        raise HostileXml("nested too deep")
    for child in node:
        if not isinstance(child.tag, str) or not _TAG.match(child.tag):
            raise HostileXml("bad element name")
        if len(child):
            _check_container(child, depth + 1)
        elif len(child.text or "") > MAX_FIELD_CHARS:
            raise HostileXml(f"<{child.tag}> is too long")
