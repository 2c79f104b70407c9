"""Auditor queries over the grant log: filters, cursor pages, JSONL and OCSF exports, decisions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from broker.context import ServiceContext
from broker.errors import NotFound, Unprocessable
from broker.grantlog.events import EventType
from broker.storage import grant_log as store
from broker.storage.grant_log import LogFilter
from broker.validation import parse_whole_number

# A cursor is a log position: 18 digits is more than any log will reach, and stays within int64.
MAX_CURSOR = 10**18 - 1

__all__ = ["AuditQueries", "LogFilter", "decision_view", "to_ocsf"]

MAX_PAGE = 1000
_EXPORT_BATCH = 5000
_DECISION_TYPES = (
    EventType.TOKEN_ISSUED,
    EventType.TOKEN_DENIED,
    EventType.TOKEN_DELEGATED,
    EventType.DELEGATION_DENIED,
)


def _cursor(text: str | None) -> int:
    if text is None:
        return 0
    try:
        return parse_whole_number(text, low=0, high=MAX_CURSOR)
    except ValueError:
        raise Unprocessable("bad cursor") from None


class AuditQueries:
    """Read-only views of the grant log for auditors."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def page(self, flt: LogFilter, *, cursor: str | None, limit: int) -> dict[str, Any]:
        """Matching events in log order after the cursor; `next_cursor` is null on the last page."""
        if not 0 < limit <= MAX_PAGE:
            raise Unprocessable(f"limit must be 1..{MAX_PAGE}")
        with self._ctx.store.read() as conn:
            rows = store.matching_events(conn, flt, after=_cursor(cursor), limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "events": [json.loads(event) for _, event, _ in rows],
            "next_cursor": str(rows[-1][0]) if more else None,
        }

    def rows(self, flt: LogFilter) -> Iterator[tuple[str, str]]:
        """Every matching (event text, leaf hash) in log order, read in batches."""
        after = 0
        while True:
            with self._ctx.store.read() as conn:
                batch = store.matching_events(conn, flt, after=after, limit=_EXPORT_BATCH)
            for _, event, leaf in batch:
                yield event, leaf
            if len(batch) < _EXPORT_BATCH:
                return
            after = batch[-1][0]

    def export_jsonl(self, flt: LogFilter) -> Iterator[str]:
        """One line per event: `{"event": ..., "leaf_hash": ...}` (what `audit verify` reads)."""
        for event, leaf in self.rows(flt):
            yield f'{{"event":{event},"leaf_hash":"{leaf}"}}\n'

    def export_ocsf(self, flt: LogFilter) -> Iterator[str]:
        """A JSON array of OCSF API Activity (class 6003) records."""
        yield "["
        first = True
        for event, _ in self.rows(flt):
            yield ("" if first else ",\n") + json.dumps(to_ocsf(json.loads(event)), sort_keys=True)
            first = False
        yield "]\n"

    def decision(self, *, jti: str | None = None, seq: int | None = None) -> dict[str, Any]:
        """The stored decision that issued token `jti` (or the decision event `seq`)."""
        with self._ctx.store.read() as conn:
            row = store.first_event(conn, [str(t) for t in _DECISION_TYPES], jti=jti, seq=seq)
        if row is None:
            raise NotFound("no such decision")
        return decision_view(json.loads(row[1]))


def decision_view(event: dict[str, Any]) -> dict[str, Any]:
    """What an auditor needs to check one decision: inputs, policy version, outcome, reasons."""
    details = event.get("details") or {}
    return {
        "seq": event["seq"],
        "time_ms": event["time_ms"],
        "type": event["type"],
        "jti": event["jti"],
        "kid": event["kid"],
        "policy_version": event["policy_version"],
        "decision": event["decision"],
        "reasons": event["reasons"],
        "denials": details.get("denials", []),
        "grant_id": details.get("grant_id"),
        "lifetime": details.get("lifetime"),
        "actors": event["actors"],
        "subject": event["subject"],
        "resource": event["resource"],
        "scopes_requested": event["scopes_requested"],
        "scopes_granted": event["scopes_granted"],
        "inputs": details.get("inputs", {}),
    }


# OCSF 1.x API Activity: activity_id 1 Create, 2 Read, 3 Update, 4 Delete, 99 Other.
_ACTIVITY = {
    "token.issued": (1, "Create"),
    "token.delegated": (1, "Create"),
    "grant.created": (1, "Create"),
    "list.entry_added": (1, "Create"),
    "agent.registered": (1, "Create"),
    "organization.registered": (1, "Create"),
    "purpose.registered": (1, "Create"),
    "user.created": (1, "Create"),
    "auditor.created": (1, "Create"),
    "admin.key_created": (1, "Create"),
    "signing_key.created": (1, "Create"),
    "list.mode_changed": (3, "Update"),
    "agent.keys_rotated": (3, "Update"),
    "agent.suspended": (3, "Update"),
    "agent.reinstated": (3, "Update"),
    "purpose.retired": (3, "Update"),
    "api_key.rotated": (3, "Update"),
    "api_key.revoked": (4, "Delete"),
    "token.revoked": (4, "Delete"),
    "grant.revoked": (4, "Delete"),
    "list.entry_removed": (4, "Delete"),
}


def to_ocsf(event: dict[str, Any]) -> dict[str, Any]:
    """One grant-log event as an OCSF API Activity record; the original rides in `unmapped`."""
    activity_id, activity = _ACTIVITY.get(event["type"], (99, "Other"))
    denied = event.get("decision") == "deny"
    actors = event.get("actors") or []
    record: dict[str, Any] = {
        "class_uid": 6003,
        "class_name": "API Activity",
        "category_uid": 6,
        "category_name": "Application Activity",
        "activity_id": activity_id,
        "activity_name": activity,
        "type_uid": 600300 + activity_id,
        "time": event["time_ms"],
        "severity_id": 1,
        "severity": "Informational",
        "status_id": 2 if denied else 1,
        "status": "Failure" if denied else "Success",
        "status_detail": " ".join(event.get("reasons") or []) or None,
        "api": {"operation": event["type"], "service": {"name": "discretion-broker"}},
        "actor": {
            "app_name": actors[-1] if actors else None,
            "user": {"uid": event.get("subject"), "type": "User"} if event.get("subject") else None,
            "authorizations": [
                {"decision": event.get("decision"), "policy": {"version": event["policy_version"]}}
            ],
        },
        "src_endpoint": {"svc_name": actors[0] if actors else "discretion-broker"},
        "resources": [{"uid": event["resource"], "type": "resource"}] if event.get("resource") else [],
        "metadata": {
            "version": "1.3.0",
            "product": {"name": "Discretion", "vendor_name": "Discretion"},
            "log_name": "grant_log",
            "sequence": event["seq"],
            "uid": str(event["seq"]),
        },
        "unmapped": event,
    }
    return record
