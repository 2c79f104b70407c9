"""Many writers at once still give one linear log: contiguous sequence numbers and a valid tree.

Runs on SQLite, and on PostgreSQL when DISCRETION_TEST_POSTGRES_URL is set (the settings fixture)."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from broker import audit
from broker.keys import KeyRing
from broker.services.audit_log import AuditLog
from broker.services.context import ServiceContext
from broker.settings import Settings
from broker.storage.db import Store
from broker.storage.schema import grant_log

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
                    seq = audit.append(
                        conn,
                        audit.Event(type=audit.EventType.GRANT_CREATED, actors=(f"w{n}",), details={"i": i}),
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
