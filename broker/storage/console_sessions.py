"""Console sessions as rows: opened at sign-in, deleted at sign-out or with their API key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select

from broker.storage.schema import api_keys, console_sessions


@dataclass(frozen=True, slots=True)
class SessionOwner:
    """Who a live session belongs to: its API key's role and principal as stored now."""

    role: str
    principal: str


def _sid_hash(sid: str) -> bytes:
    # Only the hash is stored: a read of the table does not yield a session id.
    return hashlib.sha256(sid.encode()).digest()


def open_session(
    conn: Connection, sid: str, key_id: str, *, now: float, expires_at: float, per_key: int
) -> None:
    """Store a new session; past `per_key` live sessions for one key, the oldest are ended, so
    the table holds at most `per_key` rows per API key (and keys are made only by admins)."""
    conn.execute(
        delete(console_sessions).where(
            console_sessions.c.key_id == key_id, console_sessions.c.expires_at <= now
        )
    )
    keep = (
        select(console_sessions.c.sid_hash)
        .where(console_sessions.c.key_id == key_id)
        .order_by(console_sessions.c.created_at.desc(), console_sessions.c.sid_hash)
        .limit(per_key - 1)
    )
    conn.execute(
        delete(console_sessions).where(
            console_sessions.c.key_id == key_id, console_sessions.c.sid_hash.not_in(keep.scalar_subquery())
        )
        if per_key > 1
        else delete(console_sessions).where(console_sessions.c.key_id == key_id)
    )
    conn.execute(
        insert(console_sessions).values(
            sid_hash=_sid_hash(sid), key_id=key_id, created_at=now, expires_at=expires_at
        )
    )


def session_owner(conn: Connection, sid: str, key_id: str, now: float) -> SessionOwner | None:
    """The owner of a live session of a live key, or None (ended, expired, or key revoked)."""
    row = conn.execute(
        select(api_keys.c.role, api_keys.c.principal)
        .select_from(console_sessions.join(api_keys, api_keys.c.key_id == console_sessions.c.key_id))
        .where(
            console_sessions.c.sid_hash == _sid_hash(sid),
            console_sessions.c.key_id == key_id,
            console_sessions.c.expires_at > now,
            api_keys.c.revoked_at.is_(None),
        )
    ).first()
    return None if row is None else SessionOwner(role=row.role, principal=row.principal)


def end_session(conn: Connection, sid: str) -> None:
    """Delete one session (sign-out)."""
    conn.execute(delete(console_sessions).where(console_sessions.c.sid_hash == _sid_hash(sid)))


def end_key_sessions(conn: Connection, key_id: str) -> int:
    """Delete every session opened with a key; returns how many there were."""
    return conn.execute(delete(console_sessions).where(console_sessions.c.key_id == key_id)).rowcount


def live_sessions(conn: Connection, key_id: str, now: float) -> int:
    """How many unexpired sessions a key has."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(console_sessions)
            .where(console_sessions.c.key_id == key_id, console_sessions.c.expires_at > now)
        ).scalar_one()
    )


def prune_sessions(conn: Connection, now: float) -> int:
    """Delete expired sessions; returns how many."""
    return conn.execute(delete(console_sessions).where(console_sessions.c.expires_at <= now)).rowcount
