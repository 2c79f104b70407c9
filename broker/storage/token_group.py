"""The statements of a token commit group (broker/services/token_writes.py), in two steps.

`spend_and_store` spends the group's assertion and DPoP proof ids, stores its tokens and reserves
its log sequence numbers, taking the log head's lock until commit; `log_and_check` then writes
the log records and reads what the decisions rest on (after the lock, so that a policy change
committed first is seen). On SQLite, in process, each step is its statements one after another.
On PostgreSQL each step is one statement, its inserts as data-modifying CTEs, so that a group
costs BEGIN, two statements and COMMIT in three round trips, whatever its size: psycopg spends
about 100 us of the event loop's time on each statement (measured), which a group of seven
separate statements paid seven times.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from types import SimpleNamespace

from sqlalchemy import Connection

from broker import audit
from broker.storage import fast, principals
from broker.storage import tokens as token_store
from broker.storage.tokens import TokenRecord

Spent = Sequence[tuple[str, str, float]]  # (client id or key thumbprint, id, expiry)

# Every CTE runs whether or not the final SELECT reads it (PostgreSQL runs data-modifying WITH
# clauses to completion); they all see one snapshot, and none reads another's rows.
# Built from the module constants of the other storage modules, never from input.
_SPEND_AND_STORE = (
    f"WITH assertions AS ({token_store.SPEND_ASSERTION_JTIS.with_parameter('assertions')} RETURNING 1), "  # noqa: S608
    f"proofs AS ({token_store.SPEND_PROOF_JTIS.with_parameter('proofs')} RETURNING 1), "
    f"stored AS ({token_store.INSERT_TOKENS.with_parameter('tokens')}), "
    f"head AS ({audit.ADVANCE_SEQ.postgresql}) "
    "SELECT (SELECT count(*) FROM assertions), (SELECT count(*) FROM proofs), (SELECT size FROM head)"
)
_LOG_AND_CHECK = (
    f"WITH events AS ({audit.INSERT_EVENTS.with_parameter('events')}), "
    f"terms AS ({audit.INSERT_TERMS.with_parameter('terms')}) "
    f"{principals.CURRENCY_POSTGRESQL}"
)


def spend_and_store(
    conn: Connection, assertions: Spent, proofs: Spent, tokens: Sequence[TokenRecord], events: int
) -> tuple[int, int, int]:
    """Spend the ids, store the tokens and reserve `events` sequence numbers; returns (assertion
    ids used for the first time, proof ids used for the first time, the last number reserved).
    A replay is not an error here: the caller compares the counts and rolls back."""
    if conn.dialect.name == "sqlite":
        first_assertions = token_store.spend_assertion_jtis(conn, assertions).count()
        first_proofs = token_store.spend_proof_jtis(conn, proofs).count()
        token_store.insert_tokens(conn, tokens)
        return first_assertions, first_proofs, int(audit.reserve_seqs(conn, events).scalar())
    params = {
        "assertions": fast.rows_parameter(token_store.assertion_rows(assertions)),
        "proofs": fast.rows_parameter(token_store.proof_rows(proofs)),
        "tokens": fast.rows_parameter(token_store.token_rows(tokens)),
        "count": events,
    }
    raw = conn.connection.driver_connection
    with fast.driver_errors(conn, _SPEND_AND_STORE):
        with fast.pipeline(conn):  # BEGIN goes with it, not in a round trip of its own
            cursor = raw.cursor()  # type: ignore[union-attr]
            cursor.execute(_SPEND_AND_STORE, params)
        first_assertions, first_proofs, last = cursor.fetchone()
    return int(first_assertions), int(first_proofs), int(last)


def log_and_check(
    conn: Connection,
    events: Sequence[tuple[audit.Event, float]],
    last: int,
    checks: Sequence[tuple[str, int, str, str]],
    versions: Sequence[tuple[str, int]],
) -> bool:
    """Write the events numbered up to `last` and tell whether every decision still holds
    (`principals.policies_still_current` over `checks` and `versions`)."""
    rows, terms = audit.event_rows(events, last=last)
    if conn.dialect.name == "sqlite":
        fast.send_insert(conn, audit.INSERT_EVENTS, rows)
        fast.send_insert(conn, audit.INSERT_TERMS, terms)
        return not (checks or versions) or principals.policies_still_current(conn, checks, versions)
    refs, agent_ids = principals.currency_refs(checks, versions)
    params = {
        "events": fast.rows_parameter(rows),
        "terms": fast.rows_parameter(terms),
        "currency_refs": json.dumps(refs),
        "currency_agents": json.dumps(agent_ids),
    }
    with fast.driver_errors(conn, _LOG_AND_CHECK):
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(_LOG_AND_CHECK, params)
        rows_found = cursor.fetchall()
    found = [SimpleNamespace(kind=kind, id=id_, version=version) for kind, id_, version in rows_found]
    return principals.currency_holds(found, checks, versions)
