"""Plain DBAPI execution for the few statements on the token path.

SQLAlchemy Core costs about 20 microseconds per statement on top of the driver; the token path runs
up to five reads per grant (none when its caches hold) and at most seven writes per commit group,
so these run straight on the driver connection that SQLAlchemy's transaction already holds, and
`pipeline` sends several in one round trip on PostgreSQL. The SQL is written once with `:name`
parameters and translated to the driver's style; everything else in the broker uses Core.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection

_NAMED = re.compile(r"(?<!:):(\w+)")

try:  # pipeline mode needs libpq 14 or newer; without it statements go one by one
    from psycopg import Pipeline as _Pipeline

    _PIPELINE_SUPPORTED = _Pipeline.is_supported()
except ImportError:  # SQLite-only install
    _PIPELINE_SUPPORTED = False


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
    PostgreSQL one statement over `unnest()`ed arrays, one per column, instead of a statement per
    row in pipeline mode (psycopg spends far more per statement than per value). `columns` maps
    each column to its PostgreSQL type: text, float8 or int8."""

    __slots__ = ("columns", "postgresql", "sqlite")

    def __init__(self, table: str, columns: Mapping[str, str], *, skip_conflicts: bool = False) -> None:
        names = ", ".join(columns)
        conflict = " ON CONFLICT DO NOTHING" if skip_conflicts else ""
        values = ", ".join(f":{name}" for name in columns)
        # Binary parameters (`%b`): psycopg dumps a text array in text format through a regex per
        # element, at twice the cost.
        arrays = ", ".join(f"%({name})b::{kind}[]" for name, kind in columns.items())
        # Table, column and type names are the module constants of the callers, never input.
        self.sqlite = f"INSERT INTO {table} ({names}) VALUES ({values}){conflict}"  # noqa: S608
        self.postgresql = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}){conflict}"  # noqa: S608
        self.columns = tuple((name, _AS_TYPE[kind]) for name, kind in columns.items())


# A binary array takes its element type from its first value: an int among floats would not dump.
_AS_TYPE: dict[str, Callable[[Any], Any]] = {"text": str, "float8": float, "int8": int}


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
    run. On SQLite, in process, each statement simply runs when sent."""
    raw = conn.connection.driver_connection
    if conn.dialect.name == "sqlite" or not _PIPELINE_SUPPORTED:
        yield
        return
    with raw.pipeline():  # type: ignore[union-attr]
        yield


def send_insert(conn: Connection, statement: Insert, rows: Sequence[Mapping[str, Any]]) -> Sent:
    """Send an insert of the rows (each with every column of the statement)."""
    if not rows:
        return Sent(None)
    raw = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        return Sent(raw.executemany(statement.sqlite, rows))  # type: ignore[union-attr]
    arrays = {
        name: [None if row[name] is None else as_type(row[name]) for row in rows]
        for name, as_type in statement.columns
    }
    cursor = raw.cursor()  # type: ignore[union-attr]
    cursor.execute(statement.postgresql, arrays)
    return Sent(cursor)


def send(conn: Connection, statement: Sql, params: Mapping[str, Any]) -> Sent:
    """Send a statement, in the driver connection of SQLAlchemy's current transaction (same BEGIN,
    same COMMIT)."""
    raw = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        # Read at once: a statement not stepped to its end (an UPDATE ... RETURNING whose row was
        # never read) would be "in progress" and stop the transaction from committing.
        cursor = raw.execute(statement.sqlite, params)  # type: ignore[union-attr]
        return Sent(cursor, statement.columns, cursor.fetchall())
    cursor = raw.cursor()  # type: ignore[union-attr]
    cursor.execute(statement.postgresql, params)
    return Sent(cursor, statement.columns)


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
