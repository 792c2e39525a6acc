"""Settings from WXCRM_* environment variables, with safe defaults.

Read when an app is created (never at import time), so tests and the CLI can
override any of them with the ``config`` mapping given to ``create_app``.

``Settings`` is the one object services get: built from the config once per app
(``settings_for(app)``), frozen, typed, and passed as an argument. No service reads
``current_app``; the faces (views, CLI, jobs) hand the settings over.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Mapping
from zoneinfo import ZoneInfo

# name -> (type, default). A default of None means "computed in load_config".
SETTINGS: dict[str, tuple[type, object]] = {
    # production (the default: refuses unsafe settings) | development (demo, README, benches) | test
    "ENV": (str, "production"),
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
    # plain | compatible | safe. Unset: safe when an AES key is set, else plain (production
    # refuses to guess: it must be set).
    "WECHAT_MESSAGE_MODE": (str, ""),
    "WECHAT_API_BASE": (str, ""),
    "WECHAT_MCH_ID": (str, ""),
    "WECHAT_PAY_API_KEY": (str, ""),
    "WECHAT_PAY_ENABLED": (bool, False),
    "PUBLIC_URL": (str, "http://localhost:5000"),
    # WeChat (wxcrm/wechat): template ids per message purpose with their keywords
    # ("purpose=id" for the layout README documents, or "purpose=id:thing1=store|number3=balance,..."),
    # the menu as JSON (empty: card, points, profile, card number), the HTTP timeout to WeChat in seconds.
    "WECHAT_TEMPLATE_IDS": (str, "points_changed=TPL_POINTS_CHANGED,topup_done=TPL_TOPUP_DONE,"
                                 "stored_value_low=TPL_STORED_VALUE_LOW,"
                                 "coupon_received=TPL_COUPON_RECEIVED,coupon_expiring=TPL_COUPON_EXPIRING,"
                                 "membership_expiring=TPL_MEMBERSHIP_EXPIRING,points_expiring=TPL_POINTS_EXPIRING,"
                                 "service_notice=TPL_SERVICE_NOTICE,presence_code=TPL_PRESENCE_CODE"),
    # WeChat Pay v2 (wxcrm/wechat/adapter): where Pay calls go (empty: WECHAT_API_BASE), the
    # merchant's API client certificate and key (refunds need them), and the CA bundle that
    # verifies WeChat's hosts (empty: the system's; the stand-in's CA for its HTTPS port).
    "WECHAT_PAY_API_BASE": (str, ""),
    "WECHAT_PAY_CERT_PATH": (str, ""),
    "WECHAT_PAY_KEY_PATH": (str, ""),
    "WECHAT_CA_BUNDLE": (str, ""),
    "WECHAT_MENU": (str, ""),
    "WECHAT_HTTP_TIMEOUT": (int, 5),
    # The outbox dispatcher: attempts before a message is parked, sends per second, rows per
    # pass, first retry delay (doubles each time), seconds between scheduled passes.
    "OUTBOX_MAX_ATTEMPTS": (int, 6),
    "OUTBOX_RATE_PER_SECOND": (int, 20),
    "OUTBOX_BATCH_SIZE": (int, 50),
    "OUTBOX_RETRY_SECONDS": (int, 30),
    "OUTBOX_INTERVAL_SECONDS": (int, 5),
    # SMS (wxcrm/messages/sms.py): provider (log | standin), the approved signature (empty: the
    # brand name) and the gateway's template codes per purpose ("purpose=SMS_123,..."; empty: defaults).
    "SMS_PROVIDER": (str, "log"),
    "SMS_SIGN": (str, ""),
    "SMS_TEMPLATE_IDS": (str, ""),
    "SCHEDULER_LEASE_SECONDS": (int, 60),
    # How often the daily rule events (birthday, membership expiry) look for due members.
    "RULES_DAILY_INTERVAL_SECONDS": (int, 900),
    # The local WeChat stand-in (`flask wxcrm wechat-standin`); callbacks go to PUBLIC_URL.
    "STANDIN_PORT": (int, 5001),
    # Abuse limits. Flask-Limiter keeps its counters in Redis when REDIS_URL is set (shared by
    # every worker), in each process's memory otherwise. PROXY_COUNT: how many proxies (nginx)
    # stand in front, so the client's address is read from X-Forwarded-For.
    "REDIS_URL": (str, ""),
    "PROXY_COUNT": (int, 0),
    "LOGIN_LIMIT_PER_ADDRESS": (str, "20 per minute; 200 per hour"),
    "LOGIN_LIMIT_PER_USERNAME": (str, "5 per minute; 20 per hour; 50 per day"),
    "MEMBER_LOOKUP_LIMIT": (str, "30 per minute; 600 per day"),
    # A sale above this (fen) needs a manager or an admin: a cashier's is refused (approval_required).
    "SALE_APPROVAL_FEN": (int, 1_000_000),
    # Stored value (wxcrm/topups, README "Stored value"): which part a payment spends first
    # (principal_first | bonus_first); whether the part of a sale paid with stored value earns
    # points (the bonus was already a reward); the most a named card may hold (fen; China's
    # single-purpose prepaid card rules: 5,000 yuan); the smallest top-up; the H5 page's preset
    # amounts (fen, comma-separated); who funds bonus value in the settlement (brand | issuer:
    # the owner of the store that took the top-up); the balance below which a member is told
    # it runs low after a payment (fen, 0: never).
    "STORED_VALUE_SPEND_ORDER": (str, "principal_first"),
    "STORED_VALUE_EARNS_POINTS": (bool, False),
    "STORED_VALUE_CAP_FEN": (int, 500_000),
    "TOPUP_MIN_FEN": (int, 100),
    "TOPUP_PRESETS_FEN": (str, "10000,30000,50000,100000"),
    "STORED_VALUE_BONUS_FUNDED_BY": (str, "brand"),
    "STORED_VALUE_LOW_FEN": (int, 2000),
    # Cards (wxcrm/cards): the key that signs dynamic member codes (unset: derived from
    # SECRET_KEY; set, at least 32 characters, shared by every worker), and how long a
    # scan-to-earn receipt QR may be claimed, in hours.
    "MEMBER_CODE_SECRET": (str, None),
    "CLAIM_HOURS": (int, 24),
    # The WeChat wallet member card (wxcrm/cards/wallet.py): off by default; the demo turns it on.
    "WECHAT_CARD_ENABLED": (bool, False),
    # Report rollups (wxcrm/analytics): seconds between the analytics-rollup job's runs, and how
    # old a sale must be before it is rolled up (a sale still committing is never passed by).
    "ANALYTICS_ROLLUP_INTERVAL_SECONDS": (int, 300),
    "ANALYTICS_ROLLUP_LAG_SECONDS": (int, 60),
    # The privacy notice members consent to (its text: /h5/privacy/notice); a new version asks again.
    "PRIVACY_NOTICE_VERSION": (str, "2026-01"),
    # Marketing (wxcrm/campaigns): no marketing message leaves in these local hours ("HH:MM-HH:MM",
    # may wrap midnight; empty: none), the birthday greeting this many days before the
    # birthday, reminders this many days before a membership and a points lot expire.
    "QUIET_HOURS": (str, "21:00-08:00"),
    "BIRTHDAY_GREETING_DAYS": (int, 3),
    "MEMBERSHIP_REMINDER_DAYS": (int, 30),
    "POINTS_REMINDER_DAYS": (int, 30),
    # How often the campaigns job looks for campaigns due to start.
    "CAMPAIGNS_INTERVAL_SECONDS": (int, 60),
    # How often the wallet-card-sync job looks for wallet member cards showing old values.
    "WALLET_CARD_SYNC_INTERVAL_SECONDS": (int, 300),
}

ENVIRONMENTS = ("production", "development", "test")
MESSAGE_MODES = ("plain", "compatible", "safe")
# Values that ship in this repository (and so are public): never acceptable in production.
DEMO_VALUES = {"WECHAT_APP_ID": "wx_demo_appid", "WECHAT_APP_SECRET": "demo_secret",
               "WECHAT_TOKEN": "wxcrm_demo_token"}


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
        cfg["WXCRM_SECRET_KEY_GENERATED"] = True

    if not cfg["WXCRM_MEMBER_CODE_SECRET"]:
        cfg["WXCRM_MEMBER_CODE_SECRET"] = hmac.new(cfg["WXCRM_SECRET_KEY"].encode(), b"wxcrm member codes",
                                                   hashlib.sha256).hexdigest()
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
    cfg.setdefault("MAX_CONTENT_LENGTH", MAX_BODY_BYTES)
    cfg.setdefault("MAX_FORM_MEMORY_SIZE", MAX_BODY_BYTES)
    cfg.setdefault("RATELIMIT_STORAGE_URI", cfg["WXCRM_REDIS_URL"] or "memory://")
    cfg.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    if cfg["WXCRM_ENV"] == "production":
        cfg.setdefault("SESSION_COOKIE_SECURE", True)
    return cfg


MAX_BODY_BYTES = 1024 * 1024  # every request body; the WeChat callback caps its own lower


# ---------------------------------------------------------------- production mode

@dataclass(frozen=True)
class Unsafe:
    """One reason production refuses to start: the setting to change, and why."""
    setting: str
    problem: str

    def __str__(self) -> str:
        return f"{self.setting}: {self.problem}"


class UnsafeSettings(RuntimeError):
    """WXCRM_ENV=production and some settings are unsafe; the message names each."""

    def __init__(self, problems: list[Unsafe]):
        self.problems = problems
        super().__init__("WXCRM_ENV=production refuses to start; fix these settings (or run "
                         "`flask --app wsgi wxcrm check-config`):\n  " + "\n  ".join(map(str, problems)))


def message_mode(config: Mapping) -> str:
    """The callback's mode: the setting, or (outside production) safe when an AES key is set."""
    mode = config["WXCRM_WECHAT_MESSAGE_MODE"]
    if mode in MESSAGE_MODES:
        return mode
    return "safe" if config["WXCRM_WECHAT_AES_KEY"] else "plain"


