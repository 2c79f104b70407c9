"""Grant-log throughput: appends/s with checkpoints on, proofs/s, offline verification events/s.

Appends go through the real path (`events.append` in a write transaction on SQLite, each its own
transaction, from several threads with their own Store as separate processes would) while the
checkpointer thread signs every N events. Proofs are served from the in-memory tree; verification
reads a JSONL export as `discretion audit verify` does.

    .venv/bin/python benchmarks/audit.py [--events 20000] [--writers 4] [--every 1000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from broker.context import ServiceContext
from broker.grantlog import events
from broker.grantlog.log import AuditLog, Checkpointer
from broker.grantlog.queries import AuditQueries, LogFilter
from broker.grantlog.verify import load_verifiers, verify
from broker.oauth.signing_keys import KeyRing
from broker.settings import Settings
from broker.storage.db import Store

TESSERA = 2900  # appends/s, POSIX backend on a 12-core machine (ANCHORS.md)


def main() -> None:
    """Run the three measurements and print them beside the anchor."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--every", type=int, default=1000, help="checkpoint every N events")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            issuer="https://bench.test",
            checkpoint_every_events=args.every,
            checkpoint_poll_seconds=0.05,
        )
        url = settings.resolved_database_url
        main_store = Store(url)
        main_store.migrate()
        ctx = ServiceContext(main_store, settings, KeyRing(main_store, bytes(32)))
        audit_log = AuditLog(ctx, bytes(32))
        checkpointer = Checkpointer(audit_log, settings.checkpoint_poll_seconds)
        checkpointer.start()
        stores = [Store(url) for _ in range(args.writers)]
        each = args.events // args.writers

        def write(store: Store, n: int) -> None:
            for i in range(each):
                event = events.Event(
                    type=events.EventType.TOKEN_ISSUED,
                    actors=(f"agent-{n}",),
                    subject=f"u_{i % 97}",
                    resource="https://calendar.example/api",
                    scopes_requested=("calendar:read",),
                    scopes_granted=("calendar:read",),
                    decision="allow",
                    reasons=("granted",),
                    jti=f"j{n}-{i}",
                    kid="k1",
                    details={"inputs": {"requester": f"agent-{n}"}},
                )
                with store.write() as conn:
                    events.append(conn, event, now=time.time())

        threads = [threading.Thread(target=write, args=(s, n)) for n, s in enumerate(stores)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        append_s = time.perf_counter() - started
        checkpointer.stop()
        final = audit_log.checkpoint()
        size = int(final["tree_size"])
        signed = len(audit_log.checkpoints(limit=100000))

        started = time.perf_counter()
        proofs = 2000
        for _ in range(proofs):
            audit_log.inclusion_proof(random.randint(1, size), size)
        proof_s = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(proofs // 4):
            first = random.randint(1, size)
            audit_log.consistency_proof(first, size)
        consistency_s = time.perf_counter() - started

        lines = list(AuditQueries(ctx).export_jsonl(LogFilter()))
        keys = load_verifiers(k["verifier_key"] for k in audit_log.verifier_keys())
        started = time.perf_counter()
        report = verify(lines, [final["note"]], keys)
        verify_s = time.perf_counter() - started
        assert report.ok, report.problems

        started = time.perf_counter()
        audit_log.verify_at_start()
        start_s = time.perf_counter() - started
        for store in (*stores, main_store):
            store.dispose()

    total = each * args.writers
    print(f"grant log, SQLite, {args.writers} writer threads, checkpoint every {args.every} events")
    print(f"  appends/s (checkpoints on): {total / append_s:10,.0f}   ({signed} checkpoints signed)")
    print(f"  Tessera POSIX anchor:       {TESSERA:10,}   (12 cores; this machine: 2 cores)")
    print(f"  inclusion proofs/s:         {proofs / proof_s:10,.0f}   (tree of {size} events)")
    print(f"  consistency proofs/s:       {proofs // 4 / consistency_s:10,.0f}")
    print(f"  offline verify events/s:    {size / verify_s:10,.0f}")
    print(f"  start check events/s:       {size / start_s:10,.0f}")


if __name__ == "__main__":
    main()
