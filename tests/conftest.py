"""Test fixtures, one pattern for the whole suite: fixtures here, used by name.

- ``app``: one real database per run, schema built by the Alembic migrations, rows
  cleared after each test (tests that commit from many threads need real commits).
  WXCRM_TEST_DATABASE_URL=mysql+pymysql://root@127.0.0.1/test runs everything on
  MariaDB; without it the suite uses a SQLite file in a temporary folder.
- ``settings`` / ``configure``: the app's settings object, and changing a setting for
  one test (the settings object is rebuilt, and restored afterwards).
- ``frozen_now``: the clock every face reads (``wxcrm.timeutil``), stopped at a moment.
- ``make``: a factory building shop data through the real services.
- ``cashier_api`` / ``admin_api`` / ``marketer_api``: JSON clients with a bearer token.
- ``live_server``, ``standin``, ``wechat``: the app on a real port, the WeChat stand-in,
  and WeChat's side of the callback (wechatpy's own signing and crypto).
"""
from __future__ import annotations

import os
import threading
import time
from contextlib import ExitStack, contextmanager
from datetime import date, datetime

import pytest
import requests
import xmltodict
from flask.testing import FlaskClient
from sqlalchemy import create_engine, inspect, text
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner, random_string
from werkzeug.serving import make_server

from wxcrm import create_app
from wxcrm.config import refresh_settings, settings_for
from wxcrm.extensions import db
from wxcrm.wechat.standin import StandinConfig, create_standin_app

# Every app the tests make (here, in test_migrations, in CLI runs) is a test app, whatever the shell says.
os.environ["WXCRM_ENV"] = "test"

TEST_DB_URL = os.environ.get("WXCRM_TEST_DATABASE_URL", "")
ON_MYSQL = TEST_DB_URL.startswith("mysql")

mysql_only = pytest.mark.skipif(not ON_MYSQL, reason="needs WXCRM_TEST_DATABASE_URL=mysql+pymysql://... (row locks)")


def _database_url(tmp_root) -> str:
    if TEST_DB_URL:
        return TEST_DB_URL
    return f"sqlite:///{tmp_root}/wxcrm-test.sqlite3"


def _drop_everything(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        names = inspect(conn).get_table_names()
        if conn.dialect.name == "mysql":
            conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
            for name in names:
                conn.execute(text(f"DROP TABLE IF EXISTS `{name}`"))
            conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))
        else:
            for name in names:
                conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
    engine.dispose()


class IsolatedClient(FlaskClient):
    """Each request runs in its own app context (own `g`, own db session), as in
    production, even though the test itself holds an app context open."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("wxcrm")
    os.environ["WXCRM_INSTANCE_PATH"] = str(root / "instance")
    url = _database_url(root)
    _drop_everything(url)
    application = create_app({
        "TESTING": True, "DATABASE_URL": url, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": False, "PUBLIC_URL": "http://localhost",
        # no quiet hours unless a test sets them: a test's outcome must not hang on the hour it runs
        "QUIET_HOURS": "",
    })
    application.test_client_class = IsolatedClient
    with application.app_context():
        from flask_migrate import upgrade
        upgrade()  # the real migrations build the test schema
        clear_tables()  # and any starting data they add (the base earning rule): tests start empty
    return application


def clear_tables(keep: tuple[str, ...] = ()) -> None:
    """Delete every row (but those of `keep` tables), children first."""
    db.session.remove()
    with db.engine.begin() as conn:
        if conn.dialect.name == "mysql":
            conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
        for table in reversed(db.metadata.sorted_tables):
            if table.name not in keep:
                conn.execute(table.delete())
        if conn.dialect.name == "mysql":
            conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))


@pytest.fixture(autouse=True)
def _clean_tables(request, app):
    from wxcrm.extensions import limiter
    ctx = app.app_context()
    ctx.push()
    limiter.reset()  # every test starts with no login or look-up attempts counted
    yield
    clear_tables()
    ctx.pop()


@pytest.fixture
def client(app):
    return app.test_client()


@contextmanager
def configured(app, **values):
    """Change WXCRM_* settings (names without the prefix) for a block; restored after."""
    keys = {f"WXCRM_{name}": value for name, value in values.items()}
    saved = {k: app.config[k] for k in keys}
    app.config.update(keys)
    refresh_settings(app)
    try:
        yield settings_for(app)
    finally:
        app.config.update(saved)
        refresh_settings(app)


@pytest.fixture
def configure(app):
    """``configure(POINT_VALUE_FEN=2)``: change settings for the rest of this test."""
    with ExitStack() as stack:
        yield lambda **values: stack.enter_context(configured(app, **values))


@pytest.fixture
def settings(app):
    return settings_for(app)


@pytest.fixture
def frozen_now(monkeypatch):
    """``frozen_now(datetime(2026, 11, 23, 6, 0))``: the faces' clock (naive UTC) stops there."""
    def freeze(moment: datetime):
        monkeypatch.setattr("wxcrm.timeutil.utcnow", lambda: moment)
    return freeze


