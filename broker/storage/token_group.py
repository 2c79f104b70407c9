"""The statements of a token commit group (broker/oauth/token_writes.py), in two steps.

`spend_and_store` spends the group's assertion and DPoP proof ids, stores its tokens and reserves
its log sequence numbers, taking the log head's lock until commit; `log_and_require` then writes
the log records and requires every decision to still hold (broker/storage/recheck.py), after the
lock so that a policy change committed first is seen. Either raises NotTogether when a write of
the group would fail. On SQLite, in process, each step is its statements one after another. On
PostgreSQL each step is one statement (its inserts as data-modifying CTEs) plus one unread
statement per token exchange, and the second fails by itself when a decision no longer holds, so
nothing needs to read it: sent in a pipeline with the COMMIT, a group costs two round trips
whatever its size (docs/benchmarks.md has the measurements).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from broker.storage import fast, grant_log, recheck
from broker.storage import tokens as token_store
from broker.storage.grant_log import Rows
from broker.storage.recheck import Recheck
from broker.storage.tokens import TokenRecord

Spent = Sequence[tuple[str, str, float]]  # (client id or key thumbprint, id, expiry)

# Every CTE runs whether or not the final SELECT reads it (PostgreSQL runs data-modifying WITH
# clauses to completion); they all see one snapshot, and none reads another's rows.
# Built from the module constants of the other storage modules, never from input.
_SPEND_AND_STORE = (
    f"WITH assertions AS ({token_store.SPEND_ASSERTION_JTIS.with_parameter('assertions')} RETURNING 1), "  # noqa: S608
    f"proofs AS ({token_store.SPEND_PROOF_JTIS.with_parameter('proofs')} RETURNING 1), "
    f"stored AS ({token_store.INSERT_TOKENS.with_parameter('tokens')}), "
    f"head AS ({grant_log.ADVANCE_SEQ.postgresql}) "
    "SELECT (SELECT count(*) FROM assertions), (SELECT count(*) FROM proofs), (SELECT size FROM head)"
)
_LOG_AND_REQUIRE = (
    f"WITH events AS ({grant_log.INSERT_EVENTS.with_parameter('events')}), "
    f"terms AS ({grant_log.INSERT_TERMS.with_parameter('terms')}) "
    f"{recheck.REQUIRE_PLAIN_POSTGRESQL}"
)


class NotTogether(Exception):
    """One of a group's writes would fail: the group is rolled back and each is written alone."""


def spend_and_store(
    conn: Connection, assertions: Spent, proofs: Spent, tokens: Sequence[TokenRecord], events: int
) -> int:
    """Spend the ids, store the tokens and reserve `events` sequence numbers; returns the last
    number reserved. Raises NotTogether when an id was spent before (or twice in the group)."""
    if conn.dialect.name == "sqlite":
        first_assertions = token_store.send_assertion_spends(conn, assertions).count()
        first_proofs = token_store.send_proof_spends(conn, proofs).count()
        token_store.insert_tokens(conn, tokens)
        last = int(grant_log.reserve_seqs(conn, events).scalar())
    else:
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
    if first_assertions != len(assertions):
        raise NotTogether("an assertion was replayed")
    if first_proofs != len(proofs):
        raise NotTogether("a DPoP proof was replayed")
    return int(last)


def log_and_require(conn: Connection, rows: Rows, terms: Rows, rechecks: Sequence[Recheck]) -> None:
    """Write the log rows (grantlog.events.event_rows) and require every recheck to hold: raises
    NotTogether when one does not, or, inside a pipeline on PostgreSQL, a statement fails at the
    pipeline's end (the commit) with SQLSTATE DS001."""
    if conn.dialect.name == "sqlite":
        grant_log.insert_events(conn, rows, terms)
        if rechecks and not recheck.holds(conn, rechecks):
            raise NotTogether("a decision went stale")
        return
    params = {
        "events": fast.rows_parameter(rows),
        "terms": fast.rows_parameter(terms),
        **recheck.plain_parameters(rechecks),
    }
    raw = conn.connection.driver_connection
    with _stale_as_not_together(), fast.driver_errors(conn, _LOG_AND_REQUIRE):
        raw.cursor().execute(_LOG_AND_REQUIRE, params)  # type: ignore[union-attr]
    # A statement each, none of them read here, so they cost no round trip in a pipeline.
    for delegated in rechecks:
        if delegated.parent_jti is not None:
            statement, delegated_params = recheck.requirement(delegated)
            with _stale_as_not_together():
                fast.send(conn, statement, delegated_params)


@contextmanager
def _stale_as_not_together() -> Iterator[None]:
    # Outside a pipeline a failed requirement raises at once, as NotTogether like SQLite's.
    try:
        yield
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == recheck.STALE_SQLSTATE:
            raise NotTogether("a decision went stale") from exc
        raise
