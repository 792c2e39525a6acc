"""Test fixtures: one real database per run, schema built by the Alembic migrations,
rows cleared after each test (tests that commit from many threads need real commits).

WXCRM_TEST_DATABASE_URL=mysql+pymysql://root@127.0.0.1/test runs everything on MariaDB;
without it the suite uses a SQLite file in a temporary folder.
"""
from __future__ import annotations

import os
import threading
from datetime import date

import pytest
from sqlalchemy import create_engine, inspect, text
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from wxcrm import create_app
from wxcrm.extensions import db

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
    })
    application.test_client_class = IsolatedClient
    with application.app_context():
        from flask_migrate import upgrade
        upgrade()  # the real migrations build the test schema
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
    ctx = app.app_context()
    ctx.push()
    yield
    clear_tables()
    ctx.pop()


@pytest.fixture
def client(app):
    return app.test_client()


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
        if role == "cashier" and store is None:
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

    def member(self, today: date | None = None, **fields):
        from wxcrm.members import service
        n = self._next()
        fields.setdefault("phone", f"139{n:08d}")
        member = service.create_member(db.session, card_prefix="8800", today=today or date(2026, 1, 1), **fields)
        db.session.commit()
        return member


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
def admin_api(client, make):
    return Api(client, make.token("admin"))


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
