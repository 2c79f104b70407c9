"""grant budgets: tokens per hour and disclosures per day on a grant, and their counters

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-03 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("tokens_per_hour", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("disclosures_per_day", sa.Integer(), nullable=True))
    op.create_table(
        "budget_usage",
        sa.Column("grant_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("window_start", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("grant_id", "kind", "window_start", name=op.f("pk_budget_usage")),
    )


def downgrade() -> None:
    op.drop_table("budget_usage")
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("disclosures_per_day")
        batch.drop_column("tokens_per_hour")