# ---------------------------------------------------------------- factories

class Factory:
    """Builds shop data through the real services (so ledgers and cards are consistent)."""

    def __init__(self, app):
        self.app = app
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    def store(self, code: str | None = None, kind: str = "direct", name: str = ""):
        from wxcrm.members import service
        n = self._next()
        store = service.create_store(db.session, code=code or f"S{n:03d}", name=name or f"Store {n}", kind=kind)
        db.session.commit()
        return store

    def staff(self, role: str = "cashier", store=None, username: str | None = None, password: str = "password123"):
        from wxcrm.members import service
        if role in ("cashier", "manager") and store is None:
            store = self.store()
        person = service.create_staff(db.session, username=username or f"{role}{self._next()}", password=password,
                                      role=role, store_code=store.code if store else None)
        db.session.commit()
        return person

    def token(self, role: str = "cashier", store=None) -> str:
        from wxcrm.members import service
        person = self.staff(role, store)
        token = service.create_token(db.session, person)
        db.session.commit()
        return token

    def tier(self, code: str = "normal", rank: int = 1, threshold_fen: int = 0):
        from wxcrm.members import service
        tier = service.create_tier(db.session, code=code, name=code, rank=rank, upgrade_threshold_fen=threshold_fen)
        db.session.commit()
        return tier

    def base_rule(self, rate: int = 1, per_yuan: int = 1):
        """The base earning rule a new install starts with (live): ``rate`` points per
        ``per_yuan`` yuan paid."""
        from wxcrm.rules import storage
        from wxcrm.rules.catalogue import base_earning_rule
        rule = storage.create_rule(db.session, base_earning_rule(rate=rate, per_yuan=per_yuan))
        db.session.commit()
        return rule

    def member(self, today: date | None = None, **fields):
        from wxcrm.members import service
        n = self._next()
        fields.setdefault("phone", f"139{n:08d}")
        fields.setdefault("privacy_version", "2026-01")  # consented (staff enrolment records it)
        fields.setdefault("marketing_consent", True)     # and to marketing (tests of consent say False)
        member = service.create_member(db.session, card_prefix="8800", today=today or date(2026, 1, 1), **fields)
        db.session.commit()
        return member


    def code(self, member) -> str:
        """The member's dynamic code now (the faces' clock), as their card page shows it."""
        from wxcrm import timeutil
        from wxcrm.cards.codes import issue_member_code
        from wxcrm.config import settings_for
        return issue_member_code(db.session, member, secret=settings_for(self.app).member_code_secret,
                                 now=timeutil.utcnow()).token

    def typed_card_spends(self, store_code: str = "S001", allowed: bool = True) -> None:
        """Let a typed card number alone spend at this store (the store's setting)."""
        from wxcrm.cards.presence import set_typed_card_spends
        from wxcrm.members import service
        set_typed_card_spends(db.session, service.store_by_code(db.session, store_code), allowed)
        db.session.commit()


@pytest.fixture
def make(app):
    return Factory(app)


class Api:
    """A JSON client for /api/v1 with a bearer token."""

    def __init__(self, client, token: str):
        self.client = client
        self.token = token

    def _headers(self, key: str | None) -> dict:
        headers = {"Authorization": f"Bearer {self.token}"}
        if key:
            headers["Idempotency-Key"] = key
        return headers

    def get(self, path: str, **kw):
        return self.client.get(f"/api/v1{path}", headers=self._headers(None), **kw)

    def post(self, path: str, json=None, key: str | None = None):
        return self.client.post(f"/api/v1{path}", json=json, headers=self._headers(key))


