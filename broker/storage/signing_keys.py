"""The signing_keys table: the broker's sealed token-signing keys, live and retired."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from broker.storage.schema import signing_keys


def insert_key(conn: Connection, *, kid: str, alg: str, public_jwk: str, sealed: bytes, now: float) -> None:
    """Store a new live key."""
    conn.execute(
        insert(signing_keys).values(
            kid=kid, alg=alg, public_jwk=public_jwk, private_key_sealed=sealed, created_at=now
        )
    )


def any_live_kid(conn: Connection, *, alg: str | None = None) -> str | None:
    """The kid of a live key (of `alg`, when given), or None when there is none."""
    query = select(signing_keys.c.kid).where(signing_keys.c.retired_at.is_(None))
    if alg is not None:
        query = query.where(signing_keys.c.alg == alg)
    row = conn.execute(query.limit(1)).first()
    return None if row is None else str(row.kid)


def retire_live(conn: Connection, now: float) -> None:
    """Retire every live key."""
    conn.execute(update(signing_keys).where(signing_keys.c.retired_at.is_(None)).values(retired_at=now))


def newest_live(conn: Connection, *, alg: str) -> Any | None:
    """(kid, private_key_sealed) of the newest live key of `alg`, or None."""
    return conn.execute(
        select(signing_keys.c.kid, signing_keys.c.private_key_sealed)
        .where(signing_keys.c.retired_at.is_(None), signing_keys.c.alg == alg)
        .order_by(signing_keys.c.created_at.desc())
        .limit(1)
    ).first()


def public_jwk(conn: Connection, kid: str) -> str | None:
    """The public JWK (JSON text) of a key by kid, live or retired."""
    row = conn.execute(select(signing_keys.c.public_jwk).where(signing_keys.c.kid == kid)).first()
    return None if row is None else str(row.public_jwk)


def published_jwks(conn: Connection, *, retired_after: float) -> list[str]:
    """The public JWKs (JSON text) of the live keys and those retired after `retired_after`,
    newest first."""
    rows = conn.execute(
        select(signing_keys.c.public_jwk)
        .where(or_(signing_keys.c.retired_at.is_(None), signing_keys.c.retired_at > retired_after))
        .order_by(signing_keys.c.created_at.desc())
    ).all()
    return [str(row.public_jwk) for row in rows]
