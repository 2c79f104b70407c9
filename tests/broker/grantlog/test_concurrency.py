"""Many writers at once still give one linear log: contiguous sequence numbers and a valid tree.

Runs on SQLite, and on PostgreSQL when DISCRETION_TEST_POSTGRES_URL is set (the settings fixture)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from broker.context import ServiceContext
from broker.grantlog import events
from broker.grantlog.log import AuditLog
from broker.oauth.signing_keys import KeyRing
from broker.settings import Settings
from broker.storage.db import Store
from broker.storage.schema import grant_log
from tests.conftest import POSTGRES_URL

WRITERS, EACH = 8, 25


def test_parallel_writers_give_contiguous_seqs_and_a_valid_tree(settings: Settings) -> None:
    # One Store per writer, as separate broker processes would have (own pools, own lock fds).
    stores = [Store(settings.resolved_database_url) for _ in range(WRITERS)]
    start, errors, got = threading.Barrier(WRITERS), [], []

    def write(store: Store, n: int) -> None:
        try:
            start.wait()
            for i in range(EACH):
                with store.write() as conn:
                    seq = events.append(
                        conn,
                        events.Event(
                            type=events.EventType.GRANT_CREATED, actors=(f"w{n}",), details={"i": i}
                        ),
                        now=time.time(),
                    )
                got.append(seq)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, n)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with stores[0].read() as conn:
        seqs = conn.execute(select(grant_log.c.seq).order_by(grant_log.c.seq)).scalars().all()
    assert seqs == list(range(1, len(seqs) + 1))
    assert sorted(got) == sorted(set(got))
    assert len(got) == WRITERS * EACH
    ctx = ServiceContext(stores[0], settings, KeyRing(stores[0], bytes(32)))
    audit_log = AuditLog(ctx, bytes(32))
    assert audit_log.verify_at_start() == len(seqs)
    audit_log.checkpoint()
    assert audit_log.verify_at_start() == len(seqs)
    for store in stores:
        store.dispose()


@pytest.mark.skipif(POSTGRES_URL is None, reason="SQLite's writer gate serializes checkpoint writes")
def test_two_replicas_signing_the_same_size_both_succeed(settings: Settings) -> None:
    """Replica B looks for a checkpoint of the log's size, finds none, and before it inserts its
    own, replica A commits one of that size: B returns A's instead of failing its round."""
    stores = [Store(settings.resolved_database_url) for _ in range(2)]
    logs = [AuditLog(ServiceContext(s, settings, KeyRing(s, bytes(32))), bytes(32)) for s in stores]
    with stores[0].write() as conn:
        events.append(conn, events.Event(type=events.EventType.GRANT_CREATED, actors=("a",)), now=time.time())
    first, second = logs
    real_current = second._keys.current
    raced: list[dict[str, object]] = []

    def current_after_the_other_replica(conn: object, *, now: float) -> object:
        if not raced:
            raced.append(first.checkpoint())  # commits while B's transaction is open
        return real_current(conn, now=now)  # type: ignore[arg-type]

    second._keys.current = current_after_the_other_replica  # type: ignore[method-assign]
    signed = second.checkpoint()
    assert raced
    assert signed["tree_size"] == raced[0]["tree_size"] == 1
    assert signed["root_hash"] == raced[0]["root_hash"]
    for store in stores:
        store.dispose()
