"""The auditor's pages: the grant log as a filterable table with a chart of decisions by reason,
the latest checkpoint and whether the log verifies against it, an event's inclusion proof and a
decision's reconstruction, and exports. Built on the auditor service (broker/services/audit_*)."""

from __future__ import annotations

import calendar
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from broker.errors import BrokerError
from broker.grantlog.log import AuditLog
from broker.grantlog.queries import AuditQueries, LogFilter
from broker.services.console import ConsoleService
from broker.validation import parse_whole_number
from broker.web import chart
from broker.web.console import (
    PREFIX,
    AuditorForm,
    AuditorVisitor,
    format_time,
    now,
    page,
    redirect,
)
from broker.web.routes_user import REASONS

router = APIRouter(prefix=PREFIX + "/audit", include_in_schema=False)
PAGE = 100
CHART_DAYS = 7
EVENT_TYPES = (
    "token.issued",
    "token.denied",
    "token.delegated",
    "token.delegation_denied",
    "token.revoked",
    "data.disclosed",
    "grant.created",
    "grant.revoked",
    "list.entry_added",
    "list.entry_removed",
    "list.mode_changed",
    "agent.registered",
    "agent.keys_rotated",
    "agent.suspended",
    "agent.reinstated",
    "purpose.registered",
    "purpose.retired",
    "user.created",
    "auditor.created",
    "admin.key_created",
    "signing_key.created",
    "signing_key.rotated",
)
FILTER_FIELDS = ("subject", "agent", "resource", "type", "decision", "reason", "since", "until", "jti")


def _log(request: Request) -> AuditLog:
    return request.app.state.audit_log  # type: ignore[no-any-return]


def _queries(request: Request) -> AuditQueries:
    return request.app.state.audit_queries  # type: ignore[no-any-return]


