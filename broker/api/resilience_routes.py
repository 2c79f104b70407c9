"""Resilience routes: detections for admins and auditors, releasing an agent for admins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from broker.api.deps import AdminKey, _principal
from broker.errors import Forbidden, NotFound
from broker.resilience.kinds import Kind
from broker.resilience.service import Resilience
from broker.services.principals import Principal, Role

router = APIRouter(prefix="/v1", tags=["resilience"])
_KINDS = "|".join(str(k) for k in Kind)


def _admin_or_auditor(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if principal.role not in (Role.ADMIN, Role.AUDITOR):
        raise Forbidden()
    return principal


async def _resilience(request: Request) -> Resilience:
    found: Resilience | None = getattr(request.app.state, "resilience", None)
    if found is None:
        raise NotFound("resilience is off on this broker")
    return found


Reviewer = Annotated[Principal, Depends(_admin_or_auditor)]
Service = Annotated[Resilience, Depends(_resilience)]


@router.get("/detections")
def list_detections(
    _: Reviewer,
    service: Service,
    since: float | None = Query(default=None, allow_inf_nan=False, description="epoch seconds, inclusive"),
    kind: str | None = Query(default=None, pattern=f"^({_KINDS})$"),
    agent: str | None = Query(default=None, max_length=128),
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    """Detections, newest first: kind, agents, evidence, action, times, status."""
    return {"detections": service.detections(since=since, kind=kind, agent=agent, limit=limit)}


@router.post("/agents/{client_id}/release")
def release_agent(client_id: str, admin: AdminKey, service: Service) -> dict[str, str]:
    """Lift a throttle or quarantine; the agent's open detections are closed as released."""
    service.release(client_id, admin=admin.key_id)
    return {"client_id": client_id, "status": "active"}
