"""Plain driver statements (broker/storage/fast.py): sent alone or in a pipeline, on both stores."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from broker.storage import fast
from broker.storage.db import Store
from broker.storage.schema import log_head
from tests.conftest import World

_ADVANCE = fast.Sql("UPDATE log_head SET size = size + :count WHERE id = 1 RETURNING size", ("size",))
_SIZE = fast.Sql("SELECT size FROM log_head WHERE id = 1", ("size",))


def _store(world: World) -> Store:
    return world.client.app.state.ctx.store  # type: ignore[attr-defined,no-any-return]


def _size(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(select(log_head.c.size)).scalar_one())


def test_statements_of_a_pipeline_run_in_order_and_are_read_after_it(world: World) -> None:
    store = _store(world)
    start = _size(store)
    with store.write() as conn:
        with fast.pipeline(conn):
            first = fast.send(conn, _ADVANCE, {"count": 2})
            second = fast.send(conn, _ADVANCE, {"count": 3})
            seen = fast.send(conn, _SIZE, {})
        assert (first.scalar(), second.scalar()) == (start + 2, start + 5)
        assert [row.size for row in seen.all()] == [start + 5]
        assert seen.first() is not None
    assert _size(store) == start + 5


def test_a_returned_row_left_unread_does_not_stop_the_commit(world: World) -> None:
    # On SQLite a statement not stepped to its end is "in progress" and COMMIT refuses to run.
    store = _store(world)
    start = _size(store)
    with store.write() as conn:
        unread = fast.send(conn, _ADVANCE, {"count": 1})
        with fast.pipeline(conn):
            fast.send(conn, _ADVANCE, {"count": 1})
    assert _size(store) == start + 2
    del unread


def test_an_insert_of_no_rows_sends_nothing_and_counts_none(world: World) -> None:
    store = _store(world)
    terms = fast.Insert("grant_log_terms", {"term": "text", "seq": "int8"})
    with store.write() as conn, fast.pipeline(conn):
        nothing = fast.send_insert(conn, terms, [])
    assert (nothing.count(), nothing.all(), nothing.first(), nothing.scalar()) == (0, [], None, None)


def test_a_statement_the_database_refuses_raises_sqlalchemys_error(world: World) -> None:
    # The API maps DBAPIError to 503; a raw driver error would be a 500.
    store = _store(world)
    missing = fast.Sql("SELECT size FROM no_such_table", ("size",))
    with pytest.raises(DBAPIError), store.write() as conn:
        fast.send(conn, missing, {})
    with pytest.raises(DBAPIError), store.write() as conn, fast.pipeline(conn):
        fast.send(conn, missing, {})
