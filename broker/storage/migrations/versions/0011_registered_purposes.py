"""registered purposes: a purpose vocabulary, and grants that list registered purposes

Each grant's former free-text `purpose` becomes a registered purpose (the text itself when it is a
valid code, else a code derived from it, with the former text as its description) and the grant's
one-element `purposes` list, so that existing grants keep working. Downgrading keeps a grant's first
purpose as its `purpose`.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 19:00:00
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# broker.validation.check_purpose's grammar (a migration keeps its own copy: it must not change).
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")


def _code(text: str) -> str:
    if _CODE.fullmatch(text):
        return text
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    base = "-".join(re.findall(r"[a-z0-9]+", ascii_text))[:48].strip("-")
    # A digest suffix: two different texts never merge into one purpose.
    suffix = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{base}-{suffix}" if base else f"purpose-{suffix}"


def _description(text: str) -> str:
    described = " ".join(text.split())[:200]
    return described if described and described.isprintable() else "registered from an existing grant"


def upgrade() -> None:
    op.create_table(
        "purposes",
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("retired_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_purposes")),
    )
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("purposes", sa.Text(), nullable=False, server_default="[]"))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT grant_id, purpose FROM grants WHERE purpose IS NOT NULL")).all()
    registered: dict[str, str] = {}
    for row in rows:
        code = _code(row.purpose)
        registered.setdefault(code, _description(row.purpose))
        conn.execute(
            sa.text("UPDATE grants SET purposes = :purposes WHERE grant_id = :grant_id"),
            {"purposes": json.dumps([code]), "grant_id": row.grant_id},
        )
    now = time.time()
    for code, description in sorted(registered.items()):
        conn.execute(
            sa.text("INSERT INTO purposes (code, description, created_at) VALUES (:c, :d, :t)"),
            {"c": code, "d": description, "t": now},
        )
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("purpose")


def downgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("purpose", sa.String(200), nullable=True))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT grant_id, purposes FROM grants WHERE purposes != '[]'")).all()
    for row in rows:
        listed = json.loads(row.purposes)
        conn.execute(
            sa.text("UPDATE grants SET purpose = :purpose WHERE grant_id = :grant_id"),
            {"purpose": listed[0] if listed else None, "grant_id": row.grant_id},
        )
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("purposes")
    op.drop_table("purposes")
