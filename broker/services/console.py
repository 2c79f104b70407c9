"""What the web console reads and checks, so that its pages hold no SQL, verifier or replay of
their own: API keys and principals, listings, a user's events, the auditors' chart data, the
checkpoint verdict, inclusion proofs and a decision's reconstruction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from broker.context import ServiceContext
from broker.grantlog import verify
from broker.grantlog.checkpoint_keys import verifiers_by_id
from broker.grantlog.checkpoints import NoteError, verify_checkpoint
from broker.grantlog.log import AuditLog
from broker.grantlog.merkle import ProofError, verify_inclusion
from broker.grantlog.queries import AuditQueries, LogFilter
from broker.grantlog.replay import REPLAYABLE, replay_log
from broker.storage import console_reads, grant_log
from broker.storage.console_reads import KeyState

Decided = tuple[float, str, list[str]]  # time, decision, reasons
DECISION_TYPES = ("token.issued", "token.denied", "token.delegated", "token.delegation_denied")

__all__ = ["DECISION_TYPES", "ConsoleService", "KeyState"]


class ConsoleService:
    """Read-only views for the console's pages."""

    def __init__(self, ctx: ServiceContext, audit_log: AuditLog, queries: AuditQueries) -> None:
        self._ctx = ctx
        self._log = audit_log
        self._queries = queries

    def key_state(self, key_id: str) -> KeyState | None:
        """The role, principal and revocation of an API key, by id (never its secret)."""
        with self._ctx.store.read() as conn:
            return console_reads.key_state(conn, key_id)

    def listings(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Users and auditors, newest first, for the admin's page."""
        with self._ctx.store.read() as conn:
            return console_reads.user_listing(conn), console_reads.auditor_listing(conn)

    def user_events(self, user_ref: str, *, limit: int, before: int | None) -> list[dict[str, Any]]:
        """The user's log events in full (redaction counts and chains included), newest first."""
        with self._ctx.store.read() as conn:
            rows = grant_log.subject_events(conn, user_ref, limit=limit, before=before)
        return [json.loads(event) for _, event in rows]

    def decision_events(
        self, *, since: float, until: float, limit: int
    ) -> list[tuple[float, str, list[str]]]:
        """(time, decision, reasons) of the token decisions in [since, until), oldest first."""
        with self._ctx.store.read() as conn:
            rows = grant_log.events_of_types_between(
                conn, DECISION_TYPES, since=since, until=until, limit=limit
            )
        out = []
        for ts, text in reversed(rows):
            event = json.loads(text)
            out.append((ts, str(event.get("decision") or ""), list(event.get("reasons") or [])))
        return out

    def verdict(self) -> dict[str, Any]:
        """The latest checkpoint, its signature, and whether the whole stored log verifies against
        it (the same offline check as `discretion audit verify`, run over the export)."""
        latest = self._log.latest_checkpoint()
        if latest is None:
            return {"checkpoint": None, "ok": False, "problems": ["no checkpoint has been signed yet"]}
        with self._ctx.store.read() as conn:
            verifiers = list(verifiers_by_id(conn).values())
        try:
            verify_checkpoint(latest["note"], verifiers, origin=self._log.origin)
            signature = True
        except NoteError:
            signature = False
        report = verify.verify(self._queries.export_jsonl(LogFilter()), [latest["note"]], verifiers)
        covered = min(int(latest["tree_size"]), report.events)
        return {
            "checkpoint": latest,
            "signature": signature,
            "ok": signature and report.ok,
            "events": report.events,
            "covered": covered,
            "uncovered": report.uncovered,
            # The share of the stored log the checkpoint vouches for, rounded down so that "100 %"
            # is only ever said of a log the checkpoint covers entirely.
            "covered_percent": (covered * 100) // report.events if report.events else 100,
            "problems": report.problems,
        }

    def inclusion(self, seq: int, latest: dict[str, Any] | None) -> dict[str, Any]:
        """Event `seq`'s inclusion proof under the checkpoint `latest`, checked against its root."""
        if latest is None or seq > int(latest["tree_size"]):
            return {"covered": False}
        proof = self._log.inclusion_proof(seq, int(latest["tree_size"]))
        try:
            verify_inclusion(
                bytes.fromhex(proof["leaf_hash"]),
                proof["leaf_index"],
                proof["tree_size"],
                [bytes.fromhex(p) for p in proof["path"]],
                bytes.fromhex(latest["root_hash"]),
            )
            verified = True
        except (ProofError, ValueError):
            verified = False
        return {"covered": True, "proof": proof, "verified": verified}

    def reconstruction(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """For a decision: its stored inputs and the policy engine's replay of them."""
        if event["type"] not in DECISION_TYPES:
            return None
        view = self._queries.decision(seq=event["seq"])
        replay = None
        if event["type"] in REPLAYABLE:
            # Fold the log up to this decision and run the policy engine on the stored inputs.
            def upto() -> Iterator[dict[str, Any]]:
                for text, _ in self._queries.rows(LogFilter()):
                    item = json.loads(text)
                    if item["seq"] > event["seq"]:
                        return
                    yield item

            results = replay_log(upto(), self._ctx.limits, seq=event["seq"])
            replay = results[0] if results else None
        return {"view": view, "replay": replay}
