"""Errors as application/problem+json (RFC 9457) with a stable ``code``.

API paths always answer problem+json; other paths keep Flask's HTML error pages.
"""
from __future__ import annotations

import json
import logging
import re

from flask import Flask, jsonify, render_template, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, InternalServerError

from wxcrm.errors import DomainError
from wxcrm.idempotency import IdempotencyConflict

log = logging.getLogger(__name__)

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
              422: "validation_failed", 429: "rate_limited", 500: "internal_error"}


def problem(status: int, code: str, title: str, detail: str = "", errors: list | None = None):
    body = {"type": f"https://wxcrm.example/problems/{code}", "status": status, "code": code,
            "title": title, "detail": detail}
    if errors:
        body["errors"] = errors
    resp = jsonify(body)
    resp.status_code = status
    resp.content_type = "application/problem+json"
    return resp


def flatten_messages(messages, prefix: str = "") -> list[dict]:
    """webargs' nested {'json': {'items': {0: {'qty': ['...']}}}} -> [{'path': 'items.0.qty', ...}]."""
    out: list[dict] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key in ("json", "query", "headers", "form", "view_args") and not prefix:
                out += flatten_messages(value, "")
                continue
            path = f"{prefix}.{key}" if prefix else str(key)
            out += flatten_messages(value, path)
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out += [{"path": prefix or "$", "message": m} for m in messages]
    elif isinstance(messages, list):
        for i, value in enumerate(messages):
            out += flatten_messages(value, f"{prefix}.{i}" if prefix else str(i))
    else:
        out.append({"path": prefix or "$", "message": str(messages)})
    return out


def _is_api() -> bool:
    return request.path.startswith("/api/")


MAX_JSON_DEPTH = 32


def _depth(value, limit: int) -> int:
    """How deep a parsed JSON value nests (stops counting past ``limit``)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def check_json_body():
    """Before any API view: a JSON body that cannot be parsed, holds a number too long to
    read, or nests deeper than anything we accept, is a 400 problem (never a 500)."""
    if not _is_api() or request.method not in ("POST", "PUT", "PATCH") or not request.is_json:
        return None
    raw = request.get_data(cache=True)
    if not raw.strip():
        return None
    try:
        body = json.loads(raw)
    except RecursionError:
        return problem(400, "json_too_deep", "JSON nests too deep", f"at most {MAX_JSON_DEPTH} levels")
    except (ValueError, UnicodeDecodeError) as exc:
        return problem(400, "invalid_json", "Body is not valid JSON", str(exc)[:200])
    # a body with no more brackets than the limit cannot nest deeper (brackets inside strings only
    # add to the count): most bodies skip the walk (issue 11)
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and _depth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        return problem(400, "json_too_deep", "JSON nests too deep", f"at most {MAX_JSON_DEPTH} levels")
    # "\ud800" alone reads as a lone surrogate, which no UTF-8 text (nor the database) can hold:
    # refused here, not a 500 where it is first written; only a body with such an escape is walked
    if _SURROGATE_ESCAPE.search(raw) and not _utf8_text(body):
        return problem(400, "invalid_json", "Body is not valid JSON",
                       "a \\u escape names half of a surrogate pair without the other half")
    return None


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _utf8_text(body) -> bool:
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def init_app(app: Flask) -> None:
    app.before_request(check_json_body)

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        errors = [{"path": p, "message": m} for p, m in exc.fields.items()] or None
        if _is_api():
            return problem(exc.status, exc.code, exc.title, exc.detail, errors)
        return exc.detail, exc.status

    @app.errorhandler(IdempotencyConflict)
    def idempotency_conflict(exc):
        return problem(409, "idempotency_key_reused", "Idempotency-Key already used",
                       "this Idempotency-Key was used with a different request body")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if not _is_api():
            if exc.code == 429:  # the login form's throttle: a page, not a bare error
                return render_template("too_many.html"), 429
            return exc
        data = getattr(exc, "data", None) or {}
        errors = flatten_messages(data.get("messages", {})) if data.get("messages") else None
        code = HTTP_CODES.get(exc.code, "error")
        detail = data.get("message") or exc.description or ""
        if exc.code == 422 and errors:
            detail = "; ".join(f"{e['path']}: {e['message']}" for e in errors)
        return problem(exc.code or 500, code, exc.name, detail, errors)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return http_error(exc)
        if isinstance(exc, DBAPIError) and exc.connection_invalidated and _is_api():
            # the database went away under this request (a restart, a fail-over): its
            # transaction is gone, and the pool has let that connection go; the till retries
            log.warning("database connection lost on %s %s: %s", request.method, request.path, exc.orig)
            response = problem(503, "database_unavailable", "Service Unavailable",
                               "the database connection was lost; retry the request (same Idempotency-Key)")
            response.headers["Retry-After"] = "1"
            return response
        log.exception("unhandled error on %s %s", request.method, request.path)
        if not _is_api():
            return InternalServerError()
        return problem(500, "internal_error", "Internal Server Error", "an unexpected error; it has been logged")
