"""``sqlutil.run``: the till's hot statements on the driver's cursor (issue 11). What it
writes must be what ``Connection.execute`` writes (JSON, dates, Chinese text, NULLs, the
statement's own bound values), its errors SQLAlchemy's, and the engine's listeners must see
each statement (the statement-count tests rely on it). On SQLite, and on MariaDB in CI."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
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
from sqlalchemy.orm import registry

from tests.conftest import mysql_only
from wxcrm.extensions import db
from wxcrm.sqlutil import _pymysql_text, run, run_scalar
from wxcrm.sqlutil import connection as sql_connection

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


class Thing:
    """zz_run_things mapped, for a flush that fails."""


registry().map_imperatively(Thing, things)


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


def test_connection_is_the_sessions_own_for_each_transaction(tables):
    session = db.session()
    first = sql_connection(session)
    assert first is session.connection() and sql_connection(session) is first
    run(first, insert(things), ROWS[0])
    savepoint = session.begin_nested()         # a savepoint: on its root's connection, emitted first
    run(sql_connection(session), insert(things), {**ROWS[1], "name": "undone"})
    assert sql_connection(session) is first is session.connection()
    savepoint.rollback()
    assert sql_connection(session) is first
    assert run_scalar(first, select(things.c.id).where(things.c.name == "undone")) is None
    session.commit()

    second = sql_connection(session)           # a new transaction: asked of the session again
    assert second is session.connection() and second is not first
    assert run_scalar(second, select(things.c.kind).where(things.c.name == "会员-1")) == "points"
    session.rollback()
    assert sql_connection(session) is session.connection() is not second

    session.add(Thing(name="会员-1", kind="dup"))   # the unique name: the flush fails
    with pytest.raises(exc.IntegrityError):
        session.flush()
    with pytest.raises(exc.PendingRollbackError):  # as session.connection() refuses it
        sql_connection(session)
    session.rollback()
    assert run_scalar(sql_connection(session), select(things.c.kind).where(things.c.name == "会员-1")) == "points"


VALUES = st.one_of(
    st.text(), st.text(alphabet="\\'\"\0\n\r\x1a%会员 "), st.integers(-2 ** 63, 2 ** 63 - 1), st.none(),
    st.booleans(), st.floats(allow_nan=False, allow_infinity=False), st.binary(max_size=20),
    st.decimals(allow_nan=False, allow_infinity=False, places=2), st.dates(),
    st.datetimes(min_value=datetime(1000, 1, 1)), st.datetimes(timezones=st.just(timezone.utc)))


@mysql_only
@given(args=st.lists(VALUES, max_size=6))
@examples(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_statement_text_is_what_pymysql_would_send(app, args):
    """``run`` makes PyMySQL's statement text itself (issue 11): for any values, the very text
    the driver's own ``execute(sql, args)`` sends, a literal % in the SQL included."""
    positional = "SELECT 'a%%b'" + "".join(", %s" for _ in args)
    named = "SELECT 'a%%b'" + "".join(f", %(p{i})s" for i in range(len(args)))
    by_name = {f"p{i}": v for i, v in enumerate(args)}
    raw = db.engine.raw_connection()
    try:
        conn, cursor = raw.driver_connection, raw.driver_connection.cursor()
        assert _pymysql_text(positional, tuple(args), conn) == cursor.mogrify(positional, tuple(args))
        assert _pymysql_text(named, by_name, conn) == cursor.mogrify(named, by_name)
    finally:
        raw.close()


@mysql_only
def test_strings_round_trip_and_no_backslash_escapes_is_left_to_the_driver(tables):
    """What the text writes reads back as given; a connection whose SQL mode reads backslashes
    as plain characters (NO_BACKSLASH_ESCAPES) gets the driver's escaping, not the text's."""
    tricky = "o'brien \\' \\\\ \" \0 \n \r \x1a %s %% 会员"
    with db.engine.connect() as conn:
        run(conn, insert(things), {"name": "plain", "kind": "x", "body": {"s": tricky}, "on": None, "at": None})
        conn.exec_driver_sql("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
        assert _pymysql_text("SELECT %s", ("\\",), conn.connection.driver_connection) is None
        run(conn, insert(things), {"name": "nbe", "kind": "x", "body": {"s": tricky}, "on": None, "at": None})
        run(conn, update(things).where(things.c.name == bindparam("n")).values(kind=bindparam("k")),
            {"n": "nbe", "k": "\\'"})
        rows = dict(conn.execute(select(things.c.name, things.c.body)).all())
        assert rows == {"plain": {"s": tricky}, "nbe": {"s": tricky}}
        assert conn.execute(select(things.c.kind).where(things.c.name == "nbe")).scalar_one() == "\\'"
        conn.rollback()
