"""Group commit: the token path's short write transactions, several to one commit.

Each token request ends in a small write (spend the assertion, append the log record, store the
token). Committed one by one, every request pays a full commit: on SQLite some twenty WAL frames
and the writer gate, on PostgreSQL a WAL flush. Instead, the jobs queued on an event loop are
written together by one flusher task, in one transaction, each inside its own savepoint: a job
that fails (a replayed assertion, a decision gone stale) is rolled back alone and the others
commit. While the flusher waits for SQLite's writer gate the loop goes on deciding and signing
the next requests, whose jobs join the batch. A job's caller hears its result only after the
commit: if the transaction cannot commit, every job in it fails and nothing they wrote exists, so
no token is issued without its record.

The jobs run on the event loop, not on a writer thread: a second thread contending for the GIL
with the loop stalls at every statement (measured: 830 against 1,500 grants/s).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection

from broker.storage import fast
from broker.storage.db import Store

T = TypeVar("T")
MAX_BATCH = 64

_SAVEPOINT = fast.Sql("SAVEPOINT job")
_RELEASE = fast.Sql("RELEASE SAVEPOINT job")
_ROLLBACK_TO = fast.Sql("ROLLBACK TO SAVEPOINT job")

Job = Callable[[Connection], Any]
Queued = tuple[Job, "asyncio.Future[Any]"]


class WriteBatcher:
    """Runs write jobs from the coroutines of an event loop in shared transactions."""

    def __init__(self, store: Store, max_batch: int = MAX_BATCH) -> None:
        self._store = store
        self._max_batch = max_batch
        # Queued jobs per event loop (tests run apps on several loops in one process); a loop
        # has a queue exactly while its flusher task runs.
        self._queues: dict[asyncio.AbstractEventLoop, list[Queued]] = {}
        self._flushers: set[asyncio.Task[None]] = set()

    async def run(self, job: Callable[[Connection], T]) -> T:
        """Run `job(conn)` in a write transaction shared with the other jobs queued meanwhile;
        returns its result once that transaction has committed, or raises what the job (or the
        commit) raised."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = []
            flusher = loop.create_task(self._flush(loop, queue))
            self._flushers.add(flusher)
            flusher.add_done_callback(self._flushers.discard)
        queue.append((job, future))
        return await future

    async def _flush(self, loop: asyncio.AbstractEventLoop, queue: list[Queued]) -> None:
        try:
            while queue:
                batch: list[Queued] = []
                try:
                    async with self._store.write_from_loop() as conn:
                        # Taken once the gate is held: what queued while waiting joins this batch.
                        batch = self._take(queue)
                        outcomes = _write(conn, batch)
                except Exception as exc:  # no transaction, or no commit: nothing was written
                    _fail(batch or self._take(queue), exc)
                    continue
                # Committed: only now does any caller learn its outcome.
                _settle(batch, outcomes)
        finally:
            del self._queues[loop]

    def _take(self, queue: list[Queued]) -> list[Queued]:
        batch = queue[: self._max_batch]
        del queue[: self._max_batch]
        return batch


def _write(conn: Connection, batch: list[Queued]) -> list[tuple[bool, Any]]:
    if len(batch) == 1:
        # Alone in its transaction a job needs no savepoint: its failure rolls the whole back.
        job, future = batch[0]
        return [(False, None) if future.done() else (True, job(conn))]
    outcomes = []
    for job, future in batch:
        # A caller that went away (its request was cancelled) gets nothing written: no token
        # that nobody receives, and its assertion stays unspent.
        outcomes.append((False, None) if future.done() else _run_in_savepoint(conn, job))
    return outcomes


def _run_in_savepoint(conn: Connection, job: Job) -> tuple[bool, Any]:
    fast.execute(conn, _SAVEPOINT, {})
    try:
        result = job(conn)
    except Exception as exc:  # the job's own failure: undo its writes only
        fast.execute(conn, _ROLLBACK_TO, {})
        fast.execute(conn, _RELEASE, {})
        return False, exc
    fast.execute(conn, _RELEASE, {})
    return True, result


def _settle(batch: list[Queued], outcomes: list[tuple[bool, Any]]) -> None:
    for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _fail(batch: list[Queued], exc: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
