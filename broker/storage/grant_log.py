"""The grant log's tables: events and their query terms, the log head, signed checkpoints.

The grant log subsystem (broker/grantlog/) builds every row; this module only reads and writes
them. The statements on the token path go through the driver (broker/storage/fast.py says why).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, insert, select
from sqlalchemy.exc import IntegrityError

from broker.storage import fast
from broker.storage.schema import checkpoints, grant_log, grant_log_terms, log_head

_LOCK_HEAD = select(log_head.c.size).where(log_head.c.id == 1).with_for_update()
ADVANCE_SEQ = fast.Sql("UPDATE log_head SET size = size + :count WHERE id = 1 RETURNING size")
INSERT_EVENTS = fast.Insert(
    "grant_log",
    {
        "seq": "int8",
        "ts": "float8",
        "event_type": "text",
        "subject_ref": "text",
        "jti": "text",
        "event": "text",
        "leaf_hash": "text",
    },
)
INSERT_TERMS = fast.Insert("grant_log_terms", {"term": "text", "seq": "int8"})
# Through the driver, not Core: every replica folds in every leaf (docs/benchmarks.md).
_LEAVES_AFTER = fast.Sql(
    "SELECT seq, leaf_hash FROM grant_log WHERE seq > :after ORDER BY seq LIMIT :limit",
    ("seq", "leaf_hash"),
)
Rows = Sequence[Mapping[str, Any]]


class CheckpointExists(Exception):
    """Another process stored a checkpoint of this tree size first."""


def lock_head(conn: Connection) -> None:
    """Take the log head's row lock now, before reading state that a concurrent writer could change.

    Every action that changes tokens or policy appends to the log, so holding this lock orders it
    against all of them (PostgreSQL; on SQLite the writer gate already serializes writers and
    FOR UPDATE is not emitted).
    """
    conn.execute(_LOCK_HEAD)


def reserve_seqs(conn: Connection, count: int) -> fast.Sent:
    """Send the advance of the log head by `count`; its `scalar()` is the last sequence number
    reserved. The UPDATE holds the head row's lock until commit, so sequence numbers are
    contiguous even on PostgreSQL (on SQLite BEGIN IMMEDIATE does it)."""
    return fast.send(conn, ADVANCE_SEQ, {"count": count})


def insert_events(conn: Connection, rows: Rows, terms: Rows) -> None:
    """Send the inserts of event rows and their terms (inside a `fast.pipeline` a failure raises
    at its end)."""
    fast.send_insert(conn, INSERT_EVENTS, rows)
    fast.send_insert(conn, INSERT_TERMS, terms)


def head_size(conn: Connection) -> int:
    """How many events the log head says are committed."""
    return int(conn.execute(select(log_head.c.size).where(log_head.c.id == 1)).scalar_one())


def leaves_after(conn: Connection, after: int, limit: int) -> list[tuple[int, str]]:
    """(seq, leaf hash) of up to `limit` events after `after`, in order."""
    return fast.send(conn, _LEAVES_AFTER, {"after": after, "limit": limit}).tuples()


def iter_rows(conn: Connection, *, after: int = 0, batch: int = 50_000) -> Iterator[tuple[int, str, str]]:
    """Every stored event from `after`, in batches: (seq, event text, stored leaf hash)."""
    while True:
        rows = conn.execute(
            select(grant_log.c.seq, grant_log.c.event, grant_log.c.leaf_hash)
            .where(grant_log.c.seq > after)
            .order_by(grant_log.c.seq)
            .limit(batch)
        ).all()
        for row in rows:
            yield row.seq, row.event, row.leaf_hash
        if len(rows) < batch:
            return
        after = rows[-1].seq


# -- checkpoints ------------------------------------------------------------------------------


def checkpoint_of_size(conn: Connection, size: int) -> Any | None:
    """The stored checkpoint of this tree size, or None."""
    return conn.execute(select(checkpoints).where(checkpoints.c.tree_size == size)).first()


def insert_checkpoint(conn: Connection, row: dict[str, Any]) -> None:
    """Store a signed checkpoint; raises CheckpointExists when one of its size is stored."""
    try:
        conn.execute(insert(checkpoints).values(**row))
    except IntegrityError as exc:
        raise CheckpointExists(str(row["tree_size"])) from exc


def last_checkpoint_mark(conn: Connection) -> tuple[int, float]:
    """(tree size, time) of the newest checkpoint; (0, 0.0) when there is none."""
    last = conn.execute(
        select(checkpoints.c.tree_size, checkpoints.c.ts).order_by(checkpoints.c.tree_size.desc()).limit(1)
    ).first()
    return (int(last.tree_size), float(last.ts)) if last is not None else (0, 0.0)


def latest_checkpoint(conn: Connection) -> Any | None:
    """The newest stored checkpoint row, or None."""
    return conn.execute(select(checkpoints).order_by(checkpoints.c.tree_size.desc()).limit(1)).first()


def checkpoints_after(conn: Connection, after: int, limit: int) -> list[Any]:
    """Checkpoint rows with tree size above `after`, oldest first."""
    return list(
        conn.execute(
            select(checkpoints)
            .where(checkpoints.c.tree_size > after)
            .order_by(checkpoints.c.tree_size)
            .limit(limit)
        ).all()
    )


def all_checkpoints(conn: Connection) -> list[Any]:
    """Every checkpoint row, oldest first."""
    return list(conn.execute(select(checkpoints).order_by(checkpoints.c.tree_size)).all())


# -- auditor and user reads -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LogFilter:
    """What an auditor asks for; every field set must match (an empty filter matches all)."""

    subject: str | None = None
    agent: str | None = None
    resource: str | None = None
    type: str | None = None
    decision: str | None = None
    reason: str | None = None
    since: float | None = None
    until: float | None = None
    jti: str | None = None


def _filtered(flt: LogFilter, query: Select[Any]) -> Select[Any]:
    if flt.subject is not None:
        query = query.where(grant_log.c.subject_ref == flt.subject)
    if flt.type is not None:
        query = query.where(grant_log.c.event_type == flt.type)
    if flt.jti is not None:
        query = query.where(grant_log.c.jti == flt.jti)
    if flt.since is not None:
        query = query.where(grant_log.c.ts >= flt.since)
    if flt.until is not None:
        query = query.where(grant_log.c.ts < flt.until)
    terms = {"agent": flt.agent, "resource": flt.resource, "decision": flt.decision, "reason": flt.reason}
    for kind, value in terms.items():
        if value is not None:
            matching = select(grant_log_terms.c.seq).where(grant_log_terms.c.term == f"{kind}:{value}")
            query = query.where(grant_log.c.seq.in_(matching))
    return query


def matching_events(
    conn: Connection, flt: LogFilter, *, after: int, limit: int
) -> list[tuple[int, str, str]]:
    """(seq, event text, leaf hash) of up to `limit` matching events after `after`, in log order."""
    query = _filtered(flt, select(grant_log.c.seq, grant_log.c.event, grant_log.c.leaf_hash))
    rows = conn.execute(query.where(grant_log.c.seq > after).order_by(grant_log.c.seq).limit(limit)).all()
    return [(row.seq, row.event, row.leaf_hash) for row in rows]


def first_event(
    conn: Connection, types: Sequence[str], *, jti: str | None = None, seq: int | None = None
) -> tuple[int, str] | None:
    """(seq, event text) of the first event of these types with token `jti` (or number `seq`)."""
    query = select(grant_log.c.seq, grant_log.c.event).where(grant_log.c.event_type.in_(types))
    query = query.where(grant_log.c.jti == jti) if jti is not None else query.where(grant_log.c.seq == seq)
    row = conn.execute(query.order_by(grant_log.c.seq).limit(1)).first()
    return None if row is None else (row.seq, row.event)


def subject_events(
    conn: Connection, subject_ref: str, *, limit: int, before: int | None
) -> list[tuple[int, str]]:
    """(seq, event text) of a user's events, newest first, below `before`."""
    query = select(grant_log.c.seq, grant_log.c.event).where(grant_log.c.subject_ref == subject_ref)
    if before is not None:
        query = query.where(grant_log.c.seq < before)
    return [(row.seq, row.event) for row in conn.execute(query.order_by(grant_log.c.seq.desc()).limit(limit))]


