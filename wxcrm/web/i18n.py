"""Locale: zh-CN first; English by switch (?lang=en, kept in the session); an API request may
also ask by Accept-Language."""
from __future__ import annotations

from flask import current_app, request, session

SUPPORTED = ("zh_CN", "en")


def select_locale() -> str:
    chosen = request.args.get("lang") if request else None
    if chosen in SUPPORTED:
        session["lang"] = chosen
        return chosen
    if request and request.path.startswith("/api/"):
        # An API client says its language the HTTP way (a till asking for Chinese reasons
        # sends Accept-Language: zh-CN); pages keep zh-CN first whatever the browser says.
        asked = request.accept_languages.best_match(("zh-CN", "zh", "en"))
        if asked:
            return "zh_CN" if asked.startswith("zh") else "en"
    if session.get("lang") in SUPPORTED:
        return session["lang"]
    return current_app.config["WXCRM_DEFAULT_LOCALE"]


def compile_catalogs(directory: str) -> None:
    """Compile each ``messages.po`` to the ``messages.mo`` Flask-Babel reads, when the .mo is
    missing or older. Only the .po files are kept in git, so a fresh clone, a merge or an
    edit of a translation is picked up the next time the app starts."""
    from pathlib import Path

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in Path(directory).glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as f:
            catalog = read_po(f, locale=po.parent.parent.name)
        tmp = mo.with_suffix(".mo.tmp")
        with tmp.open("wb") as f:
            write_mo(f, catalog, use_fuzzy=False)
        tmp.replace(mo)  # atomic: a worker starting beside us never reads half a file