def _check_environment(cfg: Mapping):
    if cfg["WXCRM_ENV"] not in ENVIRONMENTS:
        yield Unsafe("WXCRM_ENV", f"must be one of {', '.join(ENVIRONMENTS)}")


def _check_secret_key(cfg: Mapping):
    if cfg.get("WXCRM_SECRET_KEY_GENERATED"):
        yield Unsafe("WXCRM_SECRET_KEY", "not set: set a long random value shared by every worker and machine")
    elif len(cfg["WXCRM_SECRET_KEY"]) < 32:
        yield Unsafe("WXCRM_SECRET_KEY", "shorter than 32 characters")


def _check_database(cfg: Mapping):
    if cfg["WXCRM_DATABASE_URL"].startswith("sqlite"):
        yield Unsafe("WXCRM_DATABASE_URL", "SQLite is for the demo and the tests: use MySQL/MariaDB")


def _check_wechat(cfg: Mapping):
    for name, demo in DEMO_VALUES.items():
        value = cfg[f"WXCRM_{name}"]
        if not value:
            yield Unsafe(f"WXCRM_{name}", "empty: set the official account's value")
        elif value == demo:
            yield Unsafe(f"WXCRM_{name}", "is the public demo value: set the official account's value")
    mode, aes_key = cfg["WXCRM_WECHAT_MESSAGE_MODE"], cfg["WXCRM_WECHAT_AES_KEY"]
    if mode not in MESSAGE_MODES:
        yield Unsafe("WXCRM_WECHAT_MESSAGE_MODE", "set it to safe (recommended), compatible or plain, as on "
                                                  "WeChat's server configuration page")
    elif mode != "plain" and len(aes_key) != 43:
        yield Unsafe("WXCRM_WECHAT_AES_KEY", f"{mode} mode needs the account's 43-character EncodingAESKey")
    if cfg["WXCRM_WECHAT_API_BASE"]:
        yield Unsafe("WXCRM_WECHAT_API_BASE", "points WeChat calls somewhere else (the stand-in?): unset it")
    if cfg["WXCRM_SMS_PROVIDER"] == "standin":
        yield Unsafe("WXCRM_SMS_PROVIDER", "standin sends text messages nowhere")


