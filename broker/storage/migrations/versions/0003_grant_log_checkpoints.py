"""grant log: query index, checkpoint signing keys, signed checkpoints

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 09:00:00
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    terms = op.create_table(
        "grant_log_terms",
        sa.Column("term", sa.String(length=2100), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("term", "seq", name=op.f("pk_grant_log_terms")),
    )
    op.create_table(
        "checkpoint_keys",
        sa.Column("key_id", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("verifier_key", sa.Text(), nullable=False),
        sa.Column("private_key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("retired_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_checkpoint_keys")),
    )
    op.create_table(
        "checkpoints",
        sa.Column("tree_size", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("key_id", sa.String(length=80), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_checkpoints")),
    )
    # Index the events written before this revision (a frozen copy of audit.index_terms, so that
    # later changes to the live rules do not change what this revision did).
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT seq, event FROM grant_log ORDER BY seq")).all()
    values = [{"term": term, "seq": row.seq} for row in rows for term in index_terms(json.loads(row.event))]
    if values:
        op.bulk_insert(terms, values)


def index_terms(body: dict[str, object]) -> list[str]:
    """The query terms of one event, as audit.index_terms computed them at revision 0003."""
    details = body.get("details") or {}
    inputs = details.get("inputs") or {} if isinstance(details, dict) else {}
    actors = list(body.get("actors") or [])  # type: ignore[call-overload]
    parties = [inputs.get(k) for k in ("requester", "holder", "delegate")]
    agents = [*actors, *parties, *(inputs.get("chain") or [])]
    terms = [f"agent:{a}" for a in agents if a]
    if body.get("resource"):
        terms.append(f"resource:{body['resource']}")
    if body.get("decision"):
        terms.append(f"decision:{body['decision']}")
    terms.extend(f"reason:{r}" for r in body.get("reasons") or [])  # type: ignore[attr-defined]
    return list(dict.fromkeys(terms))


def downgrade() -> None:
    op.drop_table("checkpoints")
    op.drop_table("checkpoint_keys")
    op.drop_table("grant_log_terms")
