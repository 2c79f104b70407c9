"""Plain DBAPI execution for the few statements on the token path.

SQLAlchemy Core costs about 20 microseconds per statement on top of the driver; the token path runs
three to five reads per grant (five when the user's policy is not cached) and at most seven writes
per commit group, so these run straight on the driver connection that SQLAlchemy's transaction
already holds. The SQL is written once with `:name`
parameters and translated to the driver's style; everything else in the broker uses Core.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection

_NAMED = re.compile(r"(?<!:):(\w+)")


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


def insert(conn: Connection, statement: Insert, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert the rows (each with every column of the statement); returns how many went in."""
    if not rows:
        return 0
    raw = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        return int(raw.executemany(statement.sqlite, rows).rowcount)  # type: ignore[union-attr]
    arrays = {
        name: [None if row[name] is None else as_type(row[name]) for row in rows]
        for name, as_type in statement.columns
    }
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(statement.postgresql, arrays)
        return int(cursor.rowcount)


def _cursor(conn: Connection, statement: Sql, params: Mapping[str, Any]) -> Any:
    # The driver connection inside SQLAlchemy's current transaction: same BEGIN, same COMMIT.
    raw = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        return raw.execute(statement.sqlite, params)  # type: ignore[union-attr]
    cursor = raw.cursor()  # type: ignore[union-attr]
    cursor.execute(statement.postgresql, params)
    return cursor


def rows(conn: Connection, statement: Sql, params: Mapping[str, Any]) -> list[SimpleNamespace]:
    """All result rows, as objects with the statement's column names as attributes."""
    names = statement.columns
    return [SimpleNamespace(**dict(zip(names, row, strict=True))) for row in _cursor(conn, statement, params)]


def first(conn: Connection, statement: Sql, params: Mapping[str, Any]) -> SimpleNamespace | None:
    """The first result row, or None."""
    row = _cursor(conn, statement, params).fetchone()
    return None if row is None else SimpleNamespace(**dict(zip(statement.columns, row, strict=True)))


def scalar(conn: Connection, statement: Sql, params: Mapping[str, Any]) -> Any:
    """The first column of the first row, or None."""
    row = _cursor(conn, statement, params).fetchone()
    return None if row is None else row[0]


def execute(conn: Connection, statement: Sql, params: Mapping[str, Any]) -> None:
    """Run a statement for its effect."""
    _cursor(conn, statement, params)
