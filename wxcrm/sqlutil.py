"""SQL helpers below the models' users: statements run on the driver's cursor (``run``),
insert-if-missing without savepoints, counters, packed reads, multi-row literals.

Insert-if-missing: a savepoint opened before any write in the transaction is the outermost
one on pysqlite, and releasing it commits: a nested ``begin_nested`` would commit the caller's
work on SQLite. ``INSERT ... ON CONFLICT DO NOTHING`` (SQLite, PostgreSQL) or ``ON DUPLICATE
KEY UPDATE`` a key to itself (MySQL) stays inside the caller's transaction everywhere, and on
MySQL waits for a concurrent insert of the same key instead of failing.
"""
from __future__ import annotations

import json
from datetime import date, datetime
from typing import Callable

from pymysql.constants.SERVER_STATUS import SERVER_STATUS_NO_BACKSLASH_ESCAPES
from pymysql.converters import escape_date, escape_datetime, escape_string
from sqlalchemy import Boolean, ColumnElement, Date, DateTime, Integer, String, false, func, literal_column
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, make_transient_to_detached, scoped_session


class _Prepared:
    """A Core statement compiled once for a dialect: its SQL text and, for each parameter the
    driver gets (in order when the dialect's style is positional), where its value comes from:
    the caller's key or the value bound in the statement, and the type's bind processor."""
    __slots__ = ("statement", "sql", "positional", "slots", "pymysql")

    def __init__(self, statement, dialect, keys: tuple[str, ...] | None):
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
        if (compiled.literal_execute_params or compiled.post_compile_params
                or getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None)):
            # expanding IN lists, literal-execute binds, Python-side column defaults: the
            # caller would get a statement SQLAlchemy completes at execution; run it there
            raise TypeError(f"sqlutil.run: {statement!r} needs SQLAlchemy's execution (defaults or expanding "
                            "parameters); give every value, or use Connection.execute")
        by_name = {}
        for bind, name in compiled.bind_names.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            by_name[name] = (bind.key, bind.value, bind.required, processor)
        self.statement = statement      # held: the cache is keyed by the statement's id
        self.sql = compiled.string
        self.positional = compiled.positional
        self.pymysql = dialect.driver == "pymysql"      # the statement's text made here: _pymysql_text
        self.slots = tuple((name, *by_name[name]) for name in (compiled.positiontup if compiled.positional
                                                               else by_name))

    def args(self, params: dict):
        values = []
        for _name, key, static, required, processor in self.slots:
            if key in params:
                value = params[key]
            elif required:
                raise KeyError(f"sqlutil.run: no value for the parameter {key!r}")
            else:
                value = static
            values.append(value if processor is None else processor(value))
        if self.positional:
            return tuple(values)
        return {slot[0]: value for slot, value in zip(self.slots, values)}


_PREPARED: dict[tuple, _Prepared] = {}
_CONNECTION = "wxcrm.sqlutil.connection"


def connection(session: Session) -> Connection:
    """``session.connection()``, remembered for the session's transaction: the till asks for it
    a dozen times a sale, and each ask goes through the bind's look-up and the transaction's
    state checks (issue 11: about 3 % of a purchase's CPU). The same Connection while the
    session's innermost transaction is the same and active; otherwise (none begun yet, a
    savepoint begun or ended, committed, rolled back, failed in a flush) ``session.connection()``
    itself, which begins one, emits the savepoint's SAVEPOINT, or raises as it always does."""
    if isinstance(session, scoped_session):     # db.session: the registry's session for this context
        session = session()
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is not None and transaction.is_active:
        known = session.info.get(_CONNECTION)
        if known is not None and known[0] is transaction:     # held: no other object gets its id
            return known[1]
    conn = session.connection()
    session.info[_CONNECTION] = (session.get_nested_transaction() or session.get_transaction(), conn)
    return conn


