"""how far pruning has walked the grant log

Expired tokens are found through the grant log, which records every token in order, so the hot
tokens table needs no index on expiry (one measured about 8 % of grants/s).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prune_marks",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tokens_through", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prune_marks")),
    )
    op.execute("INSERT INTO prune_marks (id, tokens_through) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("prune_marks")
