"""Store.read_kept: the token path's reads on a connection kept per thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

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
