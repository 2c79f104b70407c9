"""organizations as entities; canonical client ids in agent entries; canonical resource URIs

Free-text organizations become registered ones: one organization per distinct skeleton of the former
normalized names (policy.skeleton), the other spellings kept as aliases; agents, grants and list
entries then name it by id, and each agent records what an organization entry covers for it. Agent
entries take the canonical (lower-case) client id; resource URIs take their canonical form where that
collides with nothing.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-03 15:30:00
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any

import sqlalchemy as sa
from alembic import op
from discretion_wire.resource import normalize_resource

from policy import normalize_organization, skeleton

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None

_ORG_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def _org_id(name: str, taken: set[str]) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    base = "-".join(re.findall(r"[a-z0-9]+", ascii_name))[:56].strip("-")
    if not base or not _ORG_ID.fullmatch(base):
        base = "org-" + hashlib.sha256(name.encode()).hexdigest()[:12]
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    taken.add(candidate)
    return candidate


def _skeleton(name: str) -> str:
    try:
        return skeleton(name)
    except ValueError:
        return name


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("parent_id", sa.String(64), nullable=True),
        sa.Column("identity", sa.String(64), nullable=False),
        sa.Column("country", sa.String(8), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["organizations.org_id"], name=op.f("fk_organizations_parent_id_organizations")
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_organizations")),
    )
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organizations_identity"), ["identity"], unique=False)
    op.create_table(
        "organization_names",
        sa.Column("org_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", sa.String(253), nullable=False),
        sa.Column("skeleton", sa.String(253), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.org_id"], name=op.f("fk_organization_names_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint("org_id", "kind", "value", name=op.f("pk_organization_names")),
    )
    with op.batch_alter_table("organization_names", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organization_names_skeleton"), ["skeleton"], unique=False)
    # A plain ADD/DROP COLUMN: rebuilding `agents` (batch mode) would trip the foreign keys on it.
    op.add_column("agents", sa.Column("organization_cover", sa.Text(), nullable=False, server_default=""))
    _migrate_data()


def _migrate_data() -> None:
    conn = op.get_bind()
    agents = conn.execute(
        sa.text("SELECT client_id, organization, organization_display, created_at FROM agents")
    ).all()
    grant_orgs = conn.execute(
        sa.text("SELECT DISTINCT organization FROM grants WHERE organization IS NOT NULL")
    ).all()
    entries = conn.execute(
        sa.text(
            "SELECT entry_id, user_ref, kind, value, effect FROM list_entries ORDER BY created_at, entry_id"
        )
    ).all()
    # Every former name, with the spelling shown for it.
    shown: dict[str, str] = {}
    first_seen: dict[str, float] = {}
    for a in agents:
        shown.setdefault(a.organization, a.organization_display)
        first_seen[a.organization] = min(first_seen.get(a.organization, a.created_at), a.created_at)
    for g in grant_orgs:
        shown.setdefault(g.organization, g.organization)
    for e in entries:
        if e.kind == "organization":
            shown.setdefault(e.value, e.value)
    by_skeleton: dict[str, list[str]] = {}
    for name in sorted(shown):
        by_skeleton.setdefault(_skeleton(name), []).append(name)
    taken: set[str] = set()
    org_of_name: dict[str, str] = {}
    names_of_org: dict[str, list[tuple[str, str, str]]] = {}
    for _, names in sorted(by_skeleton.items()):
        display = " ".join(shown[names[0]].split())[:200]
        org_id = _org_id(display, taken)
        created = min((first_seen.get(n, 0.0) for n in names), default=0.0)
        conn.execute(
            sa.text(
                "INSERT INTO organizations (org_id, display_name, parent_id, identity, country, created_at) "
                "VALUES (:id, :display, NULL, :id, NULL, :created)"
            ),
            {"id": org_id, "display": display, "created": created},
        )
        rows = [("name", display, _skeleton(display))]
        for other in names:
            value = " ".join(shown[other].split())[:200]
            if value != display:
                rows.append(("alias", value, _skeleton(value)))
        rows = list({(k, v): (k, v, s) for k, v, s in rows}.values())
        names_of_org[org_id] = rows
        for kind, value, sk in rows:
            conn.execute(
                sa.text(
                    "INSERT INTO organization_names (org_id, kind, value, skeleton) VALUES (:o, :k, :v, :s)"
                ),
                {"o": org_id, "k": kind, "v": value, "s": sk},
            )
        for name in names:
            org_of_name[name] = org_id
    for a in agents:
        org_id = org_of_name[a.organization]
        cover = sorted({org_id, *(f"name:{sk}" for _, _, sk in names_of_org[org_id])})
        conn.execute(
            sa.text(
                "UPDATE agents SET organization = :o, organization_display = :d, organization_cover = :c "
                "WHERE client_id = :id"
            ),
            {"o": org_id, "d": names_of_org[org_id][0][1], "c": " ".join(cover), "id": a.client_id},
        )
    for g in grant_orgs:
        conn.execute(
            sa.text("UPDATE grants SET organization = :o WHERE organization = :old"),
            {"o": org_of_name[g.organization], "old": g.organization},
        )
    seen: set[tuple[Any, ...]] = set()
    for e in entries:
        if e.kind == "organization":
            value = org_of_name[e.value]
        elif e.kind == "agent":
            value = e.value.lower()
        else:
            value = e.value
        rule = (e.user_ref, e.kind, value, e.effect)
        if rule in seen:
            conn.execute(sa.text("DELETE FROM list_entries WHERE entry_id = :id"), {"id": e.entry_id})
            continue
        seen.add(rule)
        if value != e.value:
            conn.execute(
                sa.text("UPDATE list_entries SET value = :v WHERE entry_id = :id"),
                {"v": value, "id": e.entry_id},
            )
    _canonical_resources(conn)
    # Every user's lists changed form: decisions in flight decide again.
    conn.execute(sa.text("UPDATE users SET policy_version = policy_version + 1"))


def _canonical_resources(conn: sa.Connection) -> None:
    rows = conn.execute(sa.text("SELECT resource_uri FROM agent_resources ORDER BY resource_uri")).all()
    present = {r.resource_uri for r in rows}
    for r in rows:
        try:
            canonical = normalize_resource(r.resource_uri)
        except ValueError:
            continue  # kept as registered; it can no longer be asked for, so it grants nothing new
        if canonical == r.resource_uri or canonical in present:
            continue
        present.add(canonical)
        conn.execute(
            sa.text("UPDATE agent_resources SET resource_uri = :c WHERE resource_uri = :old"),
            {"c": canonical, "old": r.resource_uri},
        )
        conn.execute(
            sa.text("UPDATE grants SET resource = :c WHERE resource = :old"),
            {"c": canonical, "old": r.resource_uri},
        )


def downgrade() -> None:
    conn = op.get_bind()
    orgs = {
        r.org_id: r.display_name
        for r in conn.execute(sa.text("SELECT org_id, display_name FROM organizations"))
    }
    for org_id, display in orgs.items():
        folded = normalize_organization(display)
        conn.execute(
            sa.text("UPDATE agents SET organization = :n WHERE organization = :o"), {"n": folded, "o": org_id}
        )
        conn.execute(
            sa.text("UPDATE grants SET organization = :n WHERE organization = :o"), {"n": folded, "o": org_id}
        )
        conn.execute(
            sa.text("UPDATE list_entries SET value = :n WHERE kind = 'organization' AND value = :o"),
            {"n": folded, "o": org_id},
        )
    op.execute("ALTER TABLE agents DROP COLUMN organization_cover")
    with op.batch_alter_table("organization_names", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organization_names_skeleton"))
    op.drop_table("organization_names")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organizations_identity"))
    op.drop_table("organizations")
