"""Insert-if-missing without savepoints.

A savepoint opened before any write in the transaction is the outermost one on pysqlite,
and releasing it commits: a nested ``begin_nested`` would commit the caller's work on
SQLite. ``INSERT ... ON CONFLICT DO NOTHING`` (SQLite, PostgreSQL) or ``ON DUPLICATE KEY
UPDATE`` a key to itself (MySQL) stays inside the caller's transaction everywhere, and
on MySQL waits for a concurrent insert of the same key instead of failing.
"""
from __future__ import annotations

import json
from datetime import date, datetime
from typing import Callable

from sqlalchemy import Boolean, ColumnElement, Date, DateTime, Integer, String, false, func, literal_column
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import Session


def as_loaded(model, values: dict):
    """A transient ``model`` instance holding ``values`` as the ORM holds what it loaded (in
    its ``__dict__``, with no change history): what the constructor makes, without an
    attribute event per value (issue 11: the till builds its rows' instances from values
    it wrote in Core). ``make_transient_to_detached`` and ``Session.add`` make it a
    session's persistent, clean instance."""
    obj = model.__mapper__.class_manager.new_instance()
    obj.__dict__.update(values)
    return obj


def packed(*columns) -> ColumnElement:
    """``columns`` as one JSON array column (``JSON_ARRAY`` on MariaDB, MySQL and TiDB,
    ``json_array`` on SQLite): for a hot read of many columns, where the driver's work per
    column returned (PyMySQL parses a metadata packet for each) costs more than the query
    (issue 11). ``unpacker`` reads it back."""
    return func.json_array(*columns)


def unpacker(columns) -> Callable[[str | bytes], list]:
    """Reads ``packed(*columns)`` back to the values a plain select returns, by each
    column's type: integers and strings as they are, dates from their ISO text, booleans
    from 0 and 1; NULL as None. Refuses (at import) a column type it does not know."""
    readers = []
    for column in columns:
        kind = column.type
        if isinstance(kind, Boolean):
            readers.append(lambda v: None if v is None else bool(v))
        elif isinstance(kind, Date) and not isinstance(kind, DateTime):
            readers.append(lambda v: None if v is None else date.fromisoformat(v))
        elif isinstance(kind, (Integer, String)):
            readers.append(None)
        else:
            raise TypeError(f"unpacker: no reader for {column} ({kind})")
    if not any(readers):
        return json.loads

    def unpack(text):
        return [v if read is None else read(v) for read, v in zip(readers, json.loads(text))]
    return unpack


def insert_missing(session: Session, model, key_column: str, **values) -> None:
    dialect = session.get_bind().dialect.name
    if dialect in ("mysql", "mariadb"):
        stmt = mysql.insert(model).values(**values)
        stmt = stmt.on_duplicate_key_update({key_column: stmt.inserted[key_column]})
    elif dialect == "postgresql":
        stmt = postgresql.insert(model).values(**values).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(model).values(**values).on_conflict_do_nothing()
    session.execute(stmt)


_COUNTERS: dict = {}


def add_to_counters(session: Session, model, unique: tuple[str, ...], count_column: str, rows: list[dict]) -> None:
    """Add one to each of ``rows``' counters (``count_column``), inserting at 1 those missing
    (``unique``: the columns of the counters' unique key): one statement for all the rows
    (``INSERT ... ON DUPLICATE KEY UPDATE`` / ``ON CONFLICT DO UPDATE``), which holds each row
    under its lock as an insert-if-missing followed by an update would."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    stmt = _COUNTERS.get((model, dialect, unique, count_column))
    if stmt is None:
        table = model.__table__
        # "+ 1" as SQL text, not a bound parameter: PyMySQL's executemany (one multi-row
        # INSERT) cannot fill parameters in the ON DUPLICATE KEY clause
        bumped = {count_column: table.c[count_column] + literal_column("1")}
        if dialect in ("mysql", "mariadb"):
            stmt = mysql.insert(table).on_duplicate_key_update(bumped)
        elif dialect == "postgresql":
            stmt = postgresql.insert(table).on_conflict_do_update(index_elements=list(unique), set_=bumped)
        else:
            stmt = sqlite.insert(table).on_conflict_do_update(index_elements=list(unique), set_=bumped)
        _COUNTERS[(model, dialect, unique, count_column)] = stmt
    session.connection().execute(stmt, [{**row, count_column: 1} for row in rows])


def insert_missing_many(session: Session, model, key_column: str, rows: list[dict]) -> None:
    """``insert_missing`` for many rows in one statement (rows whose key exists are left)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    table = model.__table__   # Core: one multi-row statement (the ORM may split the rows)
    if dialect in ("mysql", "mariadb"):
        stmt = mysql.insert(table)
        stmt = stmt.on_duplicate_key_update({key_column: stmt.inserted[key_column]})
    elif dialect == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(table).on_conflict_do_nothing()
    session.connection().execute(stmt, rows)


def insert_missing_select(session: Session, model, key_column: str, names: list[str], rows) -> None:
    """``insert_missing_many`` from a SELECT (``INSERT ... SELECT``): nothing is sent per row.
    ``rows`` must have a WHERE clause (SQLite reads ``ON CONFLICT`` after a bare FROM as a join)."""
    dialect = session.get_bind().dialect.name
    table = model.__table__
    if dialect in ("mysql", "mariadb"):
        stmt = mysql.insert(table).from_select(names, rows)
        stmt = stmt.on_duplicate_key_update({key_column: stmt.inserted[key_column]})
    elif dialect == "postgresql":
        stmt = postgresql.insert(table).from_select(names, rows).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(table).from_select(names, rows).on_conflict_do_nothing()
    session.execute(stmt)


# MariaDB/MySQL: the multi-row INSERT text is built here, a value at a time by its type, and
# sent as it is (the driver's per-value escaping was most of a seed's time). Strings are escaped
# as the server reads them in its default SQL mode (backslash escapes).
_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", "\0": "\\0", "\n": "\\n", "\r": "\\r", "\x1a": "\\Z"})


def _sql_str(v: str) -> str:
    return "'" + v.translate(_ESCAPES) + "'"


_LITERAL = {
    int: str, str: _sql_str, bool: lambda v: "1" if v else "0", type(None): lambda v: "NULL",
    date: lambda v: "'" + v.isoformat() + "'", datetime: lambda v: "'" + v.isoformat(sep=" ") + "'",
    dict: lambda v: _sql_str(json.dumps(v, ensure_ascii=False)),
}
ROWS_PER_STATEMENT = 2000


def mysql_values(rows) -> str:
    """``(..), (..)``: rows of plain values as MariaDB/MySQL literals, for a multi-row INSERT."""
    return ",".join("(" + ",".join([_LITERAL[type(v)](v) for v in row]) + ")" for row in rows)


def ids_in(column, ids) -> ColumnElement:
    """``column IN (1, 2, ...)`` with the integers written into the statement: for thousands
    of ids, binding each (and the driver escaping each) costs more than the query."""
    values = [int(i) for i in ids]
    if not values:
        return false()
    return column.op("IN")(literal_column("(" + ",".join(map(str, values)) + ")"))
