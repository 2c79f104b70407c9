"""Plain DBAPI execution for the few statements on the token path.

SQLAlchemy Core costs about 20 microseconds per statement on top of the driver; the token path runs
eleven statements per grant, so these run straight on the driver connection that SQLAlchemy's
transaction already holds. The SQL is written once with `:name` parameters and translated to the
driver's style; everything else in the broker uses Core.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
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


def execute_many(conn: Connection, statement: Sql, params: Iterable[Mapping[str, Any]]) -> int:
    """Run a statement once per parameter set; returns the number of rows it changed in all."""
    batch = list(params)
    if not batch:
        return 0
    raw = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        return int(raw.executemany(statement.sqlite, batch).rowcount)  # type: ignore[union-attr]
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        if len(batch) == 1:  # psycopg's executemany enters pipeline mode, a round trip's worth of work
            cursor.execute(statement.postgresql, batch[0])
        else:
            cursor.executemany(statement.postgresql, batch)
        return int(cursor.rowcount)