def _check_pay(cfg: Mapping):
    if not cfg["WXCRM_WECHAT_PAY_ENABLED"]:
        return
    if not cfg["WXCRM_WECHAT_MCH_ID"]:
        yield Unsafe("WXCRM_WECHAT_MCH_ID", "WeChat Pay is enabled without a merchant id")
    key = cfg["WXCRM_WECHAT_PAY_API_KEY"]
    if not key:
        yield Unsafe("WXCRM_WECHAT_PAY_API_KEY", "WeChat Pay is enabled without an API key")
    elif len(key) != 32:
        yield Unsafe("WXCRM_WECHAT_PAY_API_KEY", "a WeChat Pay API key has 32 characters")


def _check_stored_value(cfg: Mapping):
    if cfg["WXCRM_STORED_VALUE_SPEND_ORDER"] not in ("principal_first", "bonus_first"):
        yield Unsafe("WXCRM_STORED_VALUE_SPEND_ORDER", "must be principal_first or bonus_first")
    if cfg["WXCRM_STORED_VALUE_BONUS_FUNDED_BY"] not in ("brand", "issuer"):
        yield Unsafe("WXCRM_STORED_VALUE_BONUS_FUNDED_BY", "must be brand or issuer")
    if not 0 < cfg["WXCRM_STORED_VALUE_CAP_FEN"] <= 500_000:
        yield Unsafe("WXCRM_STORED_VALUE_CAP_FEN", "a named prepaid card may hold at most 5,000 yuan (500000 fen)")
    if not 0 < cfg["WXCRM_TOPUP_MIN_FEN"] <= cfg["WXCRM_STORED_VALUE_CAP_FEN"]:
        yield Unsafe("WXCRM_TOPUP_MIN_FEN", "must be positive and not above the cap")
    if not _presets_ok(cfg["WXCRM_TOPUP_PRESETS_FEN"]):
        yield Unsafe("WXCRM_TOPUP_PRESETS_FEN", "must be positive whole fen amounts, comma-separated")


