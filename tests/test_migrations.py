"""Alembic: one head, and the migrated schema is exactly what the models declare."""
from __future__ import annotations

import os

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from wxcrm import create_app
from wxcrm.extensions import db


def test_there_is_one_alembic_head(app):
    script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
    assert len(script.get_heads()) == 1


def test_the_migrations_build_the_schema_the_models_declare(app):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), db.metadata)
    assert diff == []


def test_init_db_builds_a_fresh_sqlite_database(tmp_path):
    url = f"sqlite:///{tmp_path}/fresh.sqlite3"
    fresh = create_app({"DATABASE_URL": url, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x"})
    with fresh.app_context():  # the command runs in the current app context
        r = fresh.test_cli_runner().invoke(args=["wxcrm", "init-db"])
    assert r.exit_code == 0, r.output
    assert os.path.exists(tmp_path / "fresh.sqlite3"), r.output
