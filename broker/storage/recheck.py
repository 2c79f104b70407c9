"""Does a decision still hold? The one re-check every token write runs after the log head's lock.

A token is decided on a read snapshot, outside the write transaction, so the write asks whether
what the decision rested on (a `Recheck`) is unchanged: the user's policy version, every party
still active, the agents whose keys it used not rotated since (their `updated_at`), and for a
token exchange the parent token live with every ancestor. It is asked in
two forms that must agree (tests/broker/storage/test_recheck.py):

- read (`holds`): statements whose rows are compared here; SQLite, and single writes anywhere.
- required (PostgreSQL, `REQUIRE_PLAIN_POSTGRESQL` and `requirement`): statements that fail by
  themselves (SQLSTATE DS001 through `discretion_require`, migration 0006), so that a commit group
  sends them unread with its COMMIT (broker/storage/token_group.py).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from broker.storage import fast
from broker.storage.tokens import revoked_from

STALE_SQLSTATE = "DS001"
_CHAIN_LIMIT = 64  # links walked up from a parent; chains are capped far below this


@dataclass(frozen=True, slots=True)
class Recheck:
    """What a decision rested on. A refusal names the user and version (a suspension cannot turn
    it into a token, but a grant committed since might) and the caller's key stamp."""

    user_ref: str
    policy_version: int
    parties: tuple[str, ...] = ()  # agents that must all still be active
    parent_jti: str | None = None  # a token exchange's parent: live, with no revoked ancestor
    # (client id, updated_at) of agents whose keys the decision used: unchanged since (no rotation)
    stamps: tuple[tuple[str, float], ...] = ()


# -- read ---------------------------------------------------------------------------------------


def holds(conn: Connection, rechecks: Sequence[Recheck]) -> bool:
    """True when every recheck still holds: one statement for those without a parent, and one
    (plus a walk up a delegated parent's chain) for each with one."""
    plain = [r for r in rechecks if r.parent_jti is None]
    if plain and not _plain_hold(conn, plain):
        return False
    return all(_delegation_holds(conn, r) for r in rechecks if r.parent_jti is not None)


def _plain_hold(conn: Connection, rechecks: Sequence[Recheck]) -> bool:
    refs = sorted({r.user_ref for r in rechecks})
    agent_ids = sorted({party for r in rechecks for party in (*r.parties, *(a for a, _ in r.stamps))})
    params = {f"r{i}": ref for i, ref in enumerate(refs)} | {f"a{i}": a for i, a in enumerate(agent_ids)}
    found = fast.rows(conn, _plain_statement(len(refs), len(agent_ids)), params)
    current = {row.id: row.version for row in found if row.kind == "u"}
    active = {row.id: row.version for row in found if row.kind == "a"}  # an active agent's updated_at
    return all(
        current.get(r.user_ref) == r.policy_version
        and all(p in active for p in r.parties)
        and all(a in active and active[a] == stamp for a, stamp in r.stamps)
        for r in rechecks
    )


@functools.lru_cache(maxsize=256)
def _plain_statement(refs: int, agent_ids: int) -> fast.Sql:
    # One text per list length, so PostgreSQL prepares each after a few uses. Only placeholder
    # names are formatted in; the values are bound.
    ref_list = ", ".join(f":r{i}" for i in range(refs))
    text = f"SELECT 'u', ref, policy_version FROM users WHERE ref IN ({ref_list})"  # noqa: S608
    if agent_ids:
        agent_list = ", ".join(f":a{i}" for i in range(agent_ids))
        text += (
            f" UNION ALL SELECT 'a', client_id, updated_at FROM agents "  # noqa: S608
            f"WHERE client_id IN ({agent_list}) AND status = 'active'"
        )
    return fast.Sql(text, ("kind", "id", "version"))


def _delegation_holds(conn: Connection, recheck: Recheck) -> bool:
    ids, party_params = _party_parameters(recheck)
    params = (
        {"ref": recheck.user_ref, "parent": recheck.parent_jti} | party_params | _stamp_parameters(recheck)
    )
    row = fast.first(conn, _delegation_statement(len(ids), len(recheck.stamps)), params)
    if row is None or row.version != recheck.policy_version or row.active != len(ids) or row.parent_live != 1:
        return False
    return not revoked_from(conn, row.grandparent)


def _stamp_condition(stamps: int) -> str:
    # Each stamped agent's updated_at must be the one seen; any other agent passes. Only
    # placeholder names are formatted in.
    if not stamps:
        return ""
    cases = " ".join(f"WHEN :k{i} THEN :s{i}" for i in range(stamps))
    return f" AND updated_at = CASE client_id {cases} ELSE updated_at END"


def _stamp_parameters(recheck: Recheck) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for i, (client_id, stamp) in enumerate(recheck.stamps):
        params[f"k{i}"], params[f"s{i}"] = client_id, float(stamp)
    return params


