"""The checkpoint_keys table: sealed grant-log checkpoint keys, live and retired."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select, update

from broker.storage.schema import checkpoint_keys


def insert_key(
    conn: Connection, *, key_id: str, name: str, verifier_key: str, sealed: bytes, now: float
) -> None:
    """Store a new live key."""
    conn.execute(
        insert(checkpoint_keys).values(
            key_id=key_id, name=name, verifier_key=verifier_key, private_key_sealed=sealed, created_at=now
        )
    )


def live_key(conn: Connection) -> Any | None:
    """(key_id, name, private_key_sealed) of the newest live key, or None."""
    return conn.execute(
        select(checkpoint_keys.c.key_id, checkpoint_keys.c.name, checkpoint_keys.c.private_key_sealed)
        .where(checkpoint_keys.c.retired_at.is_(None))
        .order_by(checkpoint_keys.c.created_at.desc())
        .limit(1)
    ).first()


def retire_live(conn: Connection, now: float) -> None:
    """Retire every live key."""
    conn.execute(update(checkpoint_keys).where(checkpoint_keys.c.retired_at.is_(None)).values(retired_at=now))


def all_keys(conn: Connection) -> list[Any]:
    """Every key row (without its sealed secret), newest first."""
    return list(
        conn.execute(
            select(
                checkpoint_keys.c.key_id,
                checkpoint_keys.c.verifier_key,
                checkpoint_keys.c.created_at,
                checkpoint_keys.c.retired_at,
            ).order_by(checkpoint_keys.c.created_at.desc())
        ).all()
    )
