"""The append-only grant log: one canonical JSON event per decision or change.

Events are written inside the transaction of the action they record, so an action whose record
cannot be written does not happen. Events carry pseudonymous user refs and token ids, never a user
id, a token, a key or a data value.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from broker.grantlog.budget import bounded
from broker.storage import Connection, grant_log
from policy import POLICY_VERSION


class EventType(StrEnum):
    """What a log event records."""

    TOKEN_ISSUED = "token.issued"
    TOKEN_DENIED = "token.denied"
    TOKEN_REVOKED = "token.revoked"
    TOKEN_DELEGATED = "token.delegated"
    DELEGATION_DENIED = "token.delegation_denied"
    GRANT_CREATED = "grant.created"
    GRANT_REVOKED = "grant.revoked"
    LIST_ENTRY_ADDED = "list.entry_added"
    LIST_ENTRY_REMOVED = "list.entry_removed"
    LIST_MODE_CHANGED = "list.mode_changed"
    AGENT_REGISTERED = "agent.registered"
    ORGANIZATION_REGISTERED = "organization.registered"
    AGENT_SUSPENDED = "agent.suspended"
    AGENT_REINSTATED = "agent.reinstated"
    # An agent's keys replaced (broker/oauth/agent_keys.py, rotate): kids and thumbprints only.
    AGENT_KEYS_ROTATED = "agent.keys_rotated"
    USER_CREATED = "user.created"
    AUDITOR_CREATED = "auditor.created"
    ADMIN_KEY_CREATED = "admin.key_created"
    SIGNING_KEY_CREATED = "signing_key.created"
    DATA_DISCLOSED = "data.disclosed"
    SIGNING_KEY_ROTATED = "signing_key.rotated"
    # Resilience (broker/resilience): counts the token path saw, detections, responses, releases.
    RESILIENCE_SIGNALS = "resilience.signals"
    RESILIENCE_DETECTED = "resilience.detected"
    AGENT_RELEASED = "agent.released"
    API_KEY_REVOKED = "api_key.revoked"
    API_KEY_ROTATED = "api_key.rotated"
    # Grant budgets (docs/resilience.md): a grant's budget was set, or a disclosure found it spent
    # (a token refused for its budget is a token.denied with reason budget_exhausted).
    GRANT_BUDGET_SET = "grant.budget_set"
    GRANT_BUDGET_EXHAUSTED = "grant.budget_exhausted"
    # The purpose vocabulary (docs/api.md): an admin registered or retired a purpose.
    PURPOSE_REGISTERED = "purpose.registered"
    PURPOSE_RETIRED = "purpose.retired"


def canonical_json(value: Any) -> bytes:
    """Deterministic bytes for hashing and signing: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def leaf_hash(event_bytes: bytes) -> str:
    """RFC 9162 section 2.1.1 leaf hash: SHA-256 over 0x00 || entry (domain separation)."""
    return hashlib.sha256(b"\x00" + event_bytes).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """A log event before it is sequenced."""

    type: EventType
    actors: Sequence[str] = ()
    subject: str | None = None
    resource: str | None = None
    scopes_requested: Sequence[str] = ()
    scopes_granted: Sequence[str] = ()
    decision: str | None = None
    reasons: Sequence[str] = ()
    jti: str | None = None
    kid: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def lock_head(conn: Connection) -> None:
    """Take the log head's row lock now, before reading state a concurrent writer could change."""
    grant_log.lock_head(conn)


_PARTY_INPUTS = ("requester", "holder", "delegate")


def index_terms(body: dict[str, Any]) -> list[str]:
    """The auditor-query terms of an event: every agent in any chain position, its resource,
    decision and reason codes (see grant_log_terms)."""
    inputs = (body.get("details") or {}).get("inputs") or {}
    if not isinstance(inputs, dict):  # stored as a digest (broker/grantlog/budget.py)
        inputs = {}
    chain = inputs.get("chain")
    agents = [
        *body.get("actors", ()),
        *(inputs.get(k) for k in _PARTY_INPUTS),
        *(chain if isinstance(chain, list) else ()),
    ]
    terms = [f"agent:{a}" for a in agents if a and isinstance(a, str)]
    if isinstance(body.get("resource"), str) and body["resource"]:
        terms.append(f"resource:{body['resource']}")
    if body.get("decision"):
        terms.append(f"decision:{body['decision']}")
    terms.extend(f"reason:{r}" for r in body.get("reasons", ()))
    return list(dict.fromkeys(terms))


def append(conn: Connection, event: Event, *, now: float) -> int:
    """Sequence and write one event in the caller's transaction; returns its sequence number."""
    return append_many(conn, [(event, now)])[0]


def append_many(conn: Connection, events: Sequence[tuple[Event, float]]) -> list[int]:
    """Sequence and write several events, in order, in the caller's transaction: the same rows as
    one `append` each, in a fixed number of statements."""
    return write_events(conn, events, last=int(grant_log.reserve_seqs(conn, len(events)).scalar()))


def write_events(conn: Connection, events: Sequence[tuple[Event, float]], *, last: int) -> list[int]:
    """Write the events with the sequence numbers up to `last` reserved for them, in order;
    returns those numbers."""
    rows, terms = event_rows(events, last=last)
    grant_log.insert_events(conn, rows, terms)
    return list(range(last - len(events) + 1, last + 1))


def event_rows(
    events: Sequence[tuple[Event, float]], *, last: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The event and term rows (broker/storage/grant_log.py) for events numbered up to `last`, in
    order. Every log write is built here."""
    first = last - len(events) + 1
    rows: list[dict[str, Any]] = []
    terms: list[dict[str, Any]] = []
    for seq, (event, now) in enumerate(events, start=first):
        # Within the log's size budget (broker/grantlog/budget.py), or EventTooLarge: fail closed.
        body, data = bounded(_body(event, seq, now), canonical_json)
        rows.append(
            {
                "seq": seq,
                "ts": now,
                "event_type": str(event.type),
                "subject_ref": event.subject,
                "jti": event.jti,
                "event": data.decode(),
                "leaf_hash": leaf_hash(data),
            }
        )
        terms.extend({"term": term, "seq": seq} for term in index_terms(body))
    return rows, terms


def _body(event: Event, seq: int, now: float) -> dict[str, Any]:
    return {
        "seq": seq,
        "time_ms": int(now * 1000),
        "type": str(event.type),
        "actors": list(event.actors),
        "subject": event.subject,
        "resource": event.resource,
        "scopes_requested": list(event.scopes_requested),
        "scopes_granted": list(event.scopes_granted),
        "decision": event.decision,
        "reasons": list(event.reasons),
        "policy_version": POLICY_VERSION,
        "jti": event.jti,
        "kid": event.kid,
        "details": event.details,
    }
