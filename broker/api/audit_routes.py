"""The auditor API: checkpoints, proofs, queries, exports, decisions; and users' own proofs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse

from broker.api.deps import CurrentUser, Me, _role
from broker.api.json_bodies import StrictJSONRoute
from broker.errors import NotFound
from broker.grantlog.log import AuditLog
from broker.grantlog.queries import MAX_PAGE, AuditQueries, LogFilter
from broker.storage.principals import Principal, Role

router = APIRouter(prefix="/v1", tags=["audit"], route_class=StrictJSONRoute)
# Positions fit a signed 64-bit integer on both stores; larger numbers are refused with 422.
MAX_SEQ = 2**62
AuditorKey = Annotated[Principal, Depends(_role(Role.AUDITOR))]


async def _log(request: Request) -> AuditLog:
    return request.app.state.audit_log  # type: ignore[no-any-return]


async def _queries(request: Request) -> AuditQueries:
    return request.app.state.audit_queries  # type: ignore[no-any-return]


Log = Annotated[AuditLog, Depends(_log)]
Queries = Annotated[AuditQueries, Depends(_queries)]


def _filter(
    subject: str | None = Query(default=None, max_length=40, description="pseudonymous user ref"),
    agent: str | None = Query(default=None, max_length=128, description="in any position of a chain"),
    resource: str | None = Query(default=None, max_length=2048),
    type: str | None = Query(default=None, max_length=40),
    decision: str | None = Query(default=None, max_length=16),
    reason: str | None = Query(default=None, max_length=40),
    since: float | None = Query(default=None, allow_inf_nan=False, description="epoch seconds, inclusive"),
    until: float | None = Query(default=None, allow_inf_nan=False, description="epoch seconds, exclusive"),
    jti: str | None = Query(default=None, max_length=64),
) -> LogFilter:
    return LogFilter(
        subject=subject,
        agent=agent,
        resource=resource,
        type=type,
        decision=decision,
        reason=reason,
        since=since,
        until=until,
        jti=jti,
    )


Filter = Annotated[LogFilter, Depends(_filter)]


@router.get("/audit/checkpoint")
def latest_checkpoint(_: AuditorKey, log: Log) -> dict[str, Any]:
    """The newest signed checkpoint (C2SP signed note in `note`)."""
    latest = log.latest_checkpoint()
    if latest is None:
        raise NotFound("no checkpoint yet")
    return latest


@router.post("/audit/checkpoints")
def make_checkpoint(_: AuditorKey, log: Log) -> dict[str, Any]:
    """Sign a checkpoint of the log as it is now (on demand)."""
    return log.checkpoint()


@router.get("/audit/checkpoints")
def list_checkpoints(
    _: AuditorKey,
    log: Log,
    after: int = Query(default=0, ge=0, le=MAX_SEQ),
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    """Signed checkpoints above a tree size, oldest first."""
    return {"checkpoints": log.checkpoints(after=after, limit=limit)}


@router.get("/audit/keys")
def checkpoint_keys(_: AuditorKey, log: Log) -> dict[str, Any]:
    """Every checkpoint verifier key, retired ones included (they verify old checkpoints)."""
    return {"origin": log.origin, "keys": log.verifier_keys()}


@router.get("/audit/proofs/inclusion")
def inclusion_proof(
    _: AuditorKey,
    log: Log,
    seq: int = Query(ge=1, le=MAX_SEQ),
    tree_size: int | None = Query(default=None, ge=1, le=MAX_SEQ),
) -> dict[str, Any]:
    """RFC 9162 inclusion proof of event `seq` in the tree of `tree_size` (default: latest checkpoint)."""
    return log.inclusion_proof(seq, tree_size)


@router.get("/audit/proofs/consistency")
def consistency_proof(
    _: AuditorKey, log: Log, first: int = Query(ge=1, le=MAX_SEQ), second: int = Query(ge=1, le=MAX_SEQ)
) -> dict[str, Any]:
    """RFC 9162 consistency proof between two tree sizes."""
    return log.consistency_proof(first, second)


@router.get("/audit/events")
def events(
    _: AuditorKey,
    queries: Queries,
    flt: Filter,
    cursor: str | None = Query(default=None, max_length=20),
    limit: int = Query(default=100, ge=1, le=MAX_PAGE),
) -> dict[str, Any]:
    """Events matching every given filter, in log order, a page at a time."""
    return queries.page(flt, cursor=cursor, limit=limit)


@router.get("/audit/export")
def export(
    _: AuditorKey,
    queries: Queries,
    flt: Filter,
    format: str = Query(default="jsonl", pattern="^(jsonl|ocsf)$"),
) -> StreamingResponse:
    """The matching events as JSONL (for `discretion audit verify`) or OCSF API Activity JSON."""
    if format == "ocsf":
        return StreamingResponse(queries.export_ocsf(flt), media_type="application/json")
    return StreamingResponse(queries.export_jsonl(flt), media_type="application/x-ndjson")


@router.get("/audit/decisions/{jti}")
def decision(jti: str, _: AuditorKey, queries: Queries) -> dict[str, Any]:
    """The decision that issued token `jti`: stored inputs, policy version, outcome and reasons."""
    return queries.decision(jti=jti)


@router.get("/audit/events/{seq}/decision")
def decision_at(
    seq: Annotated[int, Path(ge=1, le=MAX_SEQ)], _: AuditorKey, queries: Queries
) -> dict[str, Any]:
    """The decision logged as event `seq` (refusals carry no jti)."""
    return queries.decision(seq=seq)


@router.get("/me/activity/proofs")
def my_activity_with_proofs(
    user: CurrentUser,
    me: Me,
    log: Log,
    limit: int = Query(default=50, ge=1, le=200),
    before: int | None = Query(default=None, ge=1, le=MAX_SEQ),
) -> dict[str, Any]:
    """My activity, each event with its inclusion proof under the latest signed checkpoint."""
    latest = log.latest_checkpoint()
    size = int(latest["tree_size"]) if latest else 0

    def prove(seq: int) -> dict[str, Any] | None:
        return log.inclusion_proof(seq, size) if seq <= size else None

    return {**me.activity(user, limit=limit, before=before, prove=prove), "checkpoint": latest}
