"""Issued tokens, their revocations (the feed holders poll) and the client-assertion replay cache."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from broker.storage import fast, grants
from broker.storage.grants import EntryRecord, GrantRecord
from broker.storage.schema import assertion_jtis, grant_log, proof_jtis, prune_marks, revocations, tokens


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRecord:
    """What the broker remembers of a token it issued (never the token itself)."""

    jti: str
    user_ref: str
    grant_id: str
    client_id: str
    holder_id: str
    audience: str
    parties: tuple[str, ...]
    parent_jti: str | None
    kid: str
    issued_at: float
    expires_at: float
    revoked_at: float | None = None


@dataclass(frozen=True, slots=True)
class Revocation:
    """One entry of the revocation feed."""

    seq: int
    jti: str
    expires_at: float
    revoked_at: float


# ON CONFLICT DO NOTHING keeps the transaction usable on PostgreSQL (a unique violation would abort
# it) and makes the check and the insert one atomic statement on both stores. A row added is a
# first use: the rows changed, summed by both drivers over an executemany, count them.
SPEND_ASSERTION_JTIS = fast.Insert(
    "assertion_jtis", {"client_id": "text", "jti": "text", "expires_at": "float8"}, skip_conflicts=True
)
SPEND_PROOF_JTIS = fast.Insert(
    "proof_jtis", {"jkt": "text", "jti": "text", "expires_at": "float8"}, skip_conflicts=True
)
INSERT_TOKENS = fast.Insert(
    "tokens",
    {
        "jti": "text",
        "user_ref": "text",
        "grant_id": "text",
        "client_id": "text",
        "holder_id": "text",
        "audience": "text",
        "parties": "text",
        "parent_jti": "text",
        "kid": "text",
        "issued_at": "float8",
        "expires_at": "float8",
        "revoked_at": "float8",
    },
)


def spend_proof_jti(conn: Connection, jkt: str, jti: str, expires_at: float) -> bool:
    """Record a DPoP proof id for its key; False when it was seen before (RFC 9449 section 11.1)."""
    return send_proof_spends(conn, [(jkt, jti, expires_at)]).count() == 1


def spend_assertion_jtis(conn: Connection, spent: Sequence[tuple[str, str, float]]) -> bool:
    """Record several (client id, assertion id, expiry); False when any was seen before, in the
    store or earlier in `spent` (the caller then rolls back)."""
    return send_assertion_spends(conn, spent).count() == len(spent)


def send_assertion_spends(conn: Connection, spent: Sequence[tuple[str, str, float]]) -> fast.Sent:
    """`spend_assertion_jtis`, sent: every one was a first use when its count is len(spent)."""
    return fast.send_insert(conn, SPEND_ASSERTION_JTIS, assertion_rows(spent))


def send_proof_spends(conn: Connection, spent: Sequence[tuple[str, str, float]]) -> fast.Sent:
    """The DPoP proof ids, sent: every one was a first use when its count is len(spent)."""
    return fast.send_insert(conn, SPEND_PROOF_JTIS, proof_rows(spent))


def assertion_rows(spent: Sequence[tuple[str, str, float]]) -> list[dict[str, Any]]:
    """The rows of SPEND_ASSERTION_JTIS for (client id, assertion id, expiry) triples."""
    return [{"client_id": client_id, "jti": jti, "expires_at": exp} for client_id, jti, exp in spent]


def proof_rows(spent: Sequence[tuple[str, str, float]]) -> list[dict[str, Any]]:
    """The rows of SPEND_PROOF_JTIS for (key thumbprint, proof id, expiry) triples."""
    return [{"jkt": jkt, "jti": jti, "expires_at": exp} for jkt, jti, exp in spent]


def purge_assertion_jtis(conn: Connection, before: float) -> None:
    """Forget assertion ids whose assertions can no longer be presented."""
    conn.execute(delete(assertion_jtis).where(assertion_jtis.c.expires_at < before))
    conn.execute(delete(proof_jtis).where(proof_jtis.c.expires_at < before))


def prune_tokens(
    conn: Connection, *, issued_before: float, expired_before: float, limit: int
) -> tuple[int, int]:
    """Walk on through the grant log from where the last call stopped, over at most `limit` events
    recorded before `issued_before`, and delete the tokens they name that expired before
    `expired_before`; returns (events walked, tokens deleted).

    The log records every token in commit order, so the tokens table needs no index on expiry. A
    token that has not expired yet when the walk passes it (a lifetime over the one the walk
    assumed) is left in place for good rather than deleted early."""
    mark = conn.execute(select(prune_marks.c.tokens_through).where(prune_marks.c.id == 1)).scalar_one()
    rows = conn.execute(
        select(grant_log.c.seq, grant_log.c.ts, grant_log.c.jti)
        .where(grant_log.c.seq > mark)
        .order_by(grant_log.c.seq)
        .limit(limit)
    ).all()
    # Commit order and time order agree up to a few milliseconds; stopping at the first newer
    # event errs on the side of keeping.
    walked = list(itertools.takewhile(lambda row: row.ts < issued_before, rows))
    if not walked:
        return 0, 0
    named = [row.jti for row in walked if row.jti]
    deleted = 0
    if named:
        deleted = conn.execute(
            delete(tokens).where(tokens.c.jti.in_(named), tokens.c.expires_at < expired_before)
        ).rowcount
    last = walked[-1].seq
    conn.execute(
        update(prune_marks)
        .where(prune_marks.c.id == 1, prune_marks.c.tokens_through < last)
        .values(tokens_through=last)
    )
    return len(walked), int(deleted)


def prune_revocations(conn: Connection, before: float, limit: int) -> int:
    """Delete up to `limit` revocation-feed entries whose token expired before `before`.

    The newest entry always stays: on SQLite the feed's sequence is the rowid, which would start
    again below the holders' cursors if the table were ever emptied."""
    newest = select(func.max(revocations.c.seq)).scalar_subquery()
    stale = select(revocations.c.seq).where(revocations.c.expires_at < before, revocations.c.seq < newest)
    gone = conn.execute(
        delete(revocations).where(revocations.c.seq.in_(stale.limit(limit).scalar_subquery()))
    )
    return int(gone.rowcount)