def run(conn: Connection, statement, params: dict | list[dict] | None = None):
    """Run a Core ``statement`` on ``conn``'s driver cursor and return the cursor (``fetchone``,
    ``fetchall``, ``lastrowid``, ``rowcount``); a list of ``params`` is one ``executemany``
    (one multi-row INSERT on PyMySQL). For the till's hot statements (issue 11): SQLAlchemy's
    execution costs about as much per statement as the driver's (the compiled cache look-up,
    the parameters, the execution context and the result), so the text is compiled once per
    dialect and the values go to the driver as they are, through their types' bind processors
    (JSON, SQLite's dates).

    The rest is as ``Connection.execute``: the statement runs in the connection's transaction,
    the engine's ``before_cursor_execute`` / ``after_cursor_execute`` listeners see it (the
    statement-count tests), and a driver error is raised as SQLAlchemy's (``IntegrityError``
    ...), a lost connection invalidated. Rows come back raw, without result processing: read
    integers, strings and ``packed`` columns only. Statements with Python-side defaults or
    expanding parameters are refused (a ``TypeError`` on first use)."""
    many = isinstance(params, list)
    if many and not params:
        raise ValueError("sqlutil.run: an empty list of rows (nothing to write: skip the call)")
    rows = params if many else [params or {}]
    keys = tuple(rows[0]) if statement.is_dml and getattr(statement, "is_insert", False) else None
    dialect = conn.dialect
    cache_key = (id(statement), dialect.name, dialect.paramstyle, keys)
    prepared = _PREPARED.get(cache_key)
    if prepared is None:
        if len(_PREPARED) > 512:     # module statements and the snapshot's few shapes: never grows
            _PREPARED.clear()
        prepared = _PREPARED[cache_key] = _Prepared(statement, dialect, keys)
    sql = prepared.sql
    args = [prepared.args(row) for row in rows] if many else prepared.args(rows[0])
    cursor = conn.connection.dbapi_connection.cursor()
    events = conn._has_events or conn.engine._has_events     # as Connection.execute asks
    if events:
        for listener in conn.dispatch.before_cursor_execute:   # (without retval, wrapped to return them)
            sql, args = listener(conn, cursor, sql, args, None, many)
    try:
        if many and len(args) > 1:
            cursor.executemany(sql, args)
        else:           # one row of many: the driver's multi-row rewrite (a regex over the text) for nothing
            one = args[0] if many else args
            text = _pymysql_text(sql, one, cursor.connection) if prepared.pymysql else None
            if text is not None:
                cursor.execute(text)        # no arguments: the driver sends the text as it is
            else:
                cursor.execute(sql, one)
    except dialect.loaded_dbapi.Error as e:
        conn._handle_dbapi_exception(e, sql, args, cursor, None)   # raises SQLAlchemy's error, invalidates if lost
    if events:
        conn.dispatch.after_cursor_execute(conn, cursor, sql, args, None, many)
    return cursor


def _quoted(value: str) -> str:
    return "'" + escape_string(value) + "'"


# PyMySQL's own encoders for the types the till's statements send, looked up by exact type (a
# subclass, bool among them, goes to the driver): its escaping without its dispatch per value
_PYMYSQL_LITERALS = {int: str, str: _quoted, type(None): lambda _: "NULL", datetime: escape_datetime,
                     date: escape_date}


def _pymysql_text(sql: str, args: dict | tuple, dbapi_connection) -> str | None:
    """The text PyMySQL's ``cursor.execute(sql, args)`` would send (``sql % escaped args``, named
    or positional): its escaping of each value was a sixth of a purchase's driver time
    (issue 11), most of it passing each value through three functions to reach its encoder.
    None when the connection reads strings with NO_BACKSLASH_ESCAPES: the driver escapes then."""
    if dbapi_connection.server_status & SERVER_STATUS_NO_BACKSLASH_ESCAPES:
        return None
    literals, escape = _PYMYSQL_LITERALS, dbapi_connection.escape
    if isinstance(args, dict):
        return sql % {k: literals[type(v)](v) if type(v) in literals else escape(v) for k, v in args.items()}
    return sql % tuple([literals[type(v)](v) if type(v) in literals else escape(v) for v in args])


def run_scalar(conn: Connection, statement, params: dict | None = None):
    """``run`` for a statement that reads one value: the first column of the first row, or None."""
    cursor = run(conn, statement, params)
    row = cursor.fetchone()
    cursor.close()
    return None if row is None else row[0]


def as_loaded(model, values: dict):
    """A transient ``model`` instance holding ``values`` as the ORM holds what it loaded (in
    its ``__dict__``, with no change history): what the constructor makes, without an
    attribute event per value (issue 11: the till builds its rows' instances from values
    it wrote in Core). ``add_as_loaded`` makes it a session's persistent, clean instance."""
    obj = model.__mapper__.class_manager.new_instance()
    obj.__dict__.update(values)
    return obj


def add_as_loaded(session: Session, model, values: dict):
    """``values`` (the primary key among them) as ``session``'s own persistent, clean
    ``model`` instance, as if the ORM had loaded that row: columns not given load on first use.
    The caller knows the session does not hold that row yet."""
    obj = as_loaded(model, values)
    make_transient_to_detached(obj)
    session.add(obj)
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
