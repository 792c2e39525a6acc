"""wxcrm: membership, loyalty and marketing behind a WeChat service account."""
from __future__ import annotations

import logging
import os
import sys

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from werkzeug.routing import IntegerConverter

__version__ = "0.1.0"


def create_app(config: dict | None = None) -> Flask:
    """Build an app. ``config`` overrides the WXCRM_* environment (see wxcrm/config.py)."""
    from wxcrm.config import load_config

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    instance = os.environ.get("WXCRM_INSTANCE_PATH") or os.path.join(root, "instance")
    app = Flask(__name__, instance_path=instance, template_folder=os.path.join(root, "templates"),
                static_folder=os.path.join(root, "static"))
    app.config.from_mapping(load_config(app.instance_path, config))
    app.url_map.converters["int"] = BoundedInt  # /members/<int:id>: a 30-digit id is a 404, not a 500
    logging.basicConfig(level=app.config["WXCRM_LOG_LEVEL"])

    _init_extensions(app)
    _register_blueprints(app)

    from wxcrm import cli
    from wxcrm.config import settings_for
    cli.init_app(app)
    settings_for(app)  # built once from the config, checked now rather than on first use
    if app.config["WXCRM_ENV"] not in ("development", "test") and not _running_check_config():
        refuse_unsafe_settings(app)
    return app


class BoundedInt(IntegerConverter):
    """Path ids no database column can hold do not match (404) instead of overflowing."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def _running_check_config() -> bool:
    """`flask wxcrm check-config` must run exactly when the app would refuse: it reports instead."""
    args = sys.argv[1:]
    return "check-config" in args and "wxcrm" in args[: args.index("check-config")]


def production_problems(app: Flask, *, warn=None) -> list:
    """Everything production refuses: the settings, then what the database holds (demo logins).
    ``warn(text)`` hears what could not be checked."""
    from wxcrm.config import Unsafe, settings_for, unsafe_settings
    from wxcrm.demo import demo_logins_present
    from wxcrm.messages.checks import messaging_and_pay_problems

    problems = unsafe_settings(app.config)
    for text in messaging_and_pay_problems(settings_for(app), production=False):
        setting, _, why = text.partition(": ")
        problems.append(Unsafe(setting, why))
    with app.app_context():
        from sqlalchemy.exc import SQLAlchemyError

        from wxcrm.extensions import db
        try:
            for username in demo_logins_present(db.session):
                problems.append(Unsafe(f"staff {username}", "signs in with the public demo password: change "
                                                            "it or disable the login"))
        except SQLAlchemyError as exc:
            if warn is not None:
                warn(f"demo logins not checked: the database cannot be read ({type(exc).__name__})")
        finally:
            db.session.remove()
    return problems


def refuse_unsafe_settings(app: Flask) -> None:
    from wxcrm.config import UnsafeSettings

    log = logging.getLogger("wxcrm")
    problems = production_problems(app, warn=log.warning)
    if problems:
        for problem in problems:
            log.error("unsafe setting for production: %s", problem)
        raise UnsafeSettings(problems)


def _init_extensions(app: Flask) -> None:
    from werkzeug.middleware.proxy_fix import ProxyFix

    from wxcrm import models  # noqa: F401  (every table registered before Alembic/metadata use)
    from wxcrm.extensions import babel, csrf, db, limiter, login, migrate, talisman
    from wxcrm.web.i18n import compile_catalogs, select_locale

    proxies = app.config["WXCRM_PROXY_COUNT"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    db.init_app(app)
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    if options.get("pool_reset_on_return", "rollback") is None:
        from sqlalchemy import event

        from wxcrm.config import reset_when_in_transaction
        with app.app_context():
            for engine in db.engines.values():
                event.listen(engine, "reset", reset_when_in_transaction)
    if not options.get("pool_pre_ping") and app.config["WXCRM_DATABASE_URL"].startswith("mysql"):
        from wxcrm.config import install_ping_when_idle
        with app.app_context():
            for engine in db.engines.values():
                install_ping_when_idle(engine)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"),
                     render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    compile_catalogs(app.config["BABEL_TRANSLATION_DIRECTORIES"])
    babel.init_app(app, locale_selector=select_locale)
    login.init_app(app)
    limiter.init_app(app)
    _till_skips_the_limiter(app, limiter)
    app.session_interface = CookieSessions()
    production = app.config["WXCRM_ENV"] == "production"
    app.after_request(_allow_the_standin_pay_page)   # registered first: runs after Talisman's headers
    # Headers everywhere (so the tests see the same CSP); HSTS and Secure cookies where there
    # is HTTPS, i.e. production. nginx redirects http to https, so no force_https here (it would
    # also bounce WeChat's callback if the account is configured with an http URL).
    talisman.init_app(app, force_https=False, strict_transport_security=production,
                      session_cookie_secure=production, session_cookie_http_only=True,
                      frame_options="DENY", content_security_policy=CSP, referrer_policy="same-origin",
                      content_security_policy_nonce_in=[])


def _till_skips_the_limiter(app: Flask, limiter) -> None:
    """The till's requests (``extensions._till_has_no_limits``: they declare no limit) do not
    enter the limiter's per-request hook, which resolves every limit of the endpoint before it
    asks the filter (issue 11). The filter stays for everything else; with meta limits
    configured (RATELIMIT_META, counted on every request), the hook runs for the till too."""
    from flask import request
    if app.config.get("RATELIMIT_META"):
        return
    hooks = app.before_request_funcs.get(None, [])
    for i, hook in enumerate(hooks):
        if getattr(hook, "__self__", None) is limiter and getattr(hook, "__name__", "") == "_check_request_limit":
            def check_unless_till(hook=hook):
                if request.blueprint != "api_transactions":
                    return hook()
                return None
            hooks[i] = check_unless_till


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, the signing serializer made once per secret key (Flask
    makes one for every request, the till's JSON API included: issue 11)."""
    _serializers: dict = {}

    def get_signing_serializer(self, app: Flask):
        if not app.secret_key:
            return None
        key = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        serializer = self._serializers.get(key)
        if serializer is None:
            if len(self._serializers) > 16:    # tests make apps with many keys: stay bounded
                self._serializers.clear()
            serializer = self._serializers[key] = super().get_signing_serializer(app)
        return serializer


