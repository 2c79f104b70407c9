"""Registered agents and the resource URIs they hold."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from broker.storage import fast
from broker.storage.schema import agent_resources, agents
from policy import Party, Role

ACTIVE = "active"
SUSPENDED = "suspended"


@dataclass(frozen=True, slots=True)
class AgentRecord:
    """An agent as registered by an admin."""

    client_id: str
    name: str
    organization: str
    organization_display: str
    locale: str
    jwks: dict[str, Any]
    status: str
    resource_uris: tuple[str, ...]
    created_at: float
    # What an organization entry may name to cover this agent (services/organizations.py, cover).
    organization_cover: frozenset[str] = frozenset()
    # Changed by every status change and key rotation: a token write requires the value its
    # decision saw for the agents whose keys it rests on (broker/storage/recheck.py, stamps).
    updated_at: float = 0.0

    @property
    def suspended(self) -> bool:
        """True while an admin has suspended the agent."""
        return self.status != ACTIVE

    def party(self, role: Role) -> Party:
        """The agent as a party to a transaction, for the policy engine."""
        return Party(
            client_id=self.client_id,
            organization=self.organization,
            locale=self.locale,
            role=role,
            suspended=self.suspended,
            organizations=self.organization_cover,
        )


def _record(row: Any, resources: tuple[str, ...]) -> AgentRecord:
    return AgentRecord(
        client_id=row.client_id,
        name=row.name,
        organization=row.organization,
        organization_display=row.organization_display,
        locale=row.locale,
        jwks=json.loads(row.jwks),
        status=row.status,
        resource_uris=resources,
        created_at=row.created_at,
        organization_cover=frozenset(row.organization_cover.split()),
        updated_at=row.updated_at,
    )


def _resources(conn: Connection, client_id: str) -> tuple[str, ...]:
    rows = conn.execute(
        select(agent_resources.c.resource_uri)
        .where(agent_resources.c.client_id == client_id)
        .order_by(agent_resources.c.resource_uri)
    )
    return tuple(r.resource_uri for r in rows)


# Statements on the token path are built once: building and cache-keying a Core statement costs
# more than running it on SQLite.
_AGENT_COLUMNS = (
    "client_id",
    "name",
    "organization",
    "organization_display",
    "organization_cover",
    "locale",
    "jwks",
    "status",
    "created_at",
    "updated_at",
)
_AGENT_BY_ID = fast.Sql(
    "SELECT {columns} FROM agents WHERE client_id = :client_id",
    _AGENT_COLUMNS,
)
_HOLDER_BY_RESOURCE = fast.Sql(
    "SELECT a.client_id, a.name, a.organization, a.organization_display, a.organization_cover, a.locale, "
    "a.jwks, a.status, "
    "a.created_at, a.updated_at FROM agents a JOIN agent_resources r ON r.client_id = a.client_id "
    "WHERE r.resource_uri = :uri",
    _AGENT_COLUMNS,
)


def get_agent(conn: Connection, client_id: str, *, with_resources: bool = True) -> AgentRecord | None:
    """The agent with this client id, or None."""
    row = fast.first(conn, _AGENT_BY_ID, {"client_id": client_id})
    if row is None:
        return None
    return _record(row, _resources(conn, client_id) if with_resources else ())


def all_active(conn: Connection, client_ids: set[str]) -> bool:
    """True when every one of these agents exists and is not suspended."""
    return len(_by_ids(conn, client_ids, active_only=True)) == len(client_ids)


def get_agents(conn: Connection, client_ids: set[str]) -> dict[str, AgentRecord]:
    """Several agents by id (without their resource lists, which callers here do not need)."""
    return {row.client_id: _record(row, ()) for row in _by_ids(conn, client_ids, active_only=False)}


def _by_ids(conn: Connection, client_ids: set[str], *, active_only: bool) -> list[Any]:
    ids = sorted(client_ids)
    if not ids:
        return []
    params = {f"c{i}": client_id for i, client_id in enumerate(ids)}
    return fast.rows(conn, _by_ids_statement(len(ids), active_only), params)


@functools.lru_cache(maxsize=128)
def _by_ids_statement(count: int, active_only: bool) -> fast.Sql:
    # One text per list length (the exchange path's parties); only placeholder names are
    # formatted in, the values are bound.
    names = ", ".join(f":c{i}" for i in range(count))
    status = " AND status = 'active'" if active_only else ""
    return fast.Sql(f"SELECT {{columns}} FROM agents WHERE client_id IN ({names}){status}", _AGENT_COLUMNS)  # noqa: S608


def holder_of(conn: Connection, resource_uri: str) -> AgentRecord | None:
    """The agent that registered this resource URI, or None."""
    row = fast.first(conn, _HOLDER_BY_RESOURCE, {"uri": resource_uri})
    return None if row is None else _record(row, (resource_uri,))


def list_agents(conn: Connection) -> list[AgentRecord]:
    """Every registered agent, by client id."""
    rows = conn.execute(select(agents).order_by(agents.c.client_id)).all()
    return [_record(row, _resources(conn, row.client_id)) for row in rows]


def client_id_taken(conn: Connection, client_id: str) -> bool:
    """True when an agent's client id equals this one ignoring case (policy.canonical_agent)."""
    row = conn.execute(select(agents.c.client_id).where(func.lower(agents.c.client_id) == client_id.lower()))
    return row.first() is not None


def resources_taken(conn: Connection, uris: tuple[str, ...]) -> bool:
    """True when any of these resource URIs is already registered."""
    row = conn.execute(select(agent_resources.c.resource_uri).where(agent_resources.c.resource_uri.in_(uris)))
    return row.first() is not None


def insert_agent(conn: Connection, agent: AgentRecord) -> None:
    """Store a new agent and its resources."""
    conn.execute(
        insert(agents).values(
            client_id=agent.client_id,
            name=agent.name,
            organization=agent.organization,
            organization_display=agent.organization_display,
            organization_cover=" ".join(sorted(agent.organization_cover)),
            locale=agent.locale,
            jwks=json.dumps(agent.jwks),
            status=agent.status,
            created_at=agent.created_at,
            updated_at=agent.created_at,
        )
    )
    if agent.resource_uris:
        conn.execute(
            insert(agent_resources),
            [{"resource_uri": uri, "client_id": agent.client_id} for uri in agent.resource_uris],
        )


def set_jwks(conn: Connection, client_id: str, jwks: dict[str, Any], updated_at: float) -> None:
    """Store an agent's rotated key set (broker/oauth/agent_keys.py, rotate)."""
    conn.execute(
        update(agents)
        .where(agents.c.client_id == client_id)
        .values(jwks=json.dumps(jwks), updated_at=updated_at)
    )


def set_status(conn: Connection, client_id: str, status: str, now: float) -> None:
    """Suspend or reinstate an agent."""
    conn.execute(update(agents).where(agents.c.client_id == client_id).values(status=status, updated_at=now))
