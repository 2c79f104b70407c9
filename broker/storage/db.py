"""Engine setup, transactions and migrations for SQLite (embedded) and PostgreSQL (replicas)."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError

from broker.storage import fast

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")
_BACKSTOP_CHECKPOINT_PAGES = 20000
CHECKPOINT_INTERVAL_SECONDS = 0.5
# Settings.sqlite_synchronous to the pragma (a fixed map: the value is formatted into SQL).
_SYNCHRONOUS = {"normal": "NORMAL", "full": "FULL"}


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so that writers can BEGIN IMMEDIATE:
        # that takes the write lock up front, which serializes writers (and the log's sequence)
        # instead of failing late with SQLITE_BUSY on lock upgrade.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={_SYNCHRONOUS[synchronous]}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        # Several broker processes share the file: every write by one resets the others' page
        # caches, and reading pages through a memory map is far cheaper than read() calls.
        cursor.execute("PRAGMA mmap_size=268435456")
        # Checkpoints copy the WAL into the database and fsync it; run inside a commit they hold
        # the write lock (and the writer gate) for milliseconds. The background checkpointer does
        # them instead; this high mark is only a backstop should it stall.
        cursor.execute(f"PRAGMA wal_autocheckpoint={_BACKSTOP_CHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("discretion_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class _WriterGate:
    """Serializes SQLite writers across threads and processes with a blocking file lock.

    SQLite's own busy handler polls with sleeps of up to 100 ms, so two processes contending for
    the write lock see long tail latencies. A blocked flock() wakes as soon as the holder releases
    it, and the write transactions behind it are short.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    def _lock_file(self, flags: int) -> None:
        # Called with the thread lock held; on failure the caller gives the thread lock back.
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, flags)

    def acquire(self) -> None:
        """Block until this thread holds the gate (release it from any thread)."""
        self._thread_lock.acquire()
        try:
            self._lock_file(fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def try_acquire(self) -> bool:
        """Take the gate only if no one holds it (never blocks)."""
        if not self._thread_lock.acquire(blocking=False):
            return False
        try:
            self._lock_file(fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException as exc:
            self._thread_lock.release()
            if isinstance(exc, BlockingIOError):
                return False
            raise
        return True

    def release(self) -> None:
        """Let the next writer in."""
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    @contextmanager
    def hold(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()


class _WalCheckpointer:
    """Copies the WAL back into the SQLite database from a background thread.

    SQLite's own checkpoint runs inside some request's commit every thousand frames, holding the
    write lock while it copies and fsyncs. Here a first pass copies what it can while writers go
    on; a second pass, holding the writer gate, copies the few frames written meanwhile, so the
    checkpoint completes and the next writer restarts the WAL from its start (a checkpoint that
    only races writers never completes, and the WAL, and every read, grow without bound).
    Between checkpoints the same hot pages are rewritten many times; each is copied once.
    """

    def __init__(self, engine: Engine, gate: _WriterGate, interval: float) -> None:
        self._engine = engine
        self._gate = gate
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def checkpoint_once(self) -> None:
        """One checkpoint in two passes (see the class)."""
        with self._engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            with self._gate.hold():
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.checkpoint_once()
            except Exception:  # a failed checkpoint is retried; the backstop remains
                log.warning("WAL checkpoint failed; retrying", exc_info=True)


def _release_if_acquired(gate: _WriterGate, acquiring: asyncio.Future[None]) -> None:
    if not acquiring.cancelled() and acquiring.exception() is None:
        gate.release()


class Store:
    """Owns the engine and hands out read and write transactions."""

    def __init__(self, url: str, *, echo: bool = False, sqlite_synchronous: str = "normal") -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # Whether write_from_loop(pipelined=True) makes a pipeline (PostgreSQL, libpq 14 or newer).
        self.pipelines = not self.is_sqlite and fast.PIPELINE_SUPPORTED
        self._gate: _WriterGate | None = None
        self._checkpointer: _WalCheckpointer | None = None
        # read_kept(): one connection per thread, and whether it is in use.
        self._kept: dict[int, tuple[Connection, list[bool]]] = {}
        if self.is_sqlite:
            path = url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                self._gate = _WriterGate(Path(path + ".writer-lock"))
            self.engine = create_engine(url, echo=echo, pool_size=8, max_overflow=8)
            _configure_sqlite(self.engine, sqlite_synchronous)
        else:
            # No pre-ping (a round trip per checkout, two per token): a connection that the server
            # dropped fails its request (a 503, nothing issued) and SQLAlchemy then invalidates
            # the whole pool, so the next requests reconnect.
            self.engine = create_engine(url, echo=echo, pool_size=10, max_overflow=10)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that may write; commits on success, rolls back on any exception."""
        if self._gate is None:
            with self.engine.connect() as conn:
                conn.execution_options(discretion_write=True)
                with conn.begin():
                    yield conn
            return
        with self.engine.connect() as conn, self._gate.hold():
            conn.execution_options(discretion_write=True)
            with conn.begin():
                yield conn

    @asynccontextmanager
    async def write_from_loop(self, *, pipelined: bool = False) -> AsyncIterator[Connection]:
        """`write()` for a coroutine: the wait for the SQLite writer gate (another process
        writing, a WAL checkpoint) happens on a thread, so that the event loop goes on serving
        meanwhile; the body itself runs on the loop.

        `pipelined`: on PostgreSQL the body's statements and the COMMIT go in one psycopg pipeline,
        so that statements whose results nobody fetches cost no round trip of their own, and a
        statement that fails fails the commit. Only for bodies that read nothing else (a rowcount
        is unknown until the pipeline is read) and that let a statement fail rather than check
        a result (broker/storage/batch.py)."""
        if self._gate is None:
            with self._transaction(pipelined=pipelined) as conn:
                yield conn
            return
        gate = self._gate
        if not gate.try_acquire():  # a thread hop only when someone holds it
            acquiring = asyncio.ensure_future(asyncio.to_thread(gate.acquire))
            try:
                await asyncio.shield(acquiring)
            except asyncio.CancelledError:
                # The thread still gets the gate; hand it straight back rather than hold it forever.
                acquiring.add_done_callback(lambda done: _release_if_acquired(gate, done))
                raise
        try:
            with self._transaction() as conn:
                yield conn
        finally:
            gate.release()

    @contextmanager
    def _transaction(self, *, pipelined: bool = False) -> Iterator[Connection]:
        # A write transaction on a fresh connection; see write_from_loop for `pipelined`.
        with self.engine.connect() as conn:
            conn.execution_options(discretion_write=True)
            with fast.pipeline(conn) if pipelined else nullcontext(), conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (on SQLite one snapshot for all its statements; PostgreSQL at
        READ COMMITTED gives each statement its own snapshot anyway, so its reads run without
        BEGIN and COMMIT, two round trips fewer)."""
        with self.engine.connect() as conn:
            if not self.is_sqlite:
                conn.execution_options(isolation_level="AUTOCOMMIT")
            with conn.begin():
                yield conn

    @contextmanager
    def read_kept(self) -> Iterator[Connection]:
        """`read()` on a connection kept for the calling thread (the token path on the event
        loop): a pool checkout per request, and on PostgreSQL switching to autocommit and back,
        cost more than the reads themselves. A connection that failed is dropped, so the next
        call connects afresh (and fails closed while the database is away).

        The transaction begins with the first statement, not here: with the token path's caches
        warm most requests read nothing, and a BEGIN and COMMIT each through SQLAlchemy cost
        them about 20 us on SQLite (statements through `fast` begin it too, so every read of one
        call still shares one snapshot there)."""
        thread = threading.get_ident()
        kept = self._kept.get(thread)
        if kept is not None and (kept[0].closed or kept[0].invalidated):
            kept = None
        if kept is not None and kept[1][0]:  # re-entered: this one is busy
            with self.read() as conn:
                yield conn
            return
        if kept is None:
            conn = self.engine.connect()
            if not self.is_sqlite:
                conn.execution_options(isolation_level="AUTOCOMMIT")
            kept = self._kept[thread] = (conn, [False])
        conn, busy = kept
        busy[0] = True
        try:
            yield conn
            if conn.in_transaction():
                conn.commit()
        except DBAPIError:
            del self._kept[thread]
            conn.close()
            raise
        except BaseException:
            if conn.in_transaction():
                conn.rollback()
            raise
        finally:
            busy[0] = False

    def ping(self) -> None:
        """Run a trivial statement; raises StoreUnavailable (DBAPIError) when the store does not answer."""
        with self.read() as conn:
            conn.execute(text("SELECT 1"))

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.connect() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def start_maintenance(self, interval: float = CHECKPOINT_INTERVAL_SECONDS) -> None:
        """Start the background WAL checkpoints of a long-running SQLite process (no-op otherwise)."""
        if self._gate is not None and self._checkpointer is None:
            self._checkpointer = _WalCheckpointer(self.engine, self._gate, interval)
            self._checkpointer.start()

    def dispose(self) -> None:
        """Stop background work and close every pooled connection."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        for conn, _ in self._kept.values():
            conn.close()
        self._kept.clear()
        self.engine.dispose()