def _presets_ok(raw: str) -> bool:
    return all(part.strip().isdigit() and int(part) > 0 for part in raw.split(",")) if raw.strip() else True


def topup_presets(raw: str) -> tuple[int, ...]:
    return tuple(int(p) for p in raw.split(",") if p.strip().isdigit() and int(p) > 0)
def quiet_hours_problem(raw: str) -> str:
    """Why a WXCRM_QUIET_HOURS value is wrong ("" when it is right): "HH:MM-HH:MM" or empty."""
    if not raw.strip():
        return ""
    try:
        start, end = raw.split("-")
        for part in (start, end):
            hour, minute = part.strip().split(":")
            if not (0 <= int(hour) <= 23 and 0 <= int(minute) <= 59):
                raise ValueError
    except ValueError:
        return "write it as HH:MM-HH:MM, e.g. 21:00-08:00"
    return ""


def _check_marketing(cfg: Mapping):
    problem = quiet_hours_problem(cfg["WXCRM_QUIET_HOURS"])
    if problem:
        yield Unsafe("WXCRM_QUIET_HOURS", problem)
    elif not cfg["WXCRM_QUIET_HOURS"].strip():
        yield Unsafe("WXCRM_QUIET_HOURS", "empty: marketing would reach members at night (set e.g. 21:00-08:00)")


def _check_member_code_secret(cfg: Mapping):
    if len(cfg["WXCRM_MEMBER_CODE_SECRET"] or "") < 32:
        yield Unsafe("WXCRM_MEMBER_CODE_SECRET", "shorter than 32 characters (unset it to derive it from SECRET_KEY)")
    if not 1 <= cfg["WXCRM_CLAIM_HOURS"] <= 24 * 30:
        yield Unsafe("WXCRM_CLAIM_HOURS", "must be 1 to 720 hours")
    if cfg["WXCRM_WALLET_CARD_SYNC_INTERVAL_SECONDS"] < 10:
        yield Unsafe("WXCRM_WALLET_CARD_SYNC_INTERVAL_SECONDS", "at least 10 seconds between runs (each reads "
                     "every activated wallet card)")


