"""Group commit: the token path's short write transactions, several to one commit.

Each token request ends in a small write (spend the assertion, append the log record, store the
token). Committed one by one, every request pays a full commit: on SQLite some twenty WAL frames
and the writer gate, on PostgreSQL a WAL flush. Instead, the jobs queued on an event loop are
written together by one flusher task, in one transaction. Before it writes, the flusher lets the
loop run until a couple of rounds add no job, so requests read meanwhile join the group; while
it waits for SQLite's writer gate the loop goes on deciding and signing the next requests, whose
jobs join the batch too.

Every job's outcome is the one it would have had alone: if any job of a batch fails (a replayed
assertion, a decision gone stale, a database error) or the commit does, the whole transaction is
rolled back and each job is run again in its own. A job's caller hears its result only after its
commit, so no token is issued without its record.

A job may also offer `run_together(conn, jobs)`, a static method that does what running a run of
consecutive jobs of its kind one after another would do, in a fixed number of statements (each
statement is a round trip on PostgreSQL), and raises if any of them would fail; the batch then
falls back to one transaction per job as above. If its kind also sets `together_in_pipeline`
(its statements fail by themselves rather than be checked by reading them), a batch that is one
run of that kind is written in one PostgreSQL pipeline with its COMMIT: a statement nobody reads
costs no round trip of its own, and one that fails fails the commit.

The jobs run on the event loop, not on a writer thread: a second thread contending for the GIL
with the loop stalls at every statement (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection

from broker.storage.db import Store

T = TypeVar("T")
MAX_BATCH = 64
# Loop rounds without a new job before a group is written: a request read in one round is
# decided (and queued) in the next.
_QUIET_ROUNDS = 2

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
                await self._gather(queue)
                batch: list[Queued] | None = None
                pipelined = self._store.pipelines and _one_pipelined_run(
                    [job for job, _ in queue[: self._max_batch]]
                )
                try:
                    async with self._store.write_from_loop(pipelined=pipelined) as conn:
                        # Taken once the gate is held: what queued while waiting joins this batch.
                        batch = _live(self._take(queue))
                        jobs = [job for job, _ in batch]
                        if pipelined and not _one_pipelined_run(jobs):
                            # Never: PostgreSQL has no gate to wait for, so nothing can join. But
                            # a job that reads a rowcount must not run in a pipeline.
                            raise RuntimeError("the batch changed while waiting")
                        results = _run_jobs(conn, jobs)
                except Exception as exc:
                    if batch is None:  # no transaction at all: the next jobs fail with it
                        _fail(self._take(queue), exc)
                        continue
                    # A job (or the commit) failed and the whole batch was rolled back: run each
                    # job alone, so that it fails alone. Failures are rare (a replay, a decision
                    # gone stale), so the common batch needs no savepoint per job.
                    await self._one_by_one(batch)
                    continue
                # Committed: only now does any caller learn its outcome.
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            del self._queues[loop]
            # Only a cancelled flusher (the loop shutting down) leaves jobs behind: fail them
            # rather than leave their callers waiting on a queue that nobody will flush.
            _fail(queue, RuntimeError("the write batcher stopped"))

    async def _gather(self, queue: list[Queued]) -> None:
        # Let the loop run until it has nothing more to add, so requests already read join this
        # group: a commit costs mostly per group, so bigger groups are cheaper per grant
        # (docs/benchmarks.md). It never waits on a timer: an idle loop flushes at once.
        quiet = 0
        while quiet < _QUIET_ROUNDS and len(queue) < self._max_batch:
            before = len(queue)
            await asyncio.sleep(0)
            quiet = quiet + 1 if len(queue) == before else 0

    async def _one_by_one(self, batch: list[Queued]) -> None:
        for job, future in _live(batch):
            try:
                async with self._store.write_from_loop() as conn:
                    result = job(conn)
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(result)

    def _take(self, queue: list[Queued]) -> list[Queued]:
        batch = queue[: self._max_batch]
        del queue[: self._max_batch]
        return batch


def _run_jobs(conn: Connection, jobs: list[Job]) -> list[Any]:
    """Every job's result, in order; consecutive jobs with the same `run_together` run through it."""
    results: list[Any] = []
    start = 0
    while start < len(jobs):
        together = getattr(jobs[start], "run_together", None)
        end = start + 1
        if together is None:
            results.append(jobs[start](conn))
        else:
            while end < len(jobs) and getattr(jobs[end], "run_together", None) == together:
                end += 1
            results.extend(together(conn, jobs[start:end]))
        start = end
    return results


def _one_pipelined_run(jobs: Sequence[Job]) -> bool:
    """Whether the jobs are one run of a kind that may be written in one pipeline with its
    COMMIT (`together_in_pipeline`)."""
    kinds = {type(job) for job in jobs}
    return len(kinds) == 1 and bool(getattr(kinds.pop(), "together_in_pipeline", False))


def _live(batch: list[Queued]) -> list[Queued]:
    # A caller that went away (its request was cancelled) gets nothing written: no token that
    # nobody receives, and its assertion stays unspent.
    return [(job, future) for job, future in batch if not future.done()]


def _fail(batch: list[Queued], exc: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
