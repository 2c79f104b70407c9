"""Users, auditors and the API keys that admins, users and auditors authenticate with."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from broker.storage import fast
from broker.storage.schema import api_keys, auditors, console_sessions, users
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


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """What may be shown about an API key: never its secret or its hash."""

    key_id: str
    role: Role
    principal: str
    label: str | None
    created_at: float
    last_used_at: float | None
    revoked_at: float | None


_KEY_ID_CHARS = frozenset("0123456789abcdef")
KEY_ID_LENGTH = 16


def create_api_key(
    conn: Connection, role: Role, principal: str, now: float, *, label: str | None = None
) -> str:
    """Store a new key (hashed) and return it; this is the only time it is visible."""
    return new_api_key(conn, role, principal, now, label=label)[1]


def new_api_key(
    conn: Connection, role: Role, principal: str, now: float, *, label: str | None = None
) -> tuple[str, str]:
    """Store a new key (hashed); returns its id and the key, which is visible only now."""
    key_id = secrets.token_hex(KEY_ID_LENGTH // 2)
    secret = secrets.token_urlsafe(32)
    conn.execute(
        insert(api_keys).values(
            key_id=key_id,
            secret_hash=_hash(secret),
            role=str(role),
            principal=principal,
            created_at=now,
            label=label,
        )
    )
    return key_id, f"{_PREFIX}_{role.value[:3]}_{key_id}.{secret}"


def presented_key_id(presented: str) -> str:
    """The key id of a presented key if it is well formed (16 lowercase hex digits), else ''."""
    head = presented.partition(".")[0]
    parts = head.split("_")
    if len(parts) != 3 or parts[0] != _PREFIX:
        return ""
    key_id = parts[2]
    return key_id if len(key_id) == KEY_ID_LENGTH and set(key_id) <= _KEY_ID_CHARS else ""


def check_api_key(conn: Connection, presented: str) -> tuple[Principal, float | None] | None:
    """The principal of a valid, unrevoked key and when it was last used, or None; compares in
    constant time, and a miss on the key id costs the same as a wrong secret."""
    secret = presented.partition(".")[2]
    key_id = presented_key_id(presented)
    row = None
    if key_id and secret:
        row = conn.execute(
            select(
                api_keys.c.secret_hash,
                api_keys.c.role,
                api_keys.c.principal,
                api_keys.c.revoked_at,
                api_keys.c.last_used_at,
            ).where(api_keys.c.key_id == key_id)
        ).first()
    expected = row.secret_hash if row is not None else _DUMMY_HASH
    matches = hmac.compare_digest(expected, _hash(secret))
    if row is None or not matches or row.revoked_at is not None:
        return None
    return Principal(role=Role(row.role), principal=row.principal, key_id=key_id), row.last_used_at


def authenticate_api_key(conn: Connection, presented: str) -> Principal | None:
    """The principal of a valid, unrevoked key, or None; compares in constant time."""
    checked = check_api_key(conn, presented)
    return None if checked is None else checked[0]


def touch_api_key(conn: Connection, key_id: str, now: float) -> None:
    """Record that a key was just used."""
    conn.execute(update(api_keys).where(api_keys.c.key_id == key_id).values(last_used_at=now))


_INFO_COLUMNS = (
    api_keys.c.key_id,
    api_keys.c.role,
    api_keys.c.principal,
    api_keys.c.label,
    api_keys.c.created_at,
    api_keys.c.last_used_at,
    api_keys.c.revoked_at,
)


def _info(row: Any) -> ApiKeyInfo:
    return ApiKeyInfo(
        key_id=row.key_id,
        role=Role(row.role),
        principal=row.principal,
        label=row.label,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def get_api_key(conn: Connection, key_id: str) -> ApiKeyInfo | None:
    """One key's public facts, by id."""
    row = conn.execute(select(*_INFO_COLUMNS).where(api_keys.c.key_id == key_id)).first()
    return None if row is None else _info(row)


def list_api_keys(
    conn: Connection, *, role: Role | None = None, principal: str | None = None, limit: int = 500
) -> list[ApiKeyInfo]:
    """Keys (live and revoked), newest first, optionally those of one role and principal."""
    query = select(*_INFO_COLUMNS)
    if role is not None:
        query = query.where(api_keys.c.role == str(role))
    if principal is not None:
        query = query.where(api_keys.c.principal == principal)
    query = query.order_by(api_keys.c.created_at.desc(), api_keys.c.key_id).limit(limit)
    return [_info(row) for row in conn.execute(query)]


def revoke_api_key(conn: Connection, key_id: str, now: float) -> bool:
    """Revoke a live key and end its console sessions; False when it was not live (already
    revoked by a concurrent call, or unknown): the conditional update is the one arbiter."""
    result = conn.execute(
        update(api_keys)
        .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    conn.execute(delete(console_sessions).where(console_sessions.c.key_id == key_id))
    return result.rowcount == 1


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
