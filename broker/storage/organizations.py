"""Registered organizations and their names, aliases and domains (with their skeletons)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from broker.storage.schema import organization_names, organizations

NAME = "name"
ALIAS = "alias"
DOMAIN = "domain"


@dataclass(frozen=True, slots=True)
class OrgName:
    """One name, alias or domain as registered, with its skeleton."""

    kind: str
    value: str
    skeleton: str


@dataclass(frozen=True, slots=True)
class OrganizationRecord:
    """An organization as an admin registered it."""

    org_id: str
    display_name: str
    parent_id: str | None
    identity: str
    country: str | None
    names: tuple[OrgName, ...]
    created_at: float

    @property
    def aliases(self) -> tuple[str, ...]:
        """The legal-name aliases."""
        return tuple(n.value for n in self.names if n.kind == ALIAS)

    @property
    def domains(self) -> tuple[str, ...]:
        """The domains."""
        return tuple(n.value for n in self.names if n.kind == DOMAIN)


def _names(conn: Connection, org_ids: Iterable[str]) -> dict[str, list[OrgName]]:
    ids = sorted(set(org_ids))
    found: dict[str, list[OrgName]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = conn.execute(
        select(organization_names)
        .where(organization_names.c.org_id.in_(ids))
        .order_by(organization_names.c.org_id, organization_names.c.kind, organization_names.c.value)
    )
    for row in rows:
        found[row.org_id].append(OrgName(kind=row.kind, value=row.value, skeleton=row.skeleton))
    return found


def _records(conn: Connection, rows: Sequence[Any]) -> list[OrganizationRecord]:
    names = _names(conn, (r.org_id for r in rows))
    return [
        OrganizationRecord(
            org_id=r.org_id,
            display_name=r.display_name,
            parent_id=r.parent_id,
            identity=r.identity,
            country=r.country,
            names=tuple(names[r.org_id]),
            created_at=r.created_at,
        )
        for r in rows
    ]


def get(conn: Connection, org_id: str) -> OrganizationRecord | None:
    """One organization, or None."""
    rows = conn.execute(select(organizations).where(organizations.c.org_id == org_id)).all()
    found = _records(conn, rows)
    return found[0] if found else None


def list_all(conn: Connection) -> list[OrganizationRecord]:
    """Every organization, by id."""
    rows = conn.execute(select(organizations).order_by(organizations.c.org_id)).all()
    return _records(conn, rows)


def with_skeletons(conn: Connection, skeletons: Iterable[str]) -> list[OrganizationRecord]:
    """The organizations with a name, alias or domain of one of these skeletons."""
    keys = sorted(set(skeletons))
    if not keys:
        return []
    ids = select(organization_names.c.org_id).where(organization_names.c.skeleton.in_(keys))
    rows = conn.execute(
        select(organizations).where(organizations.c.org_id.in_(ids)).order_by(organizations.c.org_id)
    ).all()
    return _records(conn, rows)


def all_skeletons(conn: Connection) -> list[tuple[str, str]]:
    """Every (skeleton, org id), for suggestions."""
    rows = conn.execute(select(organization_names.c.skeleton, organization_names.c.org_id).distinct())
    return [(r.skeleton, r.org_id) for r in rows]


def insert_organization(conn: Connection, org: OrganizationRecord) -> None:
    """Store a new organization and its names."""
    conn.execute(
        insert(organizations).values(
            org_id=org.org_id,
            display_name=org.display_name,
            parent_id=org.parent_id,
            identity=org.identity,
            country=org.country,
            created_at=org.created_at,
        )
    )
    conn.execute(
        insert(organization_names),
        [{"org_id": org.org_id, "kind": n.kind, "value": n.value, "skeleton": n.skeleton} for n in org.names],
    )
