"""resilience: detector state, detections and agents under a response

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "resilience_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", _POSITION, nullable=False),
        sa.Column("cursor", _POSITION, nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("lease_until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resilience_state")),
    )
    op.execute(
        "INSERT INTO resilience_state (id, version, cursor, state, updated_at, owner, lease_until) "
        "VALUES (1, 0, 0, '', 0, '', 0)"
    )
    op.create_table(
        "detections",
        sa.Column("detection_id", sa.String(24), nullable=False),
        sa.Column("seq", _POSITION, nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("released_at", sa.Float(), nullable=True),
        sa.Column("released_by", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("detection_id", name=op.f("pk_detections")),
    )
    op.create_index(op.f("ix_detections_ts"), "detections", ["ts"])
    op.create_table(
        "detection_agents",
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("detection_id", sa.String(24), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "detection_id", name=op.f("pk_detection_agents")),
    )
    op.create_table(
        "agent_watch",
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("until", sa.Float(), nullable=True),
        sa.Column("detection_id", sa.String(24), nullable=False),
        sa.Column("since", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_agent_watch")),
    )


def downgrade() -> None:
    op.drop_table("agent_watch")
    op.drop_table("detection_agents")
    op.drop_index(op.f("ix_detections_ts"), table_name="detections")
    op.drop_table("detections")
    op.drop_table("resilience_state")
