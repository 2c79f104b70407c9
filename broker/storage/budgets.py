"""Grant budgets (docs/resilience.md): one conditional upsert spends a unit, on any replica.

`spend` adds one to the grant's counter for the current window unless the counter has reached the
limit, in one statement: SQLite runs it under its single writer, and PostgreSQL's ON CONFLICT DO
UPDATE locks the counter's row and evaluates the condition on its newest version, so two replicas
spending the last unit at once cannot both have it. The limit is read in the same statement from
the grant's row, so a budget lowered meanwhile is the one applied.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, text

from broker.storage.schema import budget_usage

TOKENS = "tokens"
DISCLOSURES = "disclosures"
WINDOW_SECONDS = {TOKENS: 3600, DISCLOSURES: 86400}
_LIMIT_COLUMN = {TOKENS: "tokens_per_hour", DISCLOSURES: "disclosures_per_day"}

# The column name is one of two constants above, never input; the values are bound.
_SPEND = {
    kind: text(
        "INSERT INTO budget_usage (grant_id, kind, window_start, used) "  # noqa: S608
        "SELECT grant_id, CAST(:kind AS VARCHAR(16)), CAST(:window AS INTEGER), 1 FROM grants "
        f"WHERE grant_id = :grant_id AND ({column} IS NULL OR {column} > 0) "
        "ON CONFLICT (grant_id, kind, window_start) DO UPDATE SET used = budget_usage.used + 1 "
        "WHERE budget_usage.used < "
        f"(SELECT coalesce({column}, 2147483647) FROM grants WHERE grant_id = :grant_id) "
        "RETURNING used"
    )
    for kind, column in _LIMIT_COLUMN.items()
}


def window_of(kind: str, now: float) -> tuple[int, float]:
    """The window `now` falls in (its number) and when it ends."""
    length = WINDOW_SECONDS[kind]
    window = int(now // length)
    return window, (window + 1) * length


def spend(conn: Connection, grant_id: str, kind: str, now: float) -> int | None:
    """Spend one unit of the grant's `kind` budget in the current window; returns the units used
    so far, or None when the budget is spent (or is zero)."""
    window, _ = window_of(kind, now)
    row = conn.execute(_SPEND[kind], {"grant_id": grant_id, "kind": kind, "window": window}).first()
    return None if row is None else int(row[0])


def used(conn: Connection, grant_id: str, kind: str, now: float) -> int:
    """Units of the grant's `kind` budget spent in the current window."""
    window, _ = window_of(kind, now)
    row = conn.execute(
        budget_usage.select().where(
            budget_usage.c.grant_id == grant_id,
            budget_usage.c.kind == kind,
            budget_usage.c.window_start == window,
        )
    ).first()
    return 0 if row is None else int(row.used)


def purge(conn: Connection, now: float) -> int:
    """Forget the counters of windows that have ended; returns how many rows went."""
    removed = 0
    for kind, length in WINDOW_SECONDS.items():
        result = conn.execute(
            delete(budget_usage).where(
                budget_usage.c.kind == kind, budget_usage.c.window_start < int(now // length)
            )
        )
        removed += result.rowcount or 0
    return removed
