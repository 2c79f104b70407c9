"""Admin routes: agents, users, auditors."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from broker.api.deps import Admin, AdminKey
from broker.api.json_bodies import StrictJSONRoute
from broker.api.schemas import (
    AgentIn,
    AgentList,
    AgentOut,
    AuditorCreated,
    AuditorIn,
    KeyRotationIn,
    UserCreated,
    UserIn,
)

router = APIRouter(prefix="/v1", tags=["admin"], route_class=StrictJSONRoute)


@router.post("/agents", status_code=status.HTTP_201_CREATED)
def register_agent(body: AgentIn, admin: AdminKey, service: Admin) -> AgentOut:
    """Register an agent with its attested organization and locale."""
    agent = service.register_agent(
        client_id=body.client_id,
        name=body.name,
        organization=body.organization,
        locale=body.locale,
        jwks=body.jwks,
        resource_uris=body.resource_uris,
        admin=admin.key_id,
    )
    return AgentOut.of(agent)


@router.get("/agents")
def list_agents(_: AdminKey, service: Admin) -> AgentList:
    """Every registered agent."""
    return AgentList(agents=[AgentOut.of(a) for a in service.list_agents()])


@router.get("/agents/{client_id}")
def get_agent(client_id: str, _: AdminKey, service: Admin, request: Request) -> AgentOut:
    """One agent; `status` is active, throttled, quarantined (broker/resilience) or suspended."""
    agent = AgentOut.of(service.get_agent(client_id))
    resilience = getattr(request.app.state, "resilience", None)
    if resilience is not None:
        agent.status = resilience.status(client_id, agent.status != "active")
    return agent


@router.put("/agents/{client_id}/jwks")
def rotate_agent_keys(client_id: str, body: KeyRotationIn, admin: AdminKey, service: Admin) -> AgentOut:
    """Replace an agent's keys. Keys left out retire (accepted until the tokens bound to them have
    expired); keys named in `compromised` are refused at once and their tokens revoked."""
    agent = service.rotate_keys(
        client_id,
        body.jwks,
        current_kid=body.current_kid,
        compromised_kids=body.compromised,
        admin=admin.key_id,
    )
    return AgentOut.of(agent)


@router.post("/agents/{client_id}/suspend")
def suspend_agent(client_id: str, admin: AdminKey, service: Admin) -> AgentOut:
    """Suspend an agent: no more tokens, and its live tokens are revoked."""
    return AgentOut.of(service.set_suspended(client_id, True, admin=admin.key_id))


@router.post("/agents/{client_id}/reinstate")
def reinstate_agent(client_id: str, admin: AdminKey, service: Admin) -> AgentOut:
    """Lift a suspension."""
    return AgentOut.of(service.set_suspended(client_id, False, admin=admin.key_id))


@router.post("/users", status_code=status.HTTP_201_CREATED)
def create_user(body: UserIn, admin: AdminKey, service: Admin) -> UserCreated:
    """Create a user; the API key in the answer is shown only this once."""
    user, key = service.create_user(body.user_id, admin=admin.key_id)
    return UserCreated(user_id=user.user_id, api_key=key)


@router.post("/auditors", status_code=status.HTTP_201_CREATED)
def create_auditor(body: AuditorIn, admin: AdminKey, service: Admin) -> AuditorCreated:
    """Create an auditor; the API key in the answer is shown only this once."""
    auditor_id, key = service.create_auditor(body.name, admin=admin.key_id)
    return AuditorCreated(auditor_id=auditor_id, name=body.name.strip(), api_key=key)
