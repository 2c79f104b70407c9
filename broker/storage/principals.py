"""Users, auditors and the API keys that admins, users and auditors authenticate with."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, insert, select, update

from broker.storage import fast
from broker.storage.schema import api_keys, auditors, users
from policy import ListMode

_PREFIX = "dsc"
# Compared against when a key id is unknown, so a miss costs the same as a wrong secret.
_DUMMY_HASH = hashlib.sha256(b"no such key").digest()


class Role(StrEnum):
    """The role an API key carries."""

    ADMIN = "admin"
    USER = "user"
    AUDITOR = "auditor"


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A data subject; `ref` is the pseudonymous id used in the grant log."""

    ref: str
    user_id: str
    list_mode: ListMode
    policy_version: int = 0


@dataclass(frozen=True, slots=True)
class Principal:
    """Whoever an API key belongs to."""

    role: Role
    principal: str
    key_id: str


def new_ref(prefix: str) -> str:
    """A random opaque identifier such as `u_3f9c...`."""
    return f"{prefix}_{secrets.token_hex(12)}"


def _hash(secret: str) -> bytes:
    # API key secrets are 256-bit random values, so a plain SHA-256 is enough: there is nothing to
    # brute-force that a slow password hash would protect.
    return hashlib.sha256(secret.encode()).digest()


def create_api_key(conn: Connection, role: Role, principal: str, now: float) -> str:
    """Store a new key (hashed) and return it; this is the only time it is visible."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    conn.execute(
        insert(api_keys).values(
            key_id=key_id, secret_hash=_hash(secret), role=str(role), principal=principal, created_at=now
        )
    )
    return f"{_PREFIX}_{role.value[:3]}_{key_id}.{secret}"


def authenticate_api_key(conn: Connection, presented: str) -> Principal | None:
    """The principal of a valid, unrevoked key, or None; compares in constant time."""
    head, _, secret = presented.partition(".")
    parts = head.split("_")
    key_id = parts[2] if len(parts) == 3 and parts[0] == _PREFIX else ""
    row = None
    if key_id and secret:
        row = conn.execute(
            select(
                api_keys.c.secret_hash, api_keys.c.role, api_keys.c.principal, api_keys.c.revoked_at
            ).where(api_keys.c.key_id == key_id)
        ).first()
    expected = row.secret_hash if row is not None else _DUMMY_HASH
    matches = hmac.compare_digest(expected, _hash(secret))
    if row is None or not matches or row.revoked_at is not None:
        return None
    return Principal(role=Role(row.role), principal=row.principal, key_id=key_id)


def _user(row: Any) -> UserRecord:
    return UserRecord(
        ref=row.ref, user_id=row.user_id, list_mode=ListMode(row.list_mode), policy_version=row.policy_version
    )


_USER_COLUMNS = ("ref", "user_id", "list_mode", "policy_version")
_USER_BY_ID = fast.Sql("SELECT {columns} FROM users WHERE user_id = :value", _USER_COLUMNS)
_USER_BY_REF = fast.Sql("SELECT {columns} FROM users WHERE ref = :value", _USER_COLUMNS)


def get_user(conn: Connection, *, user_id: str | None = None, ref: str | None = None) -> UserRecord | None:
    """A user by external id or by ref."""
    if user_id is not None:
        row = fast.first(conn, _USER_BY_ID, {"value": user_id})
        return None if row is None else _user(row)
    if ref is None:
        raise TypeError("get_user needs a user_id or a ref")
    return send_user(conn, ref)()


def send_user(conn: Connection, ref: str) -> Callable[[], UserRecord | None]:
    """Send the read of a user by ref; the returned function reads the answer (after the
    pipeline's end inside `fast.pipeline`)."""
    sent = fast.send(conn, _USER_BY_REF, {"value": ref})
    return lambda: None if (row := sent.first()) is None else _user(row)


def bump_policy_version(conn: Connection, ref: str) -> None:
    """Mark the user's grants or lists as changed."""
    conn.execute(update(users).where(users.c.ref == ref).values(policy_version=users.c.policy_version + 1))


def insert_user(conn: Connection, user_id: str, now: float) -> UserRecord:
    """Create a user in blocklist mode."""
    record = UserRecord(ref=new_ref("u"), user_id=user_id, list_mode=ListMode.BLOCKLIST)
    conn.execute(
        insert(users).values(ref=record.ref, user_id=user_id, list_mode=str(record.list_mode), created_at=now)
    )
    return record


def set_list_mode(conn: Connection, ref: str, mode: ListMode) -> None:
    """Switch a user between blocklist and allowlist-only mode."""
    conn.execute(update(users).where(users.c.ref == ref).values(list_mode=str(mode)))


def insert_auditor(conn: Connection, name: str, now: float) -> str:
    """Create an auditor and return its id."""
    auditor_id = new_ref("aud")
    conn.execute(insert(auditors).values(auditor_id=auditor_id, name=name, created_at=now))
    return auditor_id
