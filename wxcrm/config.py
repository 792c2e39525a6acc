"""Settings from WXCRM_* environment variables, with safe defaults.

Read when an app is created (never at import time), so tests and the CLI can
override any of them with the ``config`` mapping given to ``create_app``.

``Settings`` is the one object services get: built from the config once per app
(``settings_for(app)``), frozen, typed, and passed as an argument. No service reads
``current_app``; the faces (views, CLI, jobs) hand the settings over.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Mapping
from zoneinfo import ZoneInfo

# name -> (type, default). A default of None means "computed in load_config".
SETTINGS: dict[str, tuple[type, object]] = {
    "SECRET_KEY": (str, None),
    "DATABASE_URL": (str, None),
    "TIMEZONE": (str, "Asia/Shanghai"),
    "PORT": (int, 5000),
    # What one point is worth when used as payment at the till, in fen.
    "POINT_VALUE_FEN": (int, 1),
    # Earned points expire at the end of the month this many months after earning.
    "POINTS_EXPIRY_MONTHS": (int, 24),
    # The most of a bill (after discounts) points may pay, in percent.
    "POINTS_MAX_SHARE_PCT": (int, 100),
    # An offline till's sale (occurred_at) may be this many days old at most.
    "OFFLINE_MAX_AGE_DAYS": (int, 7),
    "DEFAULT_LOCALE": (str, "zh_CN"),
    "CARD_PREFIX": (str, "8800"),
    "BRAND_NAME": (str, "wxcrm"),
    "LOG_LEVEL": (str, "WARNING"),
    "SCHEDULER_ENABLED": (bool, False),
    "WECHAT_APP_ID": (str, "wx_demo_appid"),
    "WECHAT_APP_SECRET": (str, "demo_secret"),
    "WECHAT_TOKEN": (str, "wxcrm_demo_token"),
    "WECHAT_AES_KEY": (str, ""),
    "WECHAT_API_BASE": (str, ""),
    "WECHAT_MCH_ID": (str, ""),
    "WECHAT_PAY_API_KEY": (str, ""),
    "PUBLIC_URL": (str, "http://localhost:5000"),
    # WeChat (wxcrm/wechat): template ids per message purpose ("purpose=id,..."), the menu as
    # JSON (empty: card, points, profile, card number), the HTTP timeout to WeChat in seconds.
    "WECHAT_TEMPLATE_IDS": (str, "points_changed=TPL_POINTS_CHANGED,topup_done=TPL_TOPUP_DONE,"
                                 "coupon_received=TPL_COUPON_RECEIVED,coupon_expiring=TPL_COUPON_EXPIRING,"
                                 "membership_expiring=TPL_MEMBERSHIP_EXPIRING"),
    "WECHAT_MENU": (str, ""),
    "WECHAT_HTTP_TIMEOUT": (int, 5),
    # The outbox dispatcher: attempts before a message is parked, sends per second, rows per
    # pass, first retry delay (doubles each time), seconds between scheduled passes.
    "OUTBOX_MAX_ATTEMPTS": (int, 6),
    "OUTBOX_RATE_PER_SECOND": (int, 20),
    "OUTBOX_BATCH_SIZE": (int, 50),
    "OUTBOX_RETRY_SECONDS": (int, 30),
    "OUTBOX_INTERVAL_SECONDS": (int, 5),
    "SMS_PROVIDER": (str, "log"),  # log | standin
    "SCHEDULER_LEASE_SECONDS": (int, 60),
    # How often the daily rule events (birthday, membership expiry) look for due members.
    "RULES_DAILY_INTERVAL_SECONDS": (int, 900),
    # The local WeChat stand-in (`flask wxcrm wechat-standin`); callbacks go to PUBLIC_URL.
    "STANDIN_PORT": (int, 5001),
}


def _coerce(kind: type, raw: str):
    if kind is bool:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return kind(raw)


def load_config(instance_path: str, overrides: dict | None = None) -> dict:
    """Return the Flask config: defaults, then WXCRM_* environment, then overrides.

    Keys are stored both as ``WXCRM_NAME`` (our own lookups) and, for the few that
    Flask and its extensions read, under their own names.
    """
    cfg: dict = {}
    for name, (kind, default) in SETTINGS.items():
        raw = os.environ.get(f"WXCRM_{name}")
        cfg[f"WXCRM_{name}"] = _coerce(kind, raw) if raw is not None else default
    for key, value in (overrides or {}).items():
        # "POINT_VALUE_FEN" and "WXCRM_POINT_VALUE_FEN" mean the same; other keys
        # (TESTING, SQLALCHEMY_*, ...) go to Flask as they are.
        cfg[f"WXCRM_{key}" if key in SETTINGS else key] = value

    if not cfg["WXCRM_DATABASE_URL"]:
        Path(instance_path).mkdir(parents=True, exist_ok=True)
        cfg["WXCRM_DATABASE_URL"] = "sqlite:///" + str(Path(instance_path) / "wxcrm.sqlite3")
    if not cfg["WXCRM_SECRET_KEY"]:
        cfg["WXCRM_SECRET_KEY"] = _instance_secret(instance_path)

    cfg.setdefault("SECRET_KEY", cfg["WXCRM_SECRET_KEY"])
    cfg.setdefault("SQLALCHEMY_DATABASE_URI", cfg["WXCRM_DATABASE_URL"])
    cfg.setdefault("SQLALCHEMY_ENGINE_OPTIONS", _engine_options(cfg["WXCRM_DATABASE_URL"]))
    cfg.setdefault("BABEL_DEFAULT_LOCALE", cfg["WXCRM_DEFAULT_LOCALE"])
    cfg.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    cfg.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(Path(__file__).parent / "translations"))
    cfg.setdefault("API_TITLE", "wxcrm till and console API")
    cfg.setdefault("API_VERSION", "v1")
    cfg.setdefault("OPENAPI_VERSION", "3.0.3")
    cfg.setdefault("OPENAPI_URL_PREFIX", None)  # we serve /api/v1/openapi.json ourselves
    cfg.setdefault("SESSION_COOKIE_HTTPONLY", True)
    cfg.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    cfg.setdefault("WTF_CSRF_TIME_LIMIT", None)
    cfg.setdefault("JSON_AS_ASCII", False)
    return cfg


def _engine_options(url: str) -> dict:
    if url.startswith("mysql"):
        # Recycle before MariaDB's wait_timeout; ping so a restarted server is survived.
        return {"pool_pre_ping": True, "pool_recycle": 1800, "pool_size": 10, "max_overflow": 20,
                "isolation_level": "READ COMMITTED"}
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_pre_ping": True}


def _instance_secret(instance_path: str) -> str:
    """A random key kept in the instance folder, so sessions survive restarts."""
    path = Path(instance_path) / "secret_key"
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass(frozen=True)
class Settings:
    """Every WXCRM_* setting a service may need, typed. Built by ``Settings.from_config``;
    money settings have no defaults here, so a service can never fall back silently."""
    timezone: str
    point_value_fen: int
    points_expiry_months: int
    points_max_share_pct: int
    offline_max_age_days: int
    card_prefix: str
    brand_name: str
    public_url: str
    wechat_app_id: str
    wechat_app_secret: str
    wechat_token: str
    wechat_aes_key: str
    wechat_api_base: str
    wechat_mch_id: str
    wechat_pay_api_key: str
    wechat_template_ids: Mapping[str, str]
    wechat_menu: str
    wechat_http_timeout: int
    outbox_max_attempts: int
    outbox_rate_per_second: int
    outbox_batch_size: int
    outbox_retry_seconds: int
    sms_provider: str
    tz: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "tz", ZoneInfo(self.timezone))
        if not 0 <= self.points_max_share_pct <= 100:
            raise ValueError("WXCRM_POINTS_MAX_SHARE_PCT must be a whole percent from 0 to 100")
        if self.offline_max_age_days < 0:
            raise ValueError("WXCRM_OFFLINE_MAX_AGE_DAYS must not be negative")

    @classmethod
    def from_config(cls, config: Mapping) -> "Settings":
        values = {}
        for f in fields(cls):
            if not f.init:
                continue
            raw = config[f"WXCRM_{f.name.upper()}"]
            values[f.name] = _template_ids(raw) if f.name == "wechat_template_ids" else raw
        return cls(**values)

    def replace(self, **changes) -> "Settings":
        """A copy with some settings changed (tests, and the demo's own clock)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        data.update(changes)
        return Settings(**data)


def _template_ids(raw: str) -> Mapping[str, str]:
    """"purpose=template_id,..." -> {purpose: template_id}."""
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return MappingProxyType({purpose.strip(): tid.strip() for purpose, tid in pairs if tid.strip()})


SETTINGS_KEY = "wxcrm_settings"


def settings_for(app) -> Settings:
    """The app's settings object, built once from its config (rebuilt by ``refresh_settings``)."""
    found = app.extensions.get(SETTINGS_KEY)
    if found is None:
        found = app.extensions[SETTINGS_KEY] = Settings.from_config(app.config)
    return found


def refresh_settings(app) -> Settings:
    """Rebuild after ``app.config`` changed (tests that point WeChat at the stand-in)."""
    app.extensions.pop(SETTINGS_KEY, None)
    return settings_for(app)


def current_settings() -> Settings:
    """For faces only (views, CLI commands): the current app's settings."""
    from flask import current_app
    return settings_for(current_app)
