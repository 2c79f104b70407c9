"""The grant log as a verifiable log: the Merkle tree, signed checkpoints, proofs and the start check.

Each process keeps the tree's node hashes in memory and catches up from the store's leaf hashes
(only the rows it has not seen), so a proof costs O(log n) node reads and no log scan. Checkpoints
are signed by whichever process notices that one is due (every N events or T seconds) or on demand;
one row per tree size, so two processes racing to sign the same size write it once.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from broker.context import ServiceContext
from broker.errors import NotFound, Unprocessable
from broker.grantlog.checkpoint_keys import CheckpointKeys, all_verifiers, verifiers_by_id
from broker.grantlog.checkpoints import Checkpoint, NoteError, verify_checkpoint
from broker.grantlog.events import canonical_json
from broker.grantlog.merkle import MerkleTree, hash_leaf
from broker.periodic import PeriodicThread
from broker.storage import Connection
from broker.storage import grant_log as store
from broker.storage.grant_log import CheckpointExists

log = logging.getLogger(__name__)
_SYNC_BATCH = 50_000


class LogIntegrityError(RuntimeError):
    """The stored log does not match what the broker signed: the broker must not serve it."""


def default_origin(issuer: str) -> str:
    """The checkpoint origin: the issuer without its scheme, plus /grant-log (C2SP wants no scheme)."""
    parts = urlsplit(issuer)
    return f"{parts.netloc}{parts.path}/grant-log"


def _checkpoint_json(row: Any) -> dict[str, Any]:
    return {
        "tree_size": row.tree_size,
        "root_hash": row.root_hash,
        "time_ms": int(row.ts * 1000),
        "key_id": row.key_id,
        "note": row.note,
    }


class AuditLog:
    """The Merkle view of the grant log and its checkpoints, for one broker process."""

    def __init__(self, ctx: ServiceContext, kek: bytes) -> None:
        self._ctx = ctx
        settings = ctx.settings
        self.origin = settings.checkpoint_origin or default_origin(settings.issuer)
        self._keys = CheckpointKeys(kek, self.origin.replace("/", "-"))
        self._tree = MerkleTree()
        self._lock = threading.Lock()

    # -- the tree ---------------------------------------------------------------------------

    def _sync(self, conn: Connection) -> MerkleTree:
        """Append the leaf hashes committed since the last call; returns the tree (lock held)."""
        tree = self._tree
        while True:
            rows = store.leaves_after(conn, tree.size, _SYNC_BATCH)
            expected = tree.size + 1
            for seq, leaf_hash in rows:
                if seq != expected:
                    raise LogIntegrityError(f"grant log has a gap: event {expected} is missing")
                tree.append(bytes.fromhex(leaf_hash))
                expected += 1
            if len(rows) < _SYNC_BATCH:
                return tree

    def tree_size(self) -> int:
        """The number of committed events this process has folded into its tree."""
        with self._lock, self._ctx.store.read() as conn:
            return self._sync(conn).size

    def inclusion_proof(self, seq: int, tree_size: int | None = None) -> dict[str, Any]:
        """The audit path of event `seq` to the root of `tree_size` (default: latest checkpoint)."""
        if tree_size is None:
            latest = self.latest_checkpoint()
            if latest is None:
                raise NotFound("no checkpoint yet")
            tree_size = int(latest["tree_size"])
        with self._lock, self._ctx.store.read() as conn:
            tree = self._sync(conn)
            if not 1 <= seq <= tree_size <= tree.size:
                raise Unprocessable(f"need 1 <= seq <= tree_size <= {tree.size}")
            path = tree.inclusion_proof(seq - 1, tree_size)
            leaf, root = tree.levels[0][seq - 1], tree.root(tree_size)
        return {
            "seq": seq,
            "leaf_index": seq - 1,
            "tree_size": tree_size,
            "leaf_hash": leaf.hex(),
            "root_hash": root.hex(),
            "path": [p.hex() for p in path],
        }

    def consistency_proof(self, first: int, second: int) -> dict[str, Any]:
        """Proof that the tree of `first` events is a prefix of the tree of `second`."""
        with self._lock, self._ctx.store.read() as conn:
            tree = self._sync(conn)
            if not 1 <= first <= second <= tree.size:
                raise Unprocessable(f"need 1 <= first <= second <= {tree.size}")
            path = tree.consistency_proof(first, second)
            roots = tree.root(first), tree.root(second)
        return {
            "first": first,
            "second": second,
            "first_root": roots[0].hex(),
            "second_root": roots[1].hex(),
            "path": [p.hex() for p in path],
        }

    # -- checkpoints ------------------------------------------------------------------------

    def checkpoint(self) -> dict[str, Any]:
        """Sign a checkpoint of the whole committed log now (or return the one of that size)."""
        with self._lock:
            # Fold the committed leaves in on a read snapshot first, so the write transaction
            # (and the writer gate every token request waits on) stays short.
            with self._ctx.store.read() as conn:
                self._sync(conn)
            try:
                return self._sign_checkpoint()
            except CheckpointExists:
                # PostgreSQL only: another replica inserted a checkpoint of this very size after
                # the lookup below. Same log, same root: the second try finds and returns it.
                log.info("grant log checkpoint: another replica signed this size first")
                return self._sign_checkpoint()

    def _sign_checkpoint(self) -> dict[str, Any]:
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            tree = self._sync(conn)  # the few events committed since the read above
            existing = store.checkpoint_of_size(conn, tree.size)
            if existing is not None:
                return _checkpoint_json(existing)
            key_id, signer = self._keys.current(conn, now=now)
            body = Checkpoint(self.origin, tree.size, tree.root(), int(now * 1000))
            row = {
                "tree_size": tree.size,
                "root_hash": tree.root().hex(),
                "ts": now,
                "key_id": key_id,
                "note": signer.sign(body.body()),
            }
            store.insert_checkpoint(conn, row)
        log.info("grant log checkpoint: size=%d root=%s key=%s", row["tree_size"], row["root_hash"], key_id)
        return _checkpoint_json(_Row(**row))

    def checkpoint_if_due(self) -> dict[str, Any] | None:
        """Checkpoint when N events or T seconds (with new events) have passed since the last one."""
        settings = self._ctx.settings
        with self._ctx.store.read() as conn:
            size = store.head_size(conn)
            last_size, last_ts = store.last_checkpoint_mark(conn)
        if size == last_size:
            return None
        by_count = size - last_size >= settings.checkpoint_every_events
        interval = settings.checkpoint_every_seconds
        by_time = interval > 0 and self._ctx.clock() - last_ts >= interval
        return self.checkpoint() if by_count or by_time else None

    def latest_checkpoint(self) -> dict[str, Any] | None:
        """The newest signed checkpoint."""
        with self._ctx.store.read() as conn:
            row = store.latest_checkpoint(conn)
        return None if row is None else _checkpoint_json(row)

    def checkpoints(self, *, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Signed checkpoints with tree size above `after`, oldest first."""
        with self._ctx.store.read() as conn:
            rows = store.checkpoints_after(conn, after, limit)
        return [_checkpoint_json(row) for row in rows]

    def verifier_keys(self) -> list[dict[str, Any]]:
        """Every checkpoint verifier key, live and retired."""
        with self._ctx.store.read() as conn:
            return all_verifiers(conn)

    def rotate_key(self) -> str:
        """Retire the checkpoint key and create a new one (old checkpoints keep verifying)."""
        with self._ctx.store.write() as conn:
            return self._keys.rotate(conn, now=self._ctx.clock())

    # -- the start check --------------------------------------------------------------------

    def verify_at_start(self) -> int:
        """Recompute every leaf and the tree from the stored events and check every signed
        checkpoint against it; raises LogIntegrityError saying what is wrong. Returns the size."""
        # Trillian treats a root mismatch at start as a corrupt log; so do we: serving proofs
        # from a tree that no longer matches what was signed would mislead every auditor.
        tree = MerkleTree()
        with self._ctx.store.read() as conn:
            head = store.head_size(conn)
            for seq, event, stored in iter_rows(conn):
                if seq != tree.size + 1:
                    raise LogIntegrityError(f"event {tree.size + 1} is missing (next stored is {seq})")
                data = event.encode()
                leaf = hash_leaf(data)
                if leaf.hex() != stored:
                    raise LogIntegrityError(f"event {seq} does not match its stored leaf hash")
                body = json.loads(data)
                if body.get("seq") != seq or canonical_json(body) != data:
                    raise LogIntegrityError(f"event {seq} is not the canonical event for its position")
                tree.append(leaf)
            if head != tree.size:
                raise LogIntegrityError(f"log head says {head} events, the log holds {tree.size}")
            verifiers = verifiers_by_id(conn)
            rows = store.all_checkpoints(conn)
        for row in rows:
            verifier = verifiers.get(row.key_id)
            if verifier is None:
                raise LogIntegrityError(f"checkpoint {row.tree_size} names an unknown key {row.key_id}")
            try:
                signed = verify_checkpoint(row.note, [verifier], origin=self.origin)
            except NoteError as exc:
                raise LogIntegrityError(f"checkpoint {row.tree_size}: {exc}") from exc
            if signed.size > tree.size:
                raise LogIntegrityError(
                    f"log truncated: checkpoint {signed.size} is signed, the log holds {tree.size}"
                )
            if tree.root(signed.size) != signed.root:
                raise LogIntegrityError(
                    f"root mismatch at tree size {signed.size}: the stored events are not the ones "
                    "that were signed (modified, reordered or replaced)"
                )
        with self._lock:
            self._tree = tree
        return tree.size


class _Row:
    """Attribute access over a dict, to share _checkpoint_json with database rows."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def iter_rows(conn: Connection, *, after: int = 0) -> Iterator[tuple[int, str, str]]:
    """Every stored event from `after`, in batches: (seq, event text, stored leaf hash)."""
    return store.iter_rows(conn, after=after, batch=_SYNC_BATCH)


class Checkpointer(PeriodicThread):
    """Signs a checkpoint whenever one is due, polling every `poll_seconds` (0: only on demand)."""

    def __init__(self, audit_log: AuditLog, poll_seconds: float) -> None:
        super().__init__("grant-log-checkpointer", poll_seconds, audit_log.checkpoint_if_due)