def _epoch(text: str) -> float | None:
    """A datetime-local value (read as UTC) or epoch seconds."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(parse_whole_number(text, low=0, high=2**40))
    except ValueError:
        pass
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return float(calendar.timegm(time.strptime(text, fmt)))
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date and time")


def _filters(
    subject: str = Query(default="", max_length=40),
    agent: str = Query(default="", max_length=128),
    resource: str = Query(default="", max_length=2048),
    type: str = Query(default="", max_length=40),
    decision: str = Query(default="", max_length=16),
    reason: str = Query(default="", max_length=40),
    since: str = Query(default="", max_length=32),
    until: str = Query(default="", max_length=32),
    jti: str = Query(default="", max_length=64),
) -> dict[str, str]:
    return {
        "subject": subject,
        "agent": agent,
        "resource": resource,
        "type": type,
        "decision": decision,
        "reason": reason,
        "since": since,
        "until": until,
        "jti": jti,
    }


Filters = Annotated[dict[str, str], Depends(_filters)]


def _log_filter(form: dict[str, str]) -> LogFilter:
    text = {k: (v.strip() or None) for k, v in form.items() if k not in ("since", "until")}
    return LogFilter(**text, since=_epoch(form["since"]), until=_epoch(form["until"]))


def _console(request: Request) -> ConsoleService:
    return request.app.state.console_reads  # type: ignore[no-any-return]


def _chart(request: Request) -> chart.Chart:
    t = now(request)
    decisions = _console(request).decision_events(since=t - CHART_DAYS * 86400, until=t + 1, limit=50_000)
    since = min((d[0] for d in decisions), default=t - 3600)
    span = t + 1 - since
    pattern = "%H:%M:%S" if span < 86400 else "%m-%d %H:%M"
    return chart.build(
        decisions, since=since, until=t + 1, fmt=lambda s: time.strftime(pattern, time.gmtime(s))
    )


@router.get("")
def audit_log_page(
    request: Request,
    visitor: AuditorVisitor,
    form: Filters,
    cursor: str | None = Query(default=None, max_length=20),
) -> Response:
    """The filterable grant-log table, the checkpoint verdict and the chart."""
    error: str | None = None
    result: dict[str, Any] = {"events": [], "next_cursor": None}
    try:
        result = _queries(request).page(_log_filter(form), cursor=cursor, limit=PAGE)
    except ValueError as exc:
        error = str(exc)
    except BrokerError as exc:
        error = exc.description
    active = {k: v for k, v in form.items() if v}
    # Detections beside decisions (broker/resilience): the agents named in recent detections are
    # marked in the table, and those of the filtered agent (or the newest) are listed by the chart.
    resilience = getattr(request.app.state, "resilience", None)
    detections = (
        resilience.detections(agent=form.get("agent") or None, limit=200) if resilience is not None else []
    )
    flagged = {a: d["kind"] for d in reversed(detections) for a in d["agents"]}
    return page(
        request,
        "audit.html",
        visitor,
        status=422 if error else 200,
        error=error,
        filters=form,
        active=active,
        events=result["events"],
        next_cursor=result["next_cursor"],
        verdict=_console(request).verdict(),
        chart=_chart(request),
        event_types=EVENT_TYPES,
        reasons=sorted(REASONS),
        reason_text=REASONS,
        detections=detections[:8],
        flagged=flagged,
    )


@router.get("/export")
def export(
    request: Request,
    visitor: AuditorVisitor,
    form: Filters,
    format: str = Query(default="jsonl", pattern="^(jsonl|ocsf)$"),
) -> Response:
    """The matching events as JSONL (what `discretion audit verify` reads) or OCSF JSON."""
    del visitor
    try:
        flt = _log_filter(form)
    except ValueError as exc:
        return Response(str(exc), status_code=422, media_type="text/plain")
    queries_ = _queries(request)
    if format == "ocsf":
        body, media, name = queries_.export_ocsf(flt), "application/json", "grant-log.ocsf.json"
    else:
        body, media, name = queries_.export_jsonl(flt), "application/x-ndjson", "grant-log.jsonl"
    return StreamingResponse(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/events/{seq}")
def event_page(seq: int, request: Request, visitor: AuditorVisitor) -> Response:
    """One event: its canonical JSON, inclusion proof under the latest checkpoint, and (for a
    decision) the stored inputs and the engine's replay of them."""
    found = _queries(request).page(LogFilter(), cursor=str(seq - 1) if seq > 0 else "0", limit=1)["events"]
    event = found[0] if found and found[0]["seq"] == seq else None
    if event is None:
        return page(
            request,
            "error.html",
            visitor,
            status=404,
            title="No such event",
            message=f"The grant log has no event {seq}.",
        )
    latest = _log(request).latest_checkpoint()
    reconstruction = _console(request).reconstruction(event)
    return page(
        request,
        "audit_event.html",
        visitor,
        event=event,
        event_json=json.dumps(event, indent=2, sort_keys=True),
        inclusion=_console(request).inclusion(seq, latest),
        checkpoint=latest,
        reconstruction=reconstruction,
        inputs=_inputs(reconstruction),
        reason_text=REASONS,
    )


# Inputs that are times in epoch seconds; shown with their ISO 8601 form beside them.
TIME_INPUTS = frozenset({"now", "expires_at", "issued_at", "not_before", "parent_expires_at"})


def _inputs(reconstruction: dict[str, Any] | None) -> list[tuple[str, str, str | None]]:
    """The engine's inputs as (name, JSON text, ISO time or None): never a Python repr."""
    if reconstruction is None:
        return []
    rows = []
    for key, value in sorted(reconstruction["view"]["inputs"].items()):
        iso = None
        if (key in TIME_INPUTS or key.endswith("_at")) and isinstance(value, int | float):
            iso = format_time(value)
        rows.append((key, json.dumps(value, ensure_ascii=False, sort_keys=True), iso))
    return rows


@router.post("/checkpoints")
def sign_checkpoint(request: Request, form: AuditorForm) -> Response:
    """Sign a checkpoint of the log as it is now (as POST /v1/audit/checkpoints does)."""
    _log(request).checkpoint()
    back = form.get("back")
    try:
        return redirect(request, f"/audit/events/{parse_whole_number(back, low=1, high=2**62)}", form.visitor)
    except ValueError:
        pass
    return redirect(request, "/audit", form.visitor)
