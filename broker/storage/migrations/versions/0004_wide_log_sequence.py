"""64-bit grant-log sequence numbers on PostgreSQL

PostgreSQL's INTEGER is 32 bits: at a thousand grants a second the log's sequence would run out
in under a month, and every later action would then fail. SQLite's INTEGER is already 64 bits, so
this changes nothing there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# (table, column) pairs that hold a log position, a tree size or a feed cursor.
_WIDENED = [
    ("grant_log", "seq"),
    ("grant_log_terms", "seq"),
    ("log_head", "size"),
    ("checkpoints", "tree_size"),
    ("revocations", "seq"),
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in _WIDENED:
        op.alter_column(
            table, column, type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False
        )
    # The feed cursor's sequence was created as an INTEGER sequence along with its column.
    op.execute("ALTER SEQUENCE IF EXISTS revocations_seq_seq AS bigint")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER SEQUENCE IF EXISTS revocations_seq_seq AS integer")
    for table, column in _WIDENED:
        op.alter_column(
            table, column, type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False
        )
