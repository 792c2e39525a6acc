"""``sqlutil.run``: the till's hot statements on the driver's cursor (issue 11). What it
writes must be what ``Connection.execute`` writes (JSON, dates, Chinese text, NULLs, the
statement's own bound values), its errors SQLAlchemy's, and the engine's listeners must see
each statement (the statement-count tests rely on it). On SQLite, and on MariaDB in CI."""
from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    event,
    exc,
    insert,
    select,
    update,
)

from wxcrm.extensions import db
from wxcrm.sqlutil import run, run_scalar

meta = MetaData()
things = Table("zz_run_things", meta,
               Column("id", Integer, primary_key=True, autoincrement=True),
               Column("name", String(20), unique=True, nullable=False),
               Column("kind", String(10), nullable=False),
               Column("body", JSON),
               Column("on", Date),
               Column("at", DateTime))
with_default = Table("zz_run_defaults", meta,
                     Column("id", Integer, primary_key=True),
                     Column("kind", String(10), default="plain"))


@pytest.fixture
def tables(app):
    meta.create_all(db.engine)
    yield
    db.session.remove()
    meta.drop_all(db.engine)


ROWS = [{"name": "会员-1", "kind": "points", "body": {"积分": [1, 2], "ok": True}, "on": date(2026, 2, 28),
         "at": datetime(2026, 11, 30, 23, 59, 58)},
        {"name": "o'brien\\x", "kind": "value", "body": None, "on": None, "at": None}]


def _read(conn) -> list[tuple]:
    return [tuple(r) for r in conn.execute(select(things.c.name, things.c.kind, things.c.body, things.c.on,
                                                  things.c.at).order_by(things.c.id))]


def test_run_writes_what_execute_writes(tables):
    with db.engine.begin() as conn:
        first = run(conn, insert(things), ROWS[0]).lastrowid
        run(conn, insert(things), [ROWS[1]])
        by_run = _read(conn)
        conn.execute(things.delete())
        conn.execute(insert(things), ROWS[0])
        conn.execute(insert(things), [ROWS[1]])
        assert _read(conn) == by_run
    assert first >= 1
    assert by_run[0][2] == {"积分": [1, 2], "ok": True} and by_run[1][2] is None


def test_run_reads_and_updates_with_bound_and_given_values(tables):
    points_only = select(things.c.name).where(things.c.kind == "points").where(things.c.id == bindparam("id"))
    with db.engine.begin() as conn:
        ids = [run(conn, insert(things), row).lastrowid for row in ROWS]
        assert run_scalar(conn, points_only, {"id": ids[0]}) == "会员-1"
        assert run_scalar(conn, points_only, {"id": ids[1]}) is None     # the statement's own 'points'
        moved = run(conn, update(things).where(things.c.id == bindparam("row")).values(kind=bindparam("to")),
                    {"row": ids[1], "to": "points"})
        assert moved.rowcount == 1
        assert run_scalar(conn, points_only, {"id": ids[1]}) == "o'brien\\x"
        with pytest.raises(KeyError):
            run(conn, points_only, {})


def test_run_raises_sqlalchemy_errors_and_refuses_what_it_cannot_complete(tables):
    with db.engine.connect() as conn:
        run(conn, insert(things), ROWS[0])
        with pytest.raises(exc.IntegrityError):
            run(conn, insert(things), ROWS[0])       # the unique name
        conn.rollback()
        with pytest.raises(ValueError):
            run(conn, insert(things), [])                  # no rows: the caller skips the call
        with pytest.raises(TypeError):
            run(conn, insert(with_default), {"id": 1})     # a Python-side default it would not fill
        with pytest.raises(TypeError):
            run(conn, select(things.c.id).where(things.c.id.in_(bindparam("ids", expanding=True))), {"ids": [1]})


def test_the_engine_listeners_see_each_statement(tables):
    seen = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement.split()[0], executemany))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with db.engine.begin() as conn:
            run(conn, insert(things), ROWS[0])
            run(conn, insert(things), [ROWS[1]])
            run_scalar(conn, select(things.c.id).where(things.c.name == bindparam("n")), {"n": "x"})
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert seen == [("INSERT", False), ("INSERT", True), ("SELECT", False)]