def events_of_types_between(
    conn: Connection, types: Sequence[str], *, since: float, until: float, limit: int
) -> list[tuple[float, str]]:
    """(time, event text) of the newest `limit` events of these types in [since, until), newest first."""
    rows = conn.execute(
        select(grant_log.c.ts, grant_log.c.event)
        .where(grant_log.c.event_type.in_(types), grant_log.c.ts >= since, grant_log.c.ts < until)
        .order_by(grant_log.c.seq.desc())
        .limit(limit)
    ).all()
    return [(float(row.ts), row.event) for row in rows]


_ISSUING_EVENTS = ("token.issued", "token.delegated")


def token_bindings(conn: Connection, jtis: Sequence[str]) -> dict[str, Any]:
    """The `details.cnf_jkt` the log recorded when each of these tokens was issued (None for a
    bearer token; a digest if the event was over the log's budget); a token whose issuing event
    is not found is left out."""
    found: dict[str, Any] = {}
    ids = list(jtis)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = conn.execute(
            select(grant_log.c.jti, grant_log.c.event).where(
                grant_log.c.jti.in_(chunk), grant_log.c.event_type.in_(_ISSUING_EVENTS)
            )
        )
        for row in rows:
            details = json.loads(row.event).get("details") or {}
            found[row.jti] = details.get("cnf_jkt") if isinstance(details, dict) else {"unknown": True}
    return found
