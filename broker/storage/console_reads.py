"""Read-only queries the web console needs (through broker/services/console.py): the state of an
API key by id and key listings for admins. Nothing here writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from broker.storage.schema import api_keys, auditors, users


@dataclass(frozen=True, slots=True)
class KeyState:
    """What an API key id stands for now."""

    role: str
    principal: str
    revoked: bool


def key_state(conn: Connection, key_id: str) -> KeyState | None:
    """The role, principal and revocation of an API key, by id (never its secret)."""
    row = conn.execute(
        select(api_keys.c.role, api_keys.c.principal, api_keys.c.revoked_at).where(
            api_keys.c.key_id == key_id
        )
    ).first()
    if row is None:
        return None
    return KeyState(role=row.role, principal=row.principal, revoked=row.revoked_at is not None)


def user_listing(conn: Connection, limit: int = 500) -> list[dict[str, Any]]:
    """Users with their creation time and count of live keys, newest first."""
    live = (
        select(func.count())
        .select_from(api_keys)
        .where(api_keys.c.principal == users.c.ref, api_keys.c.revoked_at.is_(None))
        .scalar_subquery()
    )
    rows = conn.execute(
        select(users.c.user_id, users.c.ref, users.c.list_mode, users.c.created_at, live.label("keys"))
        .order_by(users.c.created_at.desc())
        .limit(limit)
    ).all()
    return [dict(row._mapping) for row in rows]


def auditor_listing(conn: Connection, limit: int = 500) -> list[dict[str, Any]]:
    """Auditors with their key ids (ids only) and whether each is live, newest first."""
    rows = conn.execute(
        select(auditors.c.auditor_id, auditors.c.name, auditors.c.created_at)
        .order_by(auditors.c.created_at.desc())
        .limit(limit)
    ).all()
    keys = conn.execute(
        select(api_keys.c.principal, api_keys.c.key_id, api_keys.c.revoked_at).where(
            api_keys.c.role == "auditor"
        )
    ).all()
    by_auditor: dict[str, list[dict[str, Any]]] = {}
    for key in keys:
        by_auditor.setdefault(key.principal, []).append(
            {"key_id": key.key_id, "live": key.revoked_at is None}
        )
    return [{**dict(row._mapping), "keys": by_auditor.get(row.auditor_id, [])} for row in rows]