@functools.lru_cache(maxsize=64)
def _delegation_statement(parties: int, stamps: int = 0) -> fast.Sql:
    # One text per number of parties and stamps; only placeholder names are formatted in.
    party_list = ", ".join(f":p{i}" for i in range(parties))
    return fast.Sql(
        "SELECT (SELECT policy_version FROM users WHERE ref = :ref) AS version, "  # noqa: S608
        f"(SELECT count(*) FROM agents WHERE client_id IN ({party_list}) AND status = 'active'"
        f"{_stamp_condition(stamps)}) AS active, "
        "(SELECT count(*) FROM tokens WHERE jti = :parent AND revoked_at IS NULL) AS parent_live, "
        "(SELECT parent_jti FROM tokens WHERE jti = :parent) AS grandparent",
        ("version", "active", "parent_live", "grandparent"),
    )


def _party_parameters(recheck: Recheck) -> tuple[list[str], dict[str, Any]]:
    # The distinct parties, and their placeholders :p0, :p1, ... as both forms name them.
    ids = sorted(set(recheck.parties))
    return ids, {f"p{i}": party for i, party in enumerate(ids)}


# -- required (PostgreSQL) ------------------------------------------------------------------------

# The rechecks without a parent as one statement that fails unless every one holds, to be part of
# a bigger statement (broker/storage/token_group.py); its parameters come from `plain_parameters`.
REQUIRE_PLAIN_POSTGRESQL = (
    "SELECT discretion_require("
    "(SELECT count(*) FROM users "
    "JOIN json_to_recordset(%(current_users)s::json) AS e(ref text, version int8) "
    "ON users.ref = e.ref AND users.policy_version = e.version) = %(current_user_count)s "
    "AND (SELECT count(*) FROM agents WHERE client_id IN "
    "(SELECT json_array_elements_text(%(current_agents)s::json)) AND status = 'active') "
    "= %(current_agent_count)s "
    "AND (SELECT count(*) FROM agents "
    "JOIN json_to_recordset(%(current_stamps)s::json) AS s(client_id text, stamp float8) "
    "ON agents.client_id = s.client_id AND agents.updated_at = s.stamp AND agents.status = 'active') "
    "= %(current_stamp_count)s, "
    "'a decision went stale')"
)


def plain_parameters(rechecks: Sequence[Recheck]) -> dict[str, Any]:
    """The parameters of REQUIRE_PLAIN_POSTGRESQL for the rechecks without a parent: each distinct
    (user ref, policy version) must match a user's row and each distinct party must be active, so
    the counts must equal the lists' lengths (a user wanted at two versions matches at most one)."""
    plain = [r for r in rechecks if r.parent_jti is None]
    wanted = sorted({(r.user_ref, r.policy_version) for r in plain})
    agent_ids = sorted({party for r in plain for party in r.parties})
    # Two requests of a group that saw an agent at different stamps cannot both hold: the count
    # then falls short and the group is written one by one.
    stamps = sorted({(client_id, float(stamp)) for r in plain for client_id, stamp in r.stamps})
    return {
        "current_users": json.dumps([{"ref": ref, "version": version} for ref, version in wanted]),
        "current_user_count": len(wanted),
        "current_agents": json.dumps(agent_ids),
        "current_agent_count": len(agent_ids),
        "current_stamps": json.dumps([{"client_id": c, "stamp": stamp} for c, stamp in stamps]),
        "current_stamp_count": len(stamps),
    }


def requirement(recheck: Recheck) -> tuple[fast.Sql, dict[str, Any]]:
    """A recheck with a parent as one statement that fails by itself when it does not hold, and
    its parameters. The walk up from the parent is a recursive query that must reach a root within
    64 links, every link unrevoked, so a revoked or vanished ancestor, or a cycle, fails it."""
    ids, party_params = _party_parameters(recheck)
    params = {
        "ref": recheck.user_ref,
        "version": recheck.policy_version,
        "parent": recheck.parent_jti,
        "parties": len(ids),
    }
    return _requirement_statement(len(ids), len(recheck.stamps)), params | party_params | _stamp_parameters(
        recheck
    )


@functools.lru_cache(maxsize=64)
def _requirement_statement(parties: int, stamps: int = 0) -> fast.Sql:
    party_list = ", ".join(f":p{i}" for i in range(parties))
    return fast.Sql(  # only placeholder names are formatted in
        "WITH RECURSIVE up (jti, parent_jti, revoked_at, depth) AS ("  # noqa: S608
        "SELECT jti, parent_jti, revoked_at, 0 FROM tokens WHERE jti = :parent "
        "UNION ALL SELECT t.jti, t.parent_jti, t.revoked_at, up.depth + 1 "
        f"FROM tokens AS t JOIN up ON t.jti = up.parent_jti WHERE up.depth < {_CHAIN_LIMIT}) "
        "SELECT discretion_require("
        "(SELECT policy_version FROM users WHERE ref = :ref) = :version "
        f"AND (SELECT count(*) FROM agents WHERE client_id IN ({party_list}) AND status = 'active'"
        f"{_stamp_condition(stamps)}) = :parties "
        "AND EXISTS (SELECT 1 FROM up WHERE parent_jti IS NULL) "
        "AND NOT EXISTS (SELECT 1 FROM up WHERE revoked_at IS NOT NULL), "
        "'a delegation went stale')"
    )
