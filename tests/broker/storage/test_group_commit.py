"""Group commit (broker/storage/batch.py): jobs share a transaction, every job's outcome is the one
it would have had alone, and nobody hears an outcome before the commit."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from broker.storage.batch import WriteBatcher
from broker.storage.db import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'batch.db'}")
    with store.write() as conn:
        conn.exec_driver_sql("CREATE TABLE item (name TEXT PRIMARY KEY)")
        conn.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        # Checked at COMMIT, not per statement: lets a test make the commit itself fail.
        conn.exec_driver_sql(
            "CREATE TABLE child (parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
        )
    return store


class HeldGate:
    """The writer gate's lock file held as another process's writer would hold it."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


@pytest.fixture
def held_gate(tmp_path: Path) -> Iterator[HeldGate]:
    gate = HeldGate(tmp_path / "batch.db.writer-lock")
    yield gate
    gate.close()


def _names(store: Store) -> set[str]:
    with store.read() as conn:
        return {row[0] for row in conn.execute(text("SELECT name FROM item"))}


def _insert(name: str):  # type: ignore[no-untyped-def]
    def job(conn: Connection) -> Connection:
        conn.execute(text("INSERT INTO item (name) VALUES (:name)"), {"name": name})
        return conn

    return job


class Refused(Exception):
    """A job's own failure."""


def _insert_then_fail(name: str):  # type: ignore[no-untyped-def]
    def job(conn: Connection) -> None:
        conn.execute(text("INSERT INTO item (name) VALUES (:name)"), {"name": name})
        raise Refused(name)

    return job


def test_jobs_ready_together_share_one_transaction(store: Store) -> None:
    batcher = WriteBatcher(store)

    async def scenario() -> list[Connection]:
        return await asyncio.gather(*(batcher.run(_insert(f"n{i}")) for i in range(5)))

    connections = asyncio.run(scenario())
    assert len({id(conn) for conn in connections}) == 1
    assert _names(store) == {f"n{i}" for i in range(5)}


def test_jobs_decided_over_the_next_loop_rounds_join_the_group(store: Store) -> None:
    # A request read while the group gathers is decided a round or two later; it rides along
    # rather than paying for its own commit.
    batcher = WriteBatcher(store)

    async def after_rounds(rounds: int, name: str) -> Connection:
        for _ in range(rounds):
            await asyncio.sleep(0)
        return await batcher.run(_insert(name))

    async def scenario() -> list[Connection]:
        return await asyncio.gather(*(after_rounds(i, f"n{i}") for i in range(4)))

    connections = asyncio.run(scenario())
    assert len({id(conn) for conn in connections}) == 1
    assert _names(store) == {f"n{i}" for i in range(4)}


def test_a_job_after_a_quiet_loop_does_not_wait_for_company(store: Store) -> None:
    batcher = WriteBatcher(store)

    async def scenario() -> tuple[Connection, Connection, float]:
        first = await batcher.run(_insert("early"))
        loop = asyncio.get_running_loop()
        started = loop.time()
        second = await batcher.run(_insert("late"))
        return first, second, loop.time() - started

    first, second, waited = asyncio.run(scenario())
    assert first is not second
    assert waited < 0.5  # a few loop rounds, never a timer
    assert _names(store) == {"early", "late"}


def test_a_failing_job_is_rolled_back_alone(store: Store) -> None:
    batcher = WriteBatcher(store)

    async def scenario() -> list[object]:
        return await asyncio.gather(
            batcher.run(_insert("a")),
            batcher.run(_insert_then_fail("b")),
            batcher.run(_insert("c")),
            return_exceptions=True,
        )

    first, second, third = asyncio.run(scenario())
    assert isinstance(second, Refused)
    assert isinstance(first, Connection)
    assert isinstance(third, Connection)
    assert _names(store) == {"a", "c"}


def test_a_duplicate_within_one_batch_fails_only_the_second(store: Store) -> None:
    # How a replayed client assertion in the same batch is caught: the second insert sees the first.
    batcher = WriteBatcher(store)

    async def scenario() -> list[object]:
        return await asyncio.gather(
            batcher.run(_insert("x")), batcher.run(_insert("x")), return_exceptions=True
        )

    first, second = asyncio.run(scenario())
    assert isinstance(first, Connection)
    assert isinstance(second, Exception)
    assert _names(store) == {"x"}


def test_a_job_that_breaks_the_commit_fails_alone(store: Store) -> None:
    batcher = WriteBatcher(store)

    def orphan(conn: Connection) -> None:
        conn.execute(text("INSERT INTO child (parent_id) VALUES (42)"))  # fails only at COMMIT

    async def scenario() -> list[object]:
        return await asyncio.gather(batcher.run(_insert("a")), batcher.run(orphan), return_exceptions=True)

    written, broken = asyncio.run(scenario())
    assert isinstance(written, Connection)
    assert isinstance(broken, Exception)
    assert _names(store) == {"a"}
    with store.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM child")).scalar_one() == 0


def test_a_store_that_cannot_write_fails_every_job(store: Store) -> None:
    batcher = WriteBatcher(store)
    with store.write() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER no_writes BEFORE INSERT ON item BEGIN SELECT RAISE(ABORT, 'read-only'); END"
        )

    async def scenario() -> list[object]:
        return await asyncio.gather(
            *(batcher.run(_insert(f"n{i}")) for i in range(3)), return_exceptions=True
        )

    assert all(isinstance(outcome, Exception) for outcome in asyncio.run(scenario()))
    assert _names(store) == set()


def test_a_lone_failing_job_writes_nothing(store: Store) -> None:
    batcher = WriteBatcher(store)
    with pytest.raises(Refused):
        asyncio.run(batcher.run(_insert_then_fail("solo")))
    assert _names(store) == set()


def test_a_cancelled_caller_gets_nothing_written(store: Store, held_gate: HeldGate) -> None:
    batcher = WriteBatcher(store)
    # Another process's writer holds the gate, so the batch waits while the caller gives up.

    async def scenario() -> None:
        caller = asyncio.create_task(batcher.run(_insert("late")))
        await asyncio.sleep(0.05)
        caller.cancel()
        held_gate.release()
        with pytest.raises(asyncio.CancelledError):
            await caller
        await batcher.run(_insert("next"))  # the batcher goes on serving

    asyncio.run(scenario())
    assert _names(store) == {"next"}


def test_the_event_loop_runs_while_the_batch_waits_for_the_gate(store: Store, held_gate: HeldGate) -> None:
    batcher = WriteBatcher(store)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def scenario() -> None:
        beat = asyncio.create_task(ticker())
        write = asyncio.create_task(batcher.run(_insert("waited")))
        await asyncio.sleep(0.2)
        assert not write.done()
        held_gate.release()
        await write
        beat.cancel()

    asyncio.run(scenario())
    assert ticks >= 5  # about 20 when the loop runs; 1 if it were blocked on the lock
    assert _names(store) == {"waited"}


def test_jobs_left_by_a_cancelled_flusher_fail_instead_of_hanging(store: Store, held_gate: HeldGate) -> None:
    batcher = WriteBatcher(store)

    async def scenario() -> None:
        caller = asyncio.ensure_future(batcher.run(_insert("stuck")))
        await asyncio.sleep(0.05)
        flushers = [
            task for task in asyncio.all_tasks() if task is not asyncio.current_task() and task is not caller
        ]
        for task in flushers:
            task.cancel()
        held_gate.release()
        with pytest.raises(RuntimeError, match="stopped"):
            await asyncio.wait_for(caller, timeout=5)

    asyncio.run(scenario())
    assert _names(store) == set()