def _record(row: Any) -> TokenRecord:
    return TokenRecord(
        jti=row.jti,
        user_ref=row.user_ref,
        grant_id=row.grant_id,
        client_id=row.client_id,
        holder_id=row.holder_id,
        audience=row.audience,
        parties=tuple(row.parties.split()),
        parent_jti=row.parent_jti,
        kid=row.kid,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def insert_token(conn: Connection, token: TokenRecord) -> None:
    """Remember an issued token."""
    insert_tokens(conn, [token])


def insert_tokens(conn: Connection, records: Sequence[TokenRecord]) -> None:
    """Remember several issued tokens (sent: inside a `fast.pipeline` a failure raises at its end)."""
    fast.send_insert(conn, INSERT_TOKENS, token_rows(records))


def token_rows(records: Sequence[TokenRecord]) -> list[dict[str, Any]]:
    """The rows of INSERT_TOKENS."""
    return [
        {
            "jti": token.jti,
            "user_ref": token.user_ref,
            "grant_id": token.grant_id,
            "client_id": token.client_id,
            "holder_id": token.holder_id,
            "audience": token.audience,
            # Padded with spaces so that a party can be matched as a whole word.
            "parties": " " + " ".join(token.parties) + " ",
            "parent_jti": token.parent_jti,
            "kid": token.kid,
            "issued_at": token.issued_at,
            "expires_at": token.expires_at,
            "revoked_at": None,
        }
        for token in records
    ]


# On the exchange path, read and re-checked per request: built once (see fast.py).
_TOKEN_BY_ID = fast.Sql(
    "SELECT {columns} FROM tokens WHERE jti = :jti",
    (
        "jti",
        "user_ref",
        "grant_id",
        "client_id",
        "holder_id",
        "audience",
        "parties",
        "parent_jti",
        "kid",
        "issued_at",
        "expires_at",
        "revoked_at",
    ),
)
_LINK_BY_ID = fast.Sql("SELECT {columns} FROM tokens WHERE jti = :jti", ("parent_jti", "revoked_at"))


def get_token(conn: Connection, jti: str) -> TokenRecord | None:
    """A token by id."""
    return send_token(conn, jti)()


def send_token(conn: Connection, jti: str) -> Callable[[], TokenRecord | None]:
    """Send `get_token`'s read; the returned function reads the answer (after the pipeline's end
    inside `fast.pipeline`)."""
    sent = fast.send(conn, _TOKEN_BY_ID, {"jti": jti})
    return lambda: None if (row := sent.first()) is None else _record(row)


def _live(now: float) -> Any:
    return select(tokens).where(tokens.c.revoked_at.is_(None), tokens.c.expires_at > now)


def live_tokens_for_user(conn: Connection, user_ref: str, now: float) -> list[TokenRecord]:
    """A user's unrevoked, unexpired tokens."""
    return [_record(r) for r in conn.execute(_live(now).where(tokens.c.user_ref == user_ref))]


def live_tokens_for_grant(conn: Connection, grant_id: str, now: float) -> list[TokenRecord]:
    """Unrevoked, unexpired tokens issued under a grant."""
    return [_record(r) for r in conn.execute(_live(now).where(tokens.c.grant_id == grant_id))]


def live_tokens_with_party(conn: Connection, client_id: str, now: float) -> list[TokenRecord]:
    """Unrevoked, unexpired tokens in which this agent takes part."""
    query = _live(now).where(tokens.c.parties.contains(f" {client_id} ", autoescape=True))
    return [_record(r) for r in conn.execute(query)]


def live_tokens_issued_to(conn: Connection, client_id: str, now: float) -> list[TokenRecord]:
    """Unrevoked, unexpired tokens issued to this agent (it is their client, `client_id`)."""
    return [_record(r) for r in conn.execute(_live(now).where(tokens.c.client_id == client_id))]


def live_descendants(conn: Connection, roots: Sequence[TokenRecord], now: float) -> list[TokenRecord]:
    """Every live token derived, directly or through others, from these tokens."""
    found: list[TokenRecord] = []
    frontier = [r.jti for r in roots]
    seen = set(frontier)
    while frontier:
        rows = conn.execute(_live(now).where(tokens.c.parent_jti.in_(frontier))).all()
        children = [_record(r) for r in rows if r.jti not in seen]
        seen.update(c.jti for c in children)
        found.extend(children)
        frontier = [c.jti for c in children]
    return found


def token_with_policy(
    conn: Connection, jti: str, user_ref: str, grant_id: str
) -> tuple[TokenRecord | None, GrantRecord | None, list[EntryRecord]]:
    """A token row, the grant it names and its user's list entries: one round trip on PostgreSQL
    (a pipeline), for a token exchange's parent."""
    with fast.pipeline(conn):
        read_record = send_token(conn, jti)
        read_grant = grants.send_grant(conn, user_ref, grant_id)
        read_entries = grants.send_entries(conn, user_ref)
    return read_record(), read_grant(), read_entries()


def revoked_ancestor(conn: Connection, record: TokenRecord) -> bool:
    """True when any token this one was derived from is revoked."""
    return revoked_from(conn, record.parent_jti)


def revoked_from(conn: Connection, parent: str | None) -> bool:
    """True when the token `parent` or any token above it is revoked or gone."""
    for _ in range(64):  # chains are capped far below this; the bound guards against a cycle
        if parent is None:
            return False
        row = fast.first(conn, _LINK_BY_ID, {"jti": parent})
        if row is None or row.revoked_at is not None:
            return True
        parent = row.parent_jti
    return True


def revoke_tokens(conn: Connection, records: Sequence[TokenRecord], *, reason: str, now: float) -> None:
    """Mark tokens revoked and publish them in the feed."""
    if not records:
        return
    jtis = [r.jti for r in records]
    conn.execute(update(tokens).where(tokens.c.jti.in_(jtis)).values(revoked_at=now))
    conn.execute(
        insert(revocations),
        [
            {
                "jti": r.jti,
                "audience": r.audience,
                "expires_at": r.expires_at,
                "revoked_at": now,
                "reason": reason,
            }
            for r in records
        ],
    )


def revocations_since(
    conn: Connection,
    audiences: Iterable[str],
    since: int,
    limit: int,
    now: float,
    *,
    until: int | None = None,
) -> list[Revocation]:
    """Feed entries after `since` (and up to `until`) for these audiences, skipping tokens that
    expired before `now`."""
    query = (
        select(revocations.c.seq, revocations.c.jti, revocations.c.expires_at, revocations.c.revoked_at)
        .where(
            revocations.c.audience.in_(list(audiences)),
            revocations.c.seq > since,
            revocations.c.expires_at > now,
        )
        .order_by(revocations.c.seq)
        .limit(limit)
    )
    if until is not None:
        query = query.where(revocations.c.seq <= until)
    return [Revocation(r.seq, r.jti, r.expires_at, r.revoked_at) for r in conn.execute(query)]


def last_revocation_seq(conn: Connection) -> int:
    """The newest feed position, so a cursor can move past expired entries it skipped."""
    row = conn.execute(select(revocations.c.seq).order_by(revocations.c.seq.desc()).limit(1)).first()
    return 0 if row is None else int(row.seq)
