"""Hostile XML stops here, before wechatpy (xmltodict/expat) sees the body.

defusedxml refuses DTDs, entity declarations and external references (billion laughs,
quadratic blow-up, XXE); the size cap bounds the work a request can make us do.
"""
from __future__ import annotations

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
