"""Users' grants and blocklist/allowlist entries."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from broker.storage import fast
from broker.storage.schema import grants, list_entries
from policy import Effect, EntryKind, Grant, ListEntry, parse_scopes


@dataclass(frozen=True, slots=True, kw_only=True)
class GrantRecord:
    """A stored grant with its owner and timestamps."""

    grant_id: str
    user_ref: str
    agent: str | None
    organization: str | None
    resource: str
    scopes: tuple[str, ...]
    max_ttl_seconds: int
    expires_at: float | None
    max_delegation_depth: int
    reveal: tuple[str, ...]
    purposes: tuple[str, ...]
    created_at: float
    require_dpop: bool = False
    revoked_at: float | None = None
    tokens_per_hour: int | None = None
    disclosures_per_day: int | None = None

    @property
    def purpose(self) -> str | None:
        """The one purpose of a grant that lists exactly one (the single `purpose` field of the
        API before purposes were registered), else None."""
        return self.purposes[0] if len(self.purposes) == 1 else None

    def to_policy(self) -> Grant:
        """The grant as the policy engine sees it."""
        return Grant(
            grant_id=self.grant_id,
            agent=self.agent,
            organization=self.organization,
            resource=self.resource,
            scopes=parse_scopes(self.scopes),
            max_ttl_seconds=self.max_ttl_seconds,
            expires_at=self.expires_at,
            max_delegation_depth=self.max_delegation_depth,
            reveal=self.reveal,
            purposes=self.purposes,
            require_dpop=self.require_dpop,
            revoked=self.revoked_at is not None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryRecord:
    """A stored list entry."""

    entry_id: str
    user_ref: str
    kind: EntryKind
    value: str
    effect: Effect
    note: str | None
    created_at: float

    def to_policy(self) -> ListEntry:
        """The entry as the policy engine sees it."""
        return ListEntry(entry_id=self.entry_id, kind=self.kind, value=self.value, effect=self.effect)


def _grant(row: Any) -> GrantRecord:
    return GrantRecord(
        grant_id=row.grant_id,
        user_ref=row.user_ref,
        agent=row.agent,
        organization=row.organization,
        resource=row.resource,
        scopes=tuple(json.loads(row.scopes)),
        max_ttl_seconds=row.max_ttl_seconds,
        expires_at=row.expires_at,
        max_delegation_depth=row.max_delegation_depth,
        reveal=tuple(json.loads(row.reveal)),
        purposes=tuple(json.loads(row.purposes)),
        created_at=row.created_at,
        require_dpop=bool(row.require_dpop),
        revoked_at=row.revoked_at,
        tokens_per_hour=row.tokens_per_hour,
        disclosures_per_day=row.disclosures_per_day,
    )


def insert_grant(conn: Connection, grant: GrantRecord) -> None:
    """Store a new grant."""
    conn.execute(
        insert(grants).values(
            grant_id=grant.grant_id,
            user_ref=grant.user_ref,
            agent=grant.agent,
            organization=grant.organization,
            resource=grant.resource,
            scopes=json.dumps(list(grant.scopes)),
            max_ttl_seconds=grant.max_ttl_seconds,
            expires_at=grant.expires_at,
            max_delegation_depth=grant.max_delegation_depth,
            reveal=json.dumps(list(grant.reveal)),
            purposes=json.dumps(list(grant.purposes)),
            require_dpop=grant.require_dpop,
            created_at=grant.created_at,
            tokens_per_hour=grant.tokens_per_hour,
            disclosures_per_day=grant.disclosures_per_day,
        )
    )


_GRANTS_BY_USER = select(grants).where(grants.c.user_ref == bindparam("user_ref"))
# Only the grants that could name this requester: to the agent itself or to its organization.
_GRANT_COLUMNS = (
    "grant_id",
    "user_ref",
    "agent",
    "organization",
    "resource",
    "scopes",
    "max_ttl_seconds",
    "expires_at",
    "max_delegation_depth",
    "reveal",
    "purposes",
    "require_dpop",
    "created_at",
    "revoked_at",
    "tokens_per_hour",
    "disclosures_per_day",
)
_GRANTS_FOR_REQUEST = fast.Sql(
    "SELECT {columns} FROM grants WHERE user_ref = :user_ref AND resource = :resource "
    "AND (agent = :agent OR organization = :organization) ORDER BY created_at, grant_id",
    _GRANT_COLUMNS,
)
_GRANT_BY_ID = fast.Sql(
    "SELECT {columns} FROM grants WHERE grant_id = :grant_id AND user_ref = :user_ref", _GRANT_COLUMNS
)
_ENTRY_COLUMNS = ("entry_id", "user_ref", "kind", "value", "effect", "note", "created_at")
_ENTRIES_BY_USER = fast.Sql(
    "SELECT {columns} FROM list_entries WHERE user_ref = :user_ref ORDER BY created_at",
    _ENTRY_COLUMNS,
)


def grants_for(conn: Connection, user_ref: str) -> list[GrantRecord]:
    """All of a user's grants, oldest first."""
    rows = conn.execute(
        _GRANTS_BY_USER.order_by(grants.c.created_at, grants.c.grant_id), {"user_ref": user_ref}
    )
    return [_grant(row) for row in rows]


