"""discretion_require(): a statement that fails when its condition does not hold (PostgreSQL)

A token commit group's last statement re-checks its decisions and is sent in one pipeline with
the COMMIT (broker/storage/token_group.py): nothing reads its result before the commit, so a stale
decision must fail the statement itself, which then aborts the transaction. SQL has no way to
raise an error of its own choosing; this PL/pgSQL function is that, with SQLSTATE DS001. SQLite
runs the check in the broker's process and needs nothing.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 09:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION discretion_require(holds boolean, failure text) RETURNS boolean
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            IF holds IS NOT TRUE THEN
                RAISE EXCEPTION USING ERRCODE = 'DS001', MESSAGE = failure;
            END IF;
            RETURN true;
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS discretion_require(boolean, text)")
