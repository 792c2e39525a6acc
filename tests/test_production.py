"""Production mode (the default WXCRM_ENV): unsafe settings stop the app naming each one,
`check-config` lists them all and exits non-zero, and the headers and cookies are strict."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wxcrm import create_app, production_problems
from wxcrm.config import UnsafeSettings

ROOT = Path(__file__).resolve().parent.parent
SAFE = {"ENV": "production", "SECRET_KEY": "s" * 40, "DATABASE_URL": "mysql+pymysql://u:p@127.0.0.1:9/x",
        "SQLALCHEMY_DATABASE_URI": "mysql+pymysql://u:p@127.0.0.1:9/x", "WECHAT_APP_ID": "wx1234567890abcdef",
        "WECHAT_APP_SECRET": "a-real-secret", "WECHAT_TOKEN": "realtoken", "WECHAT_MESSAGE_MODE": "safe",
        "WECHAT_AES_KEY": "k" * 43, "PUBLIC_URL": "https://crm.example.cn"}
CERTS = Path(__file__).resolve().parent / "data"   # dummy PEM files: production only checks they are PEM
PAY_FILES = {"WECHAT_PAY_CERT_PATH": str(CERTS / "apiclient_cert.pem"),
             "WECHAT_PAY_KEY_PATH": str(CERTS / "apiclient_key.pem")}
EVERY_DEFAULT_PROBLEM = ["WXCRM_SECRET_KEY", "WXCRM_DATABASE_URL", "WXCRM_WECHAT_APP_ID", "WXCRM_WECHAT_APP_SECRET",
                         "WXCRM_WECHAT_TOKEN", "WXCRM_WECHAT_MESSAGE_MODE", "WXCRM_PUBLIC_URL"]


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WXCRM_")}
    env.update(extra)
    return env


def test_check_config_with_the_defaults_lists_every_unsafe_setting_and_exits_1(tmp_path):
    r = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "wxcrm", "check-config"], cwd=ROOT,
                       env=clean_env(WXCRM_INSTANCE_PATH=str(tmp_path)), capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    for setting in EVERY_DEFAULT_PROBLEM:
        assert f"unsafe  {setting}:" in r.stdout, setting


def test_the_app_refuses_to_start_naming_the_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("WXCRM_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["gunicorn", "wsgi:app"])
    with pytest.raises(UnsafeSettings) as err:
        create_app({"ENV": "production"})
    assert {p.setting for p in err.value.problems} == set(EVERY_DEFAULT_PROBLEM)
    message = str(err.value)
    assert "WXCRM_WECHAT_TOKEN" in message and "demo" in message


@pytest.mark.parametrize("change, setting", [
    ({"WECHAT_TOKEN": ""}, "WXCRM_WECHAT_TOKEN"),
    ({"WECHAT_APP_SECRET": "demo_secret"}, "WXCRM_WECHAT_APP_SECRET"),
    ({"WECHAT_MESSAGE_MODE": ""}, "WXCRM_WECHAT_MESSAGE_MODE"),
    ({"WECHAT_MESSAGE_MODE": "compatible", "WECHAT_AES_KEY": ""}, "WXCRM_WECHAT_AES_KEY"),
    ({"WECHAT_PAY_ENABLED": True, "WECHAT_PAY_API_KEY": "p" * 32, **PAY_FILES}, "WXCRM_WECHAT_MCH_ID"),
    ({"WECHAT_PAY_ENABLED": True, "WECHAT_MCH_ID": "1900000109", **PAY_FILES}, "WXCRM_WECHAT_PAY_API_KEY"),
    ({"WECHAT_PAY_ENABLED": True, "WECHAT_MCH_ID": "1900000109", "WECHAT_PAY_API_KEY": "p" * 32,
      "WECHAT_PAY_KEY_PATH": PAY_FILES["WECHAT_PAY_KEY_PATH"]}, "WXCRM_WECHAT_PAY_CERT_PATH"),
    ({"DATABASE_URL": "sqlite:///x.db", "SQLALCHEMY_DATABASE_URI": "sqlite:///x.db"}, "WXCRM_DATABASE_URL"),
    ({"SECRET_KEY": "short"}, "WXCRM_SECRET_KEY"),
    ({"WECHAT_API_BASE": "http://127.0.0.1:5001"}, "WXCRM_WECHAT_API_BASE"),
    ({"ENV": "prod"}, "WXCRM_ENV"),
])
def test_each_unsafe_setting_alone_is_named(tmp_path, monkeypatch, change, setting):
    monkeypatch.setenv("WXCRM_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["gunicorn", "wsgi:app"])
    with pytest.raises(UnsafeSettings) as err:
        create_app({**SAFE, **change})
    assert [p.setting for p in err.value.problems] == [setting]


def test_plain_mode_needs_no_aes_key_and_safe_settings_start(tmp_path, monkeypatch):
    monkeypatch.setenv("WXCRM_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["gunicorn", "wsgi:app"])
    create_app({**SAFE, "WECHAT_MESSAGE_MODE": "plain", "WECHAT_AES_KEY": ""})
    assert create_app(SAFE) is not None


def test_a_demo_login_is_refused_in_production(app, make):
    make.staff("admin", username="admin", password="admin-demo-2026")
    assert "staff admin" in [p.setting for p in production_problems(app)]


def test_production_sends_strict_headers_and_secure_cookies(tmp_path, monkeypatch):
    monkeypatch.setenv("WXCRM_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["gunicorn", "wsgi:app"])
    prod = create_app({**SAFE, "PROXY_COUNT": 1})
    r = prod.test_client().get("/login", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "1.2.3.4"})
    assert r.status_code == 200
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp.split(
        "script-src")[1].split(";")[0]
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "max-age" in r.headers["Strict-Transport-Security"]
    cookie = r.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_development_and_test_modes_do_not_refuse(tmp_path, monkeypatch):
    monkeypatch.setenv("WXCRM_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setattr(sys, "argv", ["gunicorn", "wsgi:app"])
    url = f"sqlite:///{tmp_path}/dev.sqlite3"
    dev = create_app({"ENV": "development", "DATABASE_URL": url, "SQLALCHEMY_DATABASE_URI": url})
    assert dev.config["SESSION_COOKIE_SECURE"] is False
