"""Detections in the console: admins review them and release agents; auditors read them. An
agent's hourly requests and refusals are drawn against its organization's band."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from broker.errors import BrokerError
from broker.resilience.service import Resilience
from broker.web.console import PREFIX, AdminForm, AdminVisitor, AuditorVisitor, Visitor, page, redirect

router = APIRouter(prefix=PREFIX, include_in_schema=False)
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 220, 40, 24, 10


@dataclass(frozen=True, slots=True)
class Plot:
    """An agent's day as polylines and a band polygon, laid out for an inline SVG."""

    requests: str
    refusals: str
    band: str
    ticks: list[tuple[float, int]]
    labels: list[tuple[float, str]]
    rows: list[tuple[str, int, int, int, int]]
    organization: str


def plot(profile: dict[str, Any]) -> Plot:
    """Lay out `Resilience.profile`: x is the hour, y the count."""
    hours = profile["hours"]
    peak = float(max([1, *profile["requests"], *(high for _, high in profile["band"])]))
    step = (WIDTH - LEFT - 10) / max(1, len(hours) - 1)

    def x(i: int) -> float:
        return round(LEFT + i * step, 1)

    def y(v: float) -> float:
        return round(HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP) * v / peak, 1)

    def line(values: list[int]) -> str:
        return " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(values))

    highs = [high for _, high in profile["band"]]
    lows = [low for low, _ in profile["band"]]
    band = line(highs) + " " + " ".join(f"{x(i)},{y(v)}" for i, v in reversed(list(enumerate(lows))))
    ticks = [(y(peak * k / 4), round(peak * k / 4)) for k in range(5)]
    labels = [(x(i), f"{hours[i] % 24:02d}h") for i in range(0, len(hours), 3)]
    rows = [
        (f"{h % 24:02d}:00", r, f, low, high)
        for h, r, f, (low, high) in zip(
            hours, profile["requests"], profile["refusals"], profile["band"], strict=True
        )
    ]
    return Plot(
        line(profile["requests"]),
        line(profile["refusals"]),
        band,
        ticks,
        labels,
        rows,
        profile["organization"],
    )


def _service(request: Request) -> Resilience | None:
    return getattr(request.app.state, "resilience", None)


def _page(
    request: Request, visitor: Visitor, agent: str | None, kind: str | None, *, admin: bool
) -> Response:
    service = _service(request)
    detections = service.detections(agent=agent, kind=kind, limit=200) if service else []
    profile = service.profile(agent) if service and agent else None
    return page(
        request,
        "detections.html",
        visitor,
        detections=detections,
        agent=agent,
        plot=plot(profile) if profile else None,
        admin=admin,
        enabled=service is not None,
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        base=HEIGHT - BOTTOM,
    )


@router.get("/admin/detections")
def admin_detections(
    request: Request,
    visitor: AdminVisitor,
    agent: str | None = Query(default=None, max_length=128),
    kind: str | None = Query(default=None, max_length=40),
) -> Response:
    """Detections with their evidence; release buttons for agents under a response."""
    return _page(request, visitor, agent, kind, admin=True)


@router.get("/audit/detections")
def audit_detections(
    request: Request,
    visitor: AuditorVisitor,
    agent: str | None = Query(default=None, max_length=128),
    kind: str | None = Query(default=None, max_length=40),
) -> Response:
    """Detections beside the decisions, read-only."""
    return _page(request, visitor, agent, kind, admin=False)


@router.post("/admin/agents/{client_id}/release")
def release(client_id: str, request: Request, form: AdminForm) -> Response:
    """Release a throttled or quarantined agent."""
    service = _service(request)
    try:
        if service is None:
            raise BrokerError("resilience is off on this broker")
        service.release(client_id, admin=form.visitor.session.key_id)
    except BrokerError as exc:
        return page(
            request,
            "error.html",
            form.visitor,
            status=exc.status_code,
            title="Not released",
            message=exc.description,
        )
    return redirect(request, "/admin/detections", form.visitor, notice="agent_released")
