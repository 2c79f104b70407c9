"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 04:45:46.540603
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("organization", sa.String(length=200), nullable=False),
        sa.Column("organization_display", sa.String(length=200), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("jwks", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_agents")),
    )
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agents_organization"), ["organization"], unique=False)

    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("principal", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_api_keys")),
    )
    op.create_table(
        "assertion_jtis",
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("jti", sa.String(length=256), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti", name=op.f("pk_assertion_jtis")),
    )
    with op.batch_alter_table("assertion_jtis", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assertion_jtis_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "auditors",
        sa.Column("auditor_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("auditor_id", name=op.f("pk_auditors")),
    )
    op.create_table(
        "grant_log",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("subject_ref", sa.String(length=40), nullable=True),
        sa.Column("jti", sa.String(length=64), nullable=True),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_grant_log")),
    )
    with op.batch_alter_table("grant_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grant_log_event_type"), ["event_type"], unique=False)
        batch_op.create_index(batch_op.f("ix_grant_log_jti"), ["jti"], unique=False)
        batch_op.create_index(batch_op.f("ix_grant_log_subject_ref"), ["subject_ref"], unique=False)

    op.create_table(
        "log_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_head")),
    )
    # The single head row that sequences the grant log (see broker.grantlog.events).
    op.execute("INSERT INTO log_head (id, size) VALUES (1, 0)")
    op.create_table(
        "revocations",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("audience", sa.String(length=2048), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_revocations")),
    )
    with op.batch_alter_table("revocations", schema=None) as batch_op:
        batch_op.create_index("ix_revocations_audience_seq", ["audience", "seq"], unique=False)

    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("public_jwk", sa.Text(), nullable=False),
        sa.Column("private_key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("retired_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )
    op.create_table(
        "tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("user_ref", sa.String(length=40), nullable=False),
        sa.Column("grant_id", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("holder_id", sa.String(length=128), nullable=False),
        sa.Column("audience", sa.String(length=2048), nullable=False),
        sa.Column("parties", sa.Text(), nullable=False),
        sa.Column("parent_jti", sa.String(length=64), nullable=True),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_tokens")),
    )
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tokens_grant_id"), ["grant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tokens_parent_jti"), ["parent_jti"], unique=False)
        batch_op.create_index("ix_tokens_user_live", ["user_ref", "expires_at"], unique=False)

    op.create_table(
        "users",
        sa.Column("ref", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=False),
        sa.Column("list_mode", sa.String(length=16), nullable=False),
        sa.Column("policy_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("ref", name=op.f("pk_users")),
        sa.UniqueConstraint("user_id", name=op.f("uq_users_user_id")),
    )
    op.create_table(
        "agent_resources",
        sa.Column("resource_uri", sa.String(length=2048), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["agents.client_id"], name=op.f("fk_agent_resources_client_id_agents")
        ),
        sa.PrimaryKeyConstraint("resource_uri", name=op.f("pk_agent_resources")),
    )
    with op.batch_alter_table("agent_resources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_resources_client_id"), ["client_id"], unique=False)

    op.create_table(
        "grants",
        sa.Column("grant_id", sa.String(length=40), nullable=False),
        sa.Column("user_ref", sa.String(length=40), nullable=False),
        sa.Column("agent", sa.String(length=128), nullable=True),
        sa.Column("organization", sa.String(length=200), nullable=True),
        sa.Column("resource", sa.String(length=2048), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("max_ttl_seconds", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("max_delegation_depth", sa.Integer(), nullable=False),
        sa.Column("reveal", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["user_ref"], ["users.ref"], name=op.f("fk_grants_user_ref_users")),
        sa.PrimaryKeyConstraint("grant_id", name=op.f("pk_grants")),
    )
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.create_index("ix_grants_user_resource", ["user_ref", "resource"], unique=False)

    op.create_table(
        "list_entries",
        sa.Column("entry_id", sa.String(length=40), nullable=False),
        sa.Column("user_ref", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("effect", sa.String(length=8), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["user_ref"], ["users.ref"], name=op.f("fk_list_entries_user_ref_users")),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_list_entries")),
        sa.UniqueConstraint("user_ref", "kind", "value", "effect", name="uq_list_entries_rule"),
    )
    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_list_entries_user_ref"), ["user_ref"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_list_entries_user_ref"))

    op.drop_table("list_entries")
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_index("ix_grants_user_resource")

    op.drop_table("grants")
    with op.batch_alter_table("agent_resources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_resources_client_id"))

    op.drop_table("agent_resources")
    op.drop_table("users")
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_tokens_user_live")
        batch_op.drop_index(batch_op.f("ix_tokens_parent_jti"))
        batch_op.drop_index(batch_op.f("ix_tokens_grant_id"))

    op.drop_table("tokens")
    op.drop_table("signing_keys")
    with op.batch_alter_table("revocations", schema=None) as batch_op:
        batch_op.drop_index("ix_revocations_audience_seq")

    op.drop_table("revocations")
    op.drop_table("log_head")
    with op.batch_alter_table("grant_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grant_log_subject_ref"))
        batch_op.drop_index(batch_op.f("ix_grant_log_jti"))
        batch_op.drop_index(batch_op.f("ix_grant_log_event_type"))

    op.drop_table("grant_log")
    op.drop_table("auditors")
    with op.batch_alter_table("assertion_jtis", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assertion_jtis_expires_at"))

    op.drop_table("assertion_jtis")
    op.drop_table("api_keys")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agents_organization"))

    op.drop_table("agents")
