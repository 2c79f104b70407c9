"""Users, auditors and the API keys that admins, users and auditors authenticate with."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Sequence
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
_POLICY_VERSION = fast.Sql("SELECT policy_version FROM users WHERE ref = :ref", ("policy_version",))
_STILL_CURRENT = fast.Sql(
    "SELECT (SELECT policy_version FROM users WHERE ref = :ref) AS version, "
    "(SELECT count(*) FROM agents WHERE (client_id = :a OR client_id = :b) AND status = 'active') AS active",
    ("version", "active"),
)


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


def policy_version(conn: Connection, ref: str) -> int | None:
    """The user's current policy version (None if the user is gone)."""
    version = fast.scalar(conn, _POLICY_VERSION, {"ref": ref})
    return None if version is None else int(version)


def policy_still_current(
    conn: Connection, ref: str, version: int, first_agent: str, second_agent: str
) -> bool:
    """True when the user's policy version is unchanged and both agents are still active.

    One statement, because it runs inside the serialized write transaction of every token.
    """
    row = fast.first(conn, _STILL_CURRENT, {"ref": ref, "a": first_agent, "b": second_agent})
    return row is not None and bool(row.version == version and row.active == len({first_agent, second_agent}))


def policies_still_current(
    conn: Connection,
    checks: Sequence[tuple[str, int, str, str]],
    versions: Sequence[tuple[str, int]] = (),
) -> bool:
    """`policy_still_current` for several (user ref, policy version, agent, agent) at once, and
    `versions`: (user ref, policy version) pairs that must still hold whatever the agents' status
    (a refusal's, which a suspension cannot turn into a token). True when every one holds. One
    statement, for the token path's group commit."""
    refs, agent_ids = currency_refs(checks, versions)
    params = {f"r{i}": ref for i, ref in enumerate(refs)} | {f"a{i}": a for i, a in enumerate(agent_ids)}
    found = fast.rows(conn, _currency_statement(len(refs), len(agent_ids)), params)
    return currency_holds(found, checks, versions)


def currency_holds(
    found: Sequence[Any], checks: Sequence[tuple[str, int, str, str]], versions: Sequence[tuple[str, int]]
) -> bool:
    """`policies_still_current`'s verdict on the rows of its statement: (kind, id, version)."""
    current = {row.id: row.version for row in found if row.kind == "u"}
    active = {row.id for row in found if row.kind == "a"}
    return all(current.get(ref) == version for ref, version in versions) and all(
        current.get(ref) == version and first in active and second in active
        for ref, version, first, second in checks
    )


def currency_refs(
    checks: Sequence[tuple[str, int, str, str]], versions: Sequence[tuple[str, int]]
) -> tuple[list[str], list[str]]:
    """The user refs and agent ids a currency check reads."""
    refs = sorted({check[0] for check in checks} | {ref for ref, _ in versions})
    return refs, sorted({agent for check in checks for agent in check[2:]})


# The same check as one PostgreSQL statement that fails (SQLSTATE DS001, through the function of
# migration 0006) unless every decision holds, to be part of a bigger statement
# (broker/storage/token_group.py) that is sent with the COMMIT and whose result nobody reads.
# Its parameters come from `currency_parameters`.
REQUIRE_CURRENT_POSTGRESQL = (
    "SELECT discretion_require("
    "(SELECT count(*) FROM users "
    "JOIN json_to_recordset(%(current_users)s::json) AS e(ref text, version int8) "
    "ON users.ref = e.ref AND users.policy_version = e.version) = %(current_user_count)s "
    "AND (SELECT count(*) FROM agents WHERE client_id IN "
    "(SELECT json_array_elements_text(%(current_agents)s::json)) AND status = 'active') "
    "= %(current_agent_count)s, "
    "'a decision went stale')"
)
STALE_SQLSTATE = "DS001"


def currency_parameters(
    checks: Sequence[tuple[str, int, str, str]], versions: Sequence[tuple[str, int]]
) -> dict[str, Any]:
    """The parameters of REQUIRE_CURRENT_POSTGRESQL: each distinct (user ref, policy version) must
    match a user's row and each distinct agent must be active, so the counts must equal the
    lists' lengths (a user wanted at two versions matches at most one)."""
    wanted = sorted({(ref, version) for ref, version, *_ in checks} | set(versions))
    agent_ids = sorted({agent for check in checks for agent in check[2:]})
    return {
        "current_users": json.dumps([{"ref": ref, "version": version} for ref, version in wanted]),
        "current_user_count": len(wanted),
        "current_agents": json.dumps(agent_ids),
        "current_agent_count": len(agent_ids),
    }


@functools.lru_cache(maxsize=256)
def _currency_statement(refs: int, agent_ids: int) -> fast.Sql:
    # One text per list length, so PostgreSQL prepares each after a few uses. Only placeholder
    # names are formatted in; the values are bound.
    ref_list = ", ".join(f":r{i}" for i in range(refs))
    text = f"SELECT 'u', ref, policy_version FROM users WHERE ref IN ({ref_list})"  # noqa: S608
    if agent_ids:
        agent_list = ", ".join(f":a{i}" for i in range(agent_ids))
        text += (
            f" UNION ALL SELECT 'a', client_id, 0 FROM agents "  # noqa: S608
            f"WHERE client_id IN ({agent_list}) AND status = 'active'"
        )
    return fast.Sql(text, ("kind", "id", "version"))


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