def _check_public_url(cfg: Mapping):
    url = cfg["WXCRM_PUBLIC_URL"]
    if not url.startswith("https://") or "://localhost" in url or "://127." in url:
        yield Unsafe("WXCRM_PUBLIC_URL", "must be the https:// address customers' phones reach")


# Checks of the settings alone, run in this order. Other packages append theirs here (e.g. the
# WeChat Pay certificates for refunds); each yields Unsafe items.
def _check_analytics(cfg: Mapping):
    if cfg["WXCRM_ANALYTICS_ROLLUP_LAG_SECONDS"] < 5:
        yield Unsafe("WXCRM_ANALYTICS_ROLLUP_LAG_SECONDS", "at least 5: a sale still being committed could be "
                     "passed by the rollup's watermark and missed by the reports")
    if cfg["WXCRM_ANALYTICS_ROLLUP_INTERVAL_SECONDS"] < 10:
        yield Unsafe("WXCRM_ANALYTICS_ROLLUP_INTERVAL_SECONDS", "at least 10 seconds between rollup runs")


SETTINGS_CHECKS: list = [_check_environment, _check_secret_key, _check_database, _check_wechat, _check_pay,
                         _check_public_url, _check_stored_value, _check_marketing, _check_member_code_secret,
                         _check_analytics]


def unsafe_settings(config: Mapping) -> list[Unsafe]:
    """Every setting production would refuse (whatever WXCRM_ENV is)."""
    return [problem for check in SETTINGS_CHECKS for problem in check(config)]


def settings_warnings(config: Mapping) -> list[str]:
    """Weaker than a refusal: worth knowing before going live."""
    out = []
    if not config["WXCRM_REDIS_URL"]:
        out.append("WXCRM_REDIS_URL: unset, so each worker counts login and look-up limits on its own")
    if config["WXCRM_PROXY_COUNT"] == 0:
        out.append("WXCRM_PROXY_COUNT: 0; behind nginx set it to 1, or every client shares nginx's address")
    return out


def _engine_options(url: str) -> dict:
    if url.startswith("mysql"):
        # Recycle before MariaDB's wait_timeout. A connection idle in the pool for more than
        # IDLE_PING_SECONDS is pinged before use (``install_ping_when_idle``, from create_app),
        # so a restarted server or a proxy's idle cut is survived; one in steady use is not
        # pinged, a round trip per request saved (issue 11). A connection a restart broke
        # under load fails its request with a 503 the till retries (same Idempotency-Key),
        # and the pool drops its other connections to that server.
        # A connection back in the pool is rolled back only when the server says a transaction
        # is still open (``_reset_when_in_transaction``): a request that committed skips a
        # ROLLBACK round trip (issue 11).
        return {"pool_pre_ping": False, "pool_recycle": 1800, "pool_size": 10, "max_overflow": 20,
                "isolation_level": "READ COMMITTED", "pool_reset_on_return": None, "json_serializer": json_text}
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}, "json_serializer": json_text}
    return {"pool_pre_ping": True, "json_serializer": json_text}