# No inline script or event handler in any page; style attributes remain (style-src).
CSP = {
    "default-src": "'self'",
    "script-src": ["'self'", "https://res.wx.qq.com"],  # the WeChat JS-SDK on H5 pages
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "connect-src": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'self'",
    "object-src": "'none'",
}


def _allow_the_standin_pay_page(response):
    """With the WeChat stand-in (WXCRM_WECHAT_API_BASE, refused in production) the H5 pages
    load its WeixinJSBridge shim and frame its payment page; inside WeChat both are the
    client's own and need nothing."""
    from flask import current_app
    base = current_app.config.get("WXCRM_WECHAT_API_BASE") or ""
    policy = response.headers.get("Content-Security-Policy")
    if base and policy and "script-src" in policy:
        origin = "/".join(base.split("/")[:3])
        policy = policy.replace("script-src 'self'", f"script-src 'self' {origin}", 1)
        response.headers["Content-Security-Policy"] = policy + f"; frame-src 'self' {origin}"
    return response


def _register_blueprints(app: Flask) -> None:
    from wxcrm.api import init_api
    from wxcrm.jobs import desk, scheduler
    from wxcrm.web import init_web
    from wxcrm.wechat import faces as wechat

    init_api(app)
    init_web(app)
    wechat.init_app(app)      # callback, OAuth, JS-SDK
    desk.init_app(app)        # the jobs as the console's jobs page sees them
    scheduler.init_app(app)   # jobs: only when WXCRM_SCHEDULER_ENABLED, one leader at a time
