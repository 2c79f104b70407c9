"""The purpose vocabulary: registered codes with their descriptions, live or retired."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from broker.storage.schema import purposes


@dataclass(frozen=True, slots=True, kw_only=True)
class PurposeRecord:
    """A registered purpose; `retired_at` set means no new grant or token may name it."""

    code: str
    description: str
    created_at: float
    retired_at: float | None = None

    @property
    def live(self) -> bool:
        """Not retired."""
        return self.retired_at is None


def _purpose(row: Any) -> PurposeRecord:
    return PurposeRecord(
        code=row.code, description=row.description, created_at=row.created_at, retired_at=row.retired_at
    )


def all_purposes(conn: Connection) -> list[PurposeRecord]:
    """Every registered purpose, live and retired, by code."""
    return [_purpose(row) for row in conn.execute(select(purposes).order_by(purposes.c.code))]


def get(conn: Connection, code: str) -> PurposeRecord | None:
    """One purpose, or None."""
    row = conn.execute(select(purposes).where(purposes.c.code == code)).first()
    return None if row is None else _purpose(row)


def live_codes(conn: Connection) -> frozenset[str]:
    """The codes of every purpose that is not retired."""
    rows = conn.execute(select(purposes.c.code).where(purposes.c.retired_at.is_(None)))
    return frozenset(row.code for row in rows)


def insert_purpose(conn: Connection, purpose: PurposeRecord) -> None:
    """Store a new purpose."""
    conn.execute(
        insert(purposes).values(
            code=purpose.code,
            description=purpose.description,
            created_at=purpose.created_at,
            retired_at=purpose.retired_at,
        )
    )


def retire(conn: Connection, code: str, now: float) -> None:
    """Mark a purpose retired (it stays readable)."""
    conn.execute(update(purposes).where(purposes.c.code == code).values(retired_at=now))
