"""Plain DBAPI execution for the few statements on the token path.

SQLAlchemy Core's per-statement cost on top of the driver (docs/benchmarks.md) matters on the token
path, which runs up to five reads per grant (none when its caches hold) and a few writes per commit
group (broker/storage/token_group.py), so these run straight on the driver connection that
SQLAlchemy's transaction already holds, and `pipeline` sends several in one round trip on
PostgreSQL. The SQL is written once with `:name` parameters and translated to the driver's style;
everything else in the broker uses Core.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, StatementError

_NAMED = re.compile(r"(?<!:):(\w+)")

try:  # pipeline mode needs libpq 14 or newer; without it statements go one by one
    from psycopg import Pipeline as _Pipeline

    PIPELINE_SUPPORTED = _Pipeline.is_supported()
except ImportError:  # SQLite-only install
    PIPELINE_SUPPORTED = False


class Sql:
    """One statement, in SQLite's `:name` and psycopg's `%(name)s` parameter styles; `columns`
    names the result columns, in order."""

    __slots__ = ("columns", "postgresql", "sqlite")

    def __init__(self, text: str, columns: Sequence[str] = ()) -> None:
        # `{columns}` in the text stands for the column list, so it is written once.
        text = text.replace("{columns}", ", ".join(columns))
        self.sqlite = text
        self.postgresql = _NAMED.sub(r"%(\1)s", text.replace("%", "%%"))
        self.columns = tuple(columns)


class Insert:
    """A multi-row INSERT: `executemany` on SQLite (in-process, each row is cheap), and on
    PostgreSQL one statement over the rows sent as a single JSON parameter (`json_to_recordset`,
    cheaper for the event loop than an array per column: docs/benchmarks.md), which also lets
    several inserts be parts of one statement (`with_parameter`). `columns` maps each column to
    its PostgreSQL type: text, float8 or int8."""

    __slots__ = ("_postgresql", "postgresql", "sqlite")

    def __init__(self, table: str, columns: Mapping[str, str], *, skip_conflicts: bool = False) -> None:
        names = ", ".join(columns)
        conflict = " ON CONFLICT DO NOTHING" if skip_conflicts else ""
        values = ", ".join(f":{name}" for name in columns)
        record = ", ".join(f"{name} {kind}" for name, kind in columns.items())
        # Table, column and type names are the module constants of the callers, never input.
        self.sqlite = f"INSERT INTO {table} ({names}) VALUES ({values}){conflict}"  # noqa: S608
        self._postgresql = (
            f"INSERT INTO {table} ({names}) SELECT {names} "  # noqa: S608
            f"FROM json_to_recordset(%({{param}})s::json) AS r({record}){conflict}"
        )
        self.postgresql = self.with_parameter("rows")

    def with_parameter(self, name: str) -> str:
        """The PostgreSQL statement with its rows in parameter `name` (for `rows_parameter`), so
        that several can be parts of one statement."""
        return self._postgresql.format(param=name)


def rows_parameter(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows as the one parameter of an `Insert` on PostgreSQL. Every row must hold every column
    (as on SQLite); a key that is no column would be ignored."""
    return json.dumps(rows, ensure_ascii=False)


class Sent:
    """A statement sent to the database. Its result is read through this once it is in: at once
    outside a `pipeline`, after the pipeline's end inside one."""

    __slots__ = ("_columns", "_cursor", "_rows")

    def __init__(self, cursor: Any, columns: Sequence[str] = (), rows: list[Any] | None = None) -> None:
        self._cursor = cursor  # None: nothing was sent (an insert of no rows)
        self._columns = tuple(columns)
        self._rows = rows

    def count(self) -> int:
        """How many rows the statement changed (summed over an executemany)."""
        return 0 if self._cursor is None else int(self._cursor.rowcount)

    def all(self) -> list[SimpleNamespace]:
        """All result rows, as objects with the statement's column names as attributes."""
        names = self._columns
        return [SimpleNamespace(**dict(zip(names, row, strict=True))) for row in self._fetched()]

    def first(self) -> SimpleNamespace | None:
        """The first result row, or None."""
        found = self._fetched()
        return SimpleNamespace(**dict(zip(self._columns, found[0], strict=True))) if found else None

    def tuples(self) -> list[tuple[Any, ...]]:
        """All result rows as the driver's tuples, in the statement's column order (no per-row
        object: for long results)."""
        return self._fetched()

    def scalar(self) -> Any:
        """The first column of the first row, or None."""
        found = self._fetched()
        return found[0][0] if found else None

    def _fetched(self) -> list[Any]:
        if self._rows is None:
            self._rows = [] if self._cursor is None else self._cursor.fetchall()
        return self._rows


