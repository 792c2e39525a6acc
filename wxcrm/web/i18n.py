"""Locale: zh-CN first; English by switch (?lang=en, kept in the session) or the browser."""
from __future__ import annotations

from flask import current_app, request, session

SUPPORTED = ("zh_CN", "en")


def select_locale() -> str:
    chosen = request.args.get("lang") if request else None
    if chosen in SUPPORTED:
        session["lang"] = chosen
        return chosen
    if session.get("lang") in SUPPORTED:
        return session["lang"]
    return current_app.config["WXCRM_DEFAULT_LOCALE"]