def grants_for_request(
    conn: Connection, user_ref: str, *, resource: str, agent: str, organization: str
) -> list[GrantRecord]:
    """The user's grants for this resource to this agent or its organization, oldest first."""
    params = {"user_ref": user_ref, "resource": resource, "agent": agent, "organization": organization}
    return [_grant(row) for row in fast.rows(conn, _GRANTS_FOR_REQUEST, params)]


def get_grant(conn: Connection, user_ref: str, grant_id: str) -> GrantRecord | None:
    """One of the user's grants; another user's grant id gives None."""
    return send_grant(conn, user_ref, grant_id)()


def send_grant(conn: Connection, user_ref: str, grant_id: str) -> Callable[[], GrantRecord | None]:
    """Send `get_grant`'s read; the returned function reads the answer (after the pipeline's end
    inside `fast.pipeline`)."""
    sent = fast.send(conn, _GRANT_BY_ID, {"grant_id": grant_id, "user_ref": user_ref})
    return lambda: None if (row := sent.first()) is None else _grant(row)


def set_budget(
    conn: Connection, grant_id: str, *, tokens_per_hour: int | None, disclosures_per_day: int | None
) -> None:
    """Set a grant's budgets (None: unlimited)."""
    conn.execute(
        update(grants)
        .where(grants.c.grant_id == grant_id)
        .values(tokens_per_hour=tokens_per_hour, disclosures_per_day=disclosures_per_day)
    )


def revoke_grant(conn: Connection, grant_id: str, now: float) -> None:
    """Mark a grant revoked."""
    conn.execute(update(grants).where(grants.c.grant_id == grant_id).values(revoked_at=now))


def _entry(row: Any) -> EntryRecord:
    return EntryRecord(
        entry_id=row.entry_id,
        user_ref=row.user_ref,
        kind=EntryKind(row.kind),
        value=row.value,
        effect=Effect(row.effect),
        note=row.note,
        created_at=row.created_at,
    )


def entries_for(conn: Connection, user_ref: str) -> list[EntryRecord]:
    """A user's list entries, oldest first."""
    return send_entries(conn, user_ref)()


def send_entries(conn: Connection, user_ref: str) -> Callable[[], list[EntryRecord]]:
    """Send `entries_for`'s read; the returned function reads the answer."""
    sent = fast.send(conn, _ENTRIES_BY_USER, {"user_ref": user_ref})
    return lambda: [_entry(row) for row in sent.all()]


def find_entry(
    conn: Connection, user_ref: str, kind: EntryKind, value: str, effect: Effect
) -> EntryRecord | None:
    """An identical existing entry, if any."""
    row = conn.execute(
        select(list_entries).where(
            list_entries.c.user_ref == user_ref,
            list_entries.c.kind == str(kind),
            list_entries.c.value == value,
            list_entries.c.effect == str(effect),
        )
    ).first()
    return None if row is None else _entry(row)


def insert_entry(conn: Connection, entry: EntryRecord) -> None:
    """Store a new list entry."""
    conn.execute(
        insert(list_entries).values(
            entry_id=entry.entry_id,
            user_ref=entry.user_ref,
            kind=str(entry.kind),
            value=entry.value,
            effect=str(entry.effect),
            note=entry.note,
            created_at=entry.created_at,
        )
    )


def delete_entry(conn: Connection, user_ref: str, entry_id: str) -> EntryRecord | None:
    """Remove one of the user's entries and return it; None when it is not theirs."""
    row = conn.execute(
        select(list_entries).where(list_entries.c.entry_id == entry_id, list_entries.c.user_ref == user_ref)
    ).first()
    if row is None:
        return None
    conn.execute(delete(list_entries).where(list_entries.c.entry_id == entry_id))
    return _entry(row)