def post_sale(app, token: str, body: dict, key: str) -> tuple[int, dict]:
    """One till's POST /transactions with its own client: safe to call from many threads."""
    with app.test_client() as c:
        r = c.post("/api/v1/transactions", json=body,
                   headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})
        return r.status_code, r.get_json()


@pytest.fixture
def cashier_api(client, make):
    store = make.store("S001")
    return Api(client, make.token("cashier", store))


@pytest.fixture
def manager_api(client, make, cashier_api):
    """A manager at the cashier's store S001: may refund and approve large sales there."""
    from wxcrm.members.service import store_by_code
    return Api(client, make.token("manager", store_by_code(db.session, "S001")))


@pytest.fixture
def admin_api(client, make):
    return Api(client, make.token("admin"))


@pytest.fixture
def marketer_api(client, make):
    return Api(client, make.token("marketer"))


# ---------------------------------------------------------------- a real HTTP server

@pytest.fixture(scope="session")
def live_server(app):
    """The app on a free localhost port, in a thread, for browser and WeChat tests."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()


# ---------------------------------------------------------------- WeChat

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat shows it


class Standin:
    def __init__(self, server, app):
        self.server = server
        self.app = app
        self.url = f"http://127.0.0.1:{server.server_port}"

    @property
    def state(self):
        return self.app.extensions["standin_state"]

    def calls(self, path: str = "") -> list[dict]:
        return [c for c in requests.get(f"{self.url}/standin/calls.json", params={"path": path}).json()
                if not c.get("failed")]

    def fail_next(self, count: int, errcode: int = -1, http_status: int = 200, path: str = "/cgi-bin/message"):
        requests.post(f"{self.url}/standin/fail-next", json={"count": count, "errcode": errcode,
                                                              "http_status": http_status, "path": path})

    def reset(self):
        requests.post(f"{self.url}/standin/reset")

    def follow(self, *openids: str, subscribed: bool = True) -> None:
        """Followers the account already has (WeChat knows them; no event is pushed)."""
        res = requests.post(f"{self.url}/standin/users", json={"openids": list(openids), "subscribed": subscribed})
        assert res.ok, res.text

    def push(self, event: str, openid: str, **fields) -> dict:
        """A user acts in WeChat: the stand-in pushes the event into wxcrm (and opens the
        customer-service window WeChat would)."""
        res = requests.post(f"{self.url}/standin/push", json={"event": event, "openid": openid, **fields})
        assert res.ok, res.text
        return res.json()

    def flush_jobs(self) -> list[dict]:
        """Push every pending job report (MASSSENDJOBFINISH, TEMPLATESENDJOBFINISH) now."""
        return requests.post(f"{self.url}/standin/jobs/flush").json()

    def sms(self, phone: str = "") -> list[dict]:
        return requests.get(f"{self.url}/standin/sms", params={"phone": phone}).json()


@pytest.fixture(scope="session")
def _standin_server(app, live_server):
    cfg = StandinConfig.from_wxcrm(app.config, callback_url=f"{live_server.url}/wechat/callback")
    cfg.mch_id, cfg.pay_api_key = "1900000109", "standin-pay-key-32-characters-xx"
    standin_app = create_standin_app(cfg)
    server = make_server("127.0.0.1", 0, standin_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Standin(server, standin_app)
    server.shutdown()


@pytest.fixture
def standin(app, _standin_server):
    """The stand-in, reset, with wxcrm's API base and SMS pointed at it for this test.
    Reset again at the end, so no job report or pay notify still pending reaches the next test."""
    with configured(app, WECHAT_API_BASE=_standin_server.url, SMS_PROVIDER="standin", WECHAT_MCH_ID="1900000109",
                    WECHAT_PAY_API_KEY="standin-pay-key-32-characters-xx", OUTBOX_RATE_PER_SECOND=1000):
        _standin_server.reset()
        _standin_server.state.tokens.clear()
        try:
            yield _standin_server
        finally:
            _standin_server.reset()


@pytest.fixture(scope="session")
def standin_tls(_standin_server):
    """The same stand-in on an HTTPS port that asks for client certificates (Pay refunds)."""
    from wxcrm.wechat.standin.tls import serve_tls
    run = _standin_server.app.extensions["standin"]
    server = serve_tls(_standin_server.app, run.ca)
    yield server
    server.shutdown()


@pytest.fixture
def standin_pay(app, standin, standin_tls):
    """wxcrm's Pay pointed at the stand-in's HTTPS port with the merchant's certificate,
    verified against the stand-in's CA; the certificate files (``.ca``)."""
    ca = standin.app.extensions["standin"].ca
    with configured(app, WECHAT_PAY_API_BASE=standin_tls.url, WECHAT_PAY_CERT_PATH=ca.client_cert_path,
                    WECHAT_PAY_KEY_PATH=ca.client_key_path, WECHAT_CA_BUNDLE=ca.ca_path):
        yield ca


