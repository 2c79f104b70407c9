"""delegation and DPoP: proof replay cache, grants that require DPoP

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 05:25:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proof_jtis",
        sa.Column("jkt", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=256), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("jkt", "jti", name=op.f("pk_proof_jtis")),
    )
    with op.batch_alter_table("proof_jtis", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proof_jtis_expires_at"), ["expires_at"], unique=False)
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("require_dpop", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("grants", schema=None) as batch_op:
        batch_op.drop_column("require_dpop")
    with op.batch_alter_table("proof_jtis", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proof_jtis_expires_at"))
    op.drop_table("proof_jtis")