@contextmanager
def pipeline(conn: Connection) -> Iterator[None]:
    """The statements sent through this module inside the block go to the database together at its
    end: on PostgreSQL, psycopg's pipeline mode, one round trip for them all instead of one each
    (while the event loop that runs them waits). Their `Sent` results may be read only after the
    block; a statement that fails raises at its end, and the ones after it in the block do not
    run. Inside a pipeline already open (`Store.write_from_loop(pipelined=True)`) the block's end
    is a sync of that one. On SQLite, in process, each statement simply runs when sent."""
    raw = conn.connection.driver_connection
    if conn.dialect.name == "sqlite" or not PIPELINE_SUPPORTED:
        yield
        return
    with driver_errors(conn, "pipeline"), raw.pipeline():  # type: ignore[union-attr]
        yield


@contextmanager
def driver_errors(conn: Connection, statement: str) -> Iterator[None]:
    """The driver's errors raised as SQLAlchemy's, as Core statements raise them: the API answers
    any `DBAPIError` with 503 (a raw driver error would be a 500), and a kept read connection that
    failed is replaced. The parameters are never part of the message."""
    try:
        yield
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _as_dbapi_error(conn, statement, exc) from exc


def _as_dbapi_error(conn: Connection, statement: str, exc: Exception) -> StatementError:
    # A DBAPIError subclass for a driver error (SQLAlchemy's own annotation is the wider type).
    return DBAPIError.instance(
        statement, None, exc, conn.dialect.loaded_dbapi.Error, hide_parameters=True, dialect=conn.dialect
    )


def send_insert(conn: Connection, statement: Insert, rows: Sequence[Mapping[str, Any]]) -> Sent:
    """Send an insert of the rows (each with every column of the statement)."""
    if not rows:
        return Sent(None)
    raw = conn.connection.driver_connection
    # `driver_errors` inlined: a generator context manager costs 1.6 us per statement.
    try:
        if conn.dialect.name == "sqlite":
            return Sent(raw.executemany(statement.sqlite, rows))  # type: ignore[union-attr]
        cursor = raw.cursor()  # type: ignore[union-attr]
        cursor.execute(statement.postgresql, {"rows": rows_parameter(rows)})
        return Sent(cursor)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _as_dbapi_error(conn, statement.sqlite, exc) from exc


def send(conn: Connection, statement: Sql, params: Mapping[str, Any]) -> Sent:
    """Send a statement, in the driver connection of SQLAlchemy's current transaction (same BEGIN,
    same COMMIT)."""
    raw = conn.connection.driver_connection
    try:  # `driver_errors`, inlined as in `send_insert`
        if conn.dialect.name == "sqlite":
            if not conn.in_transaction():
                conn.begin()  # a kept read begins with its first statement (Store.read_kept)
            # Read at once: a statement not stepped to its end (an UPDATE ... RETURNING whose row
            # was never read) would be "in progress" and stop the transaction from committing.
            cursor = raw.execute(statement.sqlite, params)  # type: ignore[union-attr]
            return Sent(cursor, statement.columns, cursor.fetchall())
        cursor = raw.cursor()  # type: ignore[union-attr]
        cursor.execute(statement.postgresql, params)
        return Sent(cursor, statement.columns)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _as_dbapi_error(conn, statement.sqlite, exc) from exc


def insert(conn: Connection, statement: Insert, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert the rows (each with every column of the statement); returns how many went in."""
    return send_insert(conn, statement, rows).count()


def rows(conn: Connection, statement: Sql, params: Mapping[str, Any]) -> list[SimpleNamespace]:
    """All result rows, as objects with the statement's column names as attributes."""
    return send(conn, statement, params).all()


def first(conn: Connection, statement: Sql, params: Mapping[str, Any]) -> SimpleNamespace | None:
    """The first result row, or None."""
    return send(conn, statement, params).first()


def scalar(conn: Connection, statement: Sql, params: Mapping[str, Any]) -> Any:
    """The first column of the first row, or None."""
    return send(conn, statement, params).scalar()


def execute(conn: Connection, statement: Sql, params: Mapping[str, Any]) -> None:
    """Run a statement for its effect."""
    send(conn, statement, params)
