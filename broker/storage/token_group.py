"""The statements of a token commit group (broker/oauth/token_writes.py), in two steps.

`spend_and_store` spends the group's assertion and DPoP proof ids, stores its tokens and reserves
its log sequence numbers, taking the log head's lock until commit; `log_and_require` then writes
the log records and re-checks what the decisions rest on (after the lock, so that a policy change
committed first is seen). Either raises NotTogether when a write of the group would fail. On
SQLite, in process, each step is its statements one after another. On PostgreSQL each step is one
statement, its inserts as data-modifying CTEs, and the second fails by itself when a decision no
longer holds (migration 0006), so that nothing needs to read it: written in a pipeline with the
COMMIT (`Store.write_from_loop(pipelined=True)`), a group costs two round trips whatever its
size, BEGIN with the first step and the second with the COMMIT, and the log head's lock is held
for one. psycopg also spends about 100 us of the event loop's time on each statement (measured),
which a group of seven separate statements paid seven times.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from broker.grantlog import events as log_events
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
    f"head AS ({log_events.ADVANCE_SEQ.postgresql}) "
    "SELECT (SELECT count(*) FROM assertions), (SELECT count(*) FROM proofs), (SELECT size FROM head)"
)
_LOG_AND_REQUIRE = (
    f"WITH events AS ({log_events.INSERT_EVENTS.with_parameter('events')}), "
    f"terms AS ({log_events.INSERT_TERMS.with_parameter('terms')}) "
    f"{principals.REQUIRE_CURRENT_POSTGRESQL}"
)


class NotTogether(Exception):
    """One of a group's writes would fail: the group is rolled back and each is written alone."""


def spend_and_store(
    conn: Connection, assertions: Spent, proofs: Spent, tokens: Sequence[TokenRecord], events: int
) -> int:
    """Spend the ids, store the tokens and reserve `events` sequence numbers; returns the last
    number reserved. Raises NotTogether when an id was spent before (or twice in the group)."""
    if conn.dialect.name == "sqlite":
        first_assertions = token_store.spend_assertion_jtis(conn, assertions).count()
        first_proofs = token_store.spend_proof_jtis(conn, proofs).count()
        token_store.insert_tokens(conn, tokens)
        last = int(log_events.reserve_seqs(conn, events).scalar())
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


def log_and_require(
    conn: Connection,
    events: Sequence[tuple[log_events.Event, float]],
    last: int,
    checks: Sequence[tuple[str, int, str, str]],
    versions: Sequence[tuple[str, int]],
) -> None:
    """Write the events numbered up to `last` and require every decision to hold
    (`principals.policies_still_current` over `checks` and `versions`): raises NotTogether when
    one does not, or, inside a pipeline on PostgreSQL, the statement fails at the pipeline's end
    (the commit) with SQLSTATE DS001."""
    rows, terms = log_events.event_rows(events, last=last)
    if conn.dialect.name == "sqlite":
        fast.send_insert(conn, log_events.INSERT_EVENTS, rows)
        fast.send_insert(conn, log_events.INSERT_TERMS, terms)
        if (checks or versions) and not principals.policies_still_current(conn, checks, versions):
            raise NotTogether("a decision went stale")
        return
    params = {
        "events": fast.rows_parameter(rows),
        "terms": fast.rows_parameter(terms),
        **principals.currency_parameters(checks, versions),
    }
    raw = conn.connection.driver_connection
    with _stale_as_not_together(), fast.driver_errors(conn, _LOG_AND_REQUIRE):
        raw.cursor().execute(_LOG_AND_REQUIRE, params)  # type: ignore[union-attr]


def require_delegations(conn: Connection, delegations: Sequence[token_store.Delegation]) -> None:
    """Require each token exchange's re-check (`tokens.delegation_still_current`) to hold, after
    the log head's lock: raises NotTogether when one does not, or, inside a pipeline on
    PostgreSQL, its statement fails at the pipeline's end. A statement each, none of them read
    there, so they cost no round trip."""
    for delegation in delegations:
        if conn.dialect.name == "sqlite":
            if not token_store.delegation_still_current(conn, delegation):
                raise NotTogether("a delegation went stale")
            continue
        statement, params = token_store.delegation_requirement(delegation)
        with _stale_as_not_together():
            fast.send(conn, statement, params)


@contextmanager
def _stale_as_not_together() -> Iterator[None]:
    # Outside a pipeline a failed requirement raises at once, as NotTogether like SQLite's.
    try:
        yield
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == principals.STALE_SQLSTATE:
            raise NotTogether("a decision went stale") from exc
        raise