def json_text(value) -> str:
    """JSON columns' text: Chinese as it is, not as \\u escapes (issue 11: a sale's receipt, stored
    with the sale and its idempotency key, was a third longer to encode, escape, send and parse)."""
    return json.dumps(value, ensure_ascii=False)


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
    wechat_pay_api_base: str
    wechat_pay_cert_path: str
    wechat_pay_key_path: str
    wechat_ca_bundle: str
    wechat_template_ids: Mapping[str, str]
    wechat_menu: str
    wechat_http_timeout: int
    outbox_max_attempts: int
    outbox_rate_per_second: int
    outbox_batch_size: int
    outbox_retry_seconds: int
    sms_provider: str
    env: str
    wechat_message_mode: str
    wechat_pay_enabled: bool
    sale_approval_fen: int
    privacy_notice_version: str
    sms_sign: str
    sms_template_ids: Mapping[str, str]
    stored_value_spend_order: str
    stored_value_earns_points: bool
    stored_value_cap_fen: int
    topup_min_fen: int
    topup_presets_fen: str
    stored_value_bonus_funded_by: str
    stored_value_low_fen: int
    quiet_hours: str
    birthday_greeting_days: int
    membership_reminder_days: int
    points_reminder_days: int
    member_code_secret: str = field(default="", repr=False)
    claim_hours: int = 24
    wechat_card_enabled: bool = False
    analytics_rollup_lag_seconds: int = 60
    tz: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "tz", ZoneInfo(self.timezone))
        if not 0 <= self.points_max_share_pct <= 100:
            raise ValueError("WXCRM_POINTS_MAX_SHARE_PCT must be a whole percent from 0 to 100")
        if self.offline_max_age_days < 0:
            raise ValueError("WXCRM_OFFLINE_MAX_AGE_DAYS must not be negative")
        if quiet_hours_problem(self.quiet_hours):
            raise ValueError(f"WXCRM_QUIET_HOURS: {quiet_hours_problem(self.quiet_hours)}")
        for name in ("birthday_greeting_days", "membership_reminder_days", "points_reminder_days"):
            if not 0 <= getattr(self, name) <= 60:
                raise ValueError(f"WXCRM_{name.upper()} must be 0..60 days")

    @classmethod
    def from_config(cls, config: Mapping) -> "Settings":
        values = {}
        for f in fields(cls):
            if not f.init:
                continue
            raw = config[f"WXCRM_{f.name.upper()}"]
            values[f.name] = _template_ids(raw) if f.name in ("wechat_template_ids", "sms_template_ids") else raw
        values["wechat_message_mode"] = message_mode(config)
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


IDLE_PING_SECONDS = 10.0
_CHECKED_IN = "wxcrm.checked_in"


def install_ping_when_idle(engine) -> None:
    """Ping a pooled connection before use only when it sat idle for IDLE_PING_SECONDS: the
    pool's ``pre_ping`` costs a round trip on every checkout, which for the till is one of its
    dozen (issue 11). A ping that fails means the server went away (a restart, a fail-over):
    the pool drops every connection made before now and checks out a new one (SQLAlchemy's
    pessimistic disconnect handling, ``InvalidatePoolError``), so the connections that were in
    steady use are not left to fail a request each."""
    from time import monotonic

    from sqlalchemy import event
    from sqlalchemy.exc import InvalidatePoolError

    def checked_in(dbapi_connection, connection_record) -> None:
        connection_record.info[_CHECKED_IN] = monotonic()

    def checked_out(dbapi_connection, connection_record, connection_proxy) -> None:
        since = connection_record.info.get(_CHECKED_IN)
        if since is None or monotonic() - since <= IDLE_PING_SECONDS:
            return      # new, or in steady use
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise InvalidatePoolError(f"pooled connection lost while idle: {exc}") from exc

    event.listen(engine, "checkin", checked_in)
    event.listen(engine, "checkout", checked_out)


def reset_when_in_transaction(dbapi_connection, connection_record, reset_state) -> None:
    """The pool's reset for an engine made with ``pool_reset_on_return=None`` (the MariaDB
    one, above; ``create_app`` listens with it): roll back unless the transaction is known to
    be over, closed by SQLAlchemy itself (``transaction_was_reset``) or, by the server's
    status flags on its last reply (PyMySQL keeps them), not open (after a COMMIT). Another
    driver, or any doubt: roll back, as the pool would have."""
    if reset_state.transaction_was_reset or reset_state.terminate_only or not reset_state.asyncio_safe:
        return
    status = getattr(dbapi_connection, "server_status", None)
    if status is None or status & _SERVER_STATUS_IN_TRANS:
        dbapi_connection.rollback()


_SERVER_STATUS_IN_TRANS = 1     # the MySQL/MariaDB protocol's SERVER_STATUS_IN_TRANS flag
