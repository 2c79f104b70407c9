"""Store.read_kept: the token path's reads on a connection kept per thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, event, text
from sqlalchemy.exc import DBAPIError

from broker.storage import fast
from broker.storage.db import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'kept.db'}")
    yield store
    store.dispose()


def test_one_thread_keeps_one_connection_and_another_thread_gets_its_own(store: Store) -> None:
    with store.read_kept() as first:
        assert first.execute(text("SELECT 1")).scalar_one() == 1
    with store.read_kept() as second:
        assert second is first
    seen = []

    def read_elsewhere() -> None:
        with store.read_kept() as conn:
            seen.append(conn)

    worker = threading.Thread(target=read_elsewhere)
    worker.start()
    worker.join()
    assert seen[0] is not first


def test_a_nested_read_does_not_share_the_kept_connection(store: Store) -> None:
    with store.read_kept() as outer, store.read_kept() as inner:
        assert inner is not outer
        assert inner.execute(text("SELECT 1")).scalar_one() == 1


def test_a_connection_that_failed_is_replaced(store: Store) -> None:
    with store.read_kept() as first:
        pass
    with pytest.raises(DBAPIError), store.read_kept() as conn:
        conn.execute(text("SELECT * FROM no_such_table"))
    assert first.closed
    with store.read_kept() as fresh:
        assert fresh is not first
        assert fresh.execute(text("SELECT 1")).scalar_one() == 1


def test_reads_see_writes_committed_since_the_last_use(store: Store) -> None:
    with store.write() as conn:
        conn.execute(text("CREATE TABLE item (name TEXT)"))
    with store.read_kept() as conn:
        assert conn.execute(text("SELECT count(*) FROM item")).scalar_one() == 0
    with store.write() as conn:
        conn.execute(text("INSERT INTO item VALUES ('a')"))
    with store.read_kept() as conn:
        assert conn.execute(text("SELECT count(*) FROM item")).scalar_one() == 1


def _statements(store: Store) -> list[str]:
    seen: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_a_kept_read_that_reads_nothing_sends_nothing(store: Store) -> None:
    with store.read_kept():
        pass  # the warm token path: every answer came from a cache
    seen = _statements(store)
    with store.read_kept() as conn:
        assert not conn.in_transaction()
    assert seen == []


def test_fast_reads_in_one_kept_read_share_a_snapshot(store: Store) -> None:
    # The token path reads through `fast`, on the driver connection: its first statement must
    # still begin the transaction, or each read would see a different moment.
    with store.write() as conn:
        conn.execute(text("CREATE TABLE item (name TEXT)"))
    count = fast.Sql("SELECT count(*) AS n FROM item", ("n",))
    with store.read_kept() as conn:
        assert fast.scalar(conn, count, {}) == 0
        with store.write() as other:
            other.execute(text("INSERT INTO item VALUES ('a')"))
        assert fast.scalar(conn, count, {}) == 0
    with store.read_kept() as conn:
        assert fast.scalar(conn, count, {}) == 1


def test_a_kept_read_that_fails_ends_its_transaction(store: Store) -> None:
    def fail_after_reading() -> Connection:
        with store.read_kept() as conn:
            conn.execute(text("SELECT 1"))
            raise RuntimeError("the request failed after reading")

    with pytest.raises(RuntimeError):
        fail_after_reading()
    with store.read_kept() as again:
        assert not again.in_transaction()