class WeChatServer:
    """Plays WeChat: signs (and in safe mode encrypts) with wechatpy, posts over HTTP."""

    def __init__(self, url: str, token: str, appid: str, aes_key: str = ""):
        self.url, self.token, self.appid, self.aes_key = url, token, appid, aes_key
        self.crypto = WeChatCrypto(token, aes_key, appid) if aes_key else None
        self._msg_id = int(time.time() * 1000)

    def signature(self, timestamp: str, nonce: str) -> str:
        signer = WeChatSigner()
        signer.add_data(self.token, timestamp, nonce)
        return signer.signature

    def request(self, fields: dict | None = None, *, raw: bytes | None = None, timestamp: str | None = None,
                nonce: str | None = None, tamper: str | None = None) -> requests.Response:
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or random_string(10)
        params = {"signature": self.signature(timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
        body = raw
        if body is None:
            xml = xmltodict.unparse({"xml": fields}, full_document=False)
            if self.crypto is None:
                body = xml.encode()
            else:
                env = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, timestamp))["xml"]
                params.update(encrypt_type="aes", msg_signature=env["MsgSignature"])
                body = xmltodict.unparse({"xml": {"ToUserName": "gh_test", "Encrypt": env["Encrypt"]}},
                                         full_document=False).encode()
        if tamper == "signature":
            params["signature"] = "0" * 40
        if tamper == "msg_signature":
            params["msg_signature"] = "0" * 40
        return requests.post(f"{self.url}/wechat/callback", params=params, data=body,
                             headers={"Content-Type": "text/xml"}, timeout=10)

    def reply_text(self, res: requests.Response) -> str:
        assert res.status_code == 200, res.text
        if res.text == "success":
            return ""
        data = xmltodict.parse(res.text)["xml"]
        if self.crypto is not None:
            data = xmltodict.parse(self.crypto.decrypt_message(res.text, data["MsgSignature"], data["TimeStamp"],
                                                               data["Nonce"]))["xml"]
        return data["Content"]

    def event(self, openid: str, event: str, key: str | None = None, create_time: int | None = None) -> dict:
        fields = {"ToUserName": "gh_test", "FromUserName": openid, "CreateTime": str(create_time or int(time.time())),
                  "MsgType": "event", "Event": event}
        if key is not None:
            fields["EventKey"] = key
        return fields

    def text(self, openid: str, content: str, msg_id: int | None = None) -> dict:
        self._msg_id += 1
        return {"ToUserName": "gh_test", "FromUserName": openid, "CreateTime": str(int(time.time())),
                "MsgType": "text", "Content": content, "MsgId": str(msg_id or self._msg_id)}

    def send(self, fields: dict) -> str:
        return self.reply_text(self.request(fields))


@pytest.fixture(params=["plaintext", "safe"])
def wechat(request, app, live_server):
    """WeChat's server, in plaintext mode and in safe (AES) mode."""
    aes = AES_KEY if request.param == "safe" else ""
    with configured(app, WECHAT_AES_KEY=aes) as settings:
        yield WeChatServer(live_server.url, settings.wechat_token, settings.wechat_app_id, aes)
