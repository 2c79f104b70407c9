"""A user's own grants, lists and activity."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response, status

from broker.api.deps import CurrentUser, Me
from broker.api.json_bodies import StrictJSONRoute
from broker.api.schemas import (
    BudgetIn,
    EntryAdded,
    EntryIn,
    EntryOut,
    GrantIn,
    GrantList,
    GrantOut,
    ListOut,
    ModeIn,
    ModeOut,
    OrganizationOut,
)

router = APIRouter(prefix="/v1/me", tags=["me"], route_class=StrictJSONRoute)


def _now(request: Request) -> float:
    return request.app.state.ctx.clock()  # type: ignore[no-any-return]


@router.post("/grants", status_code=status.HTTP_201_CREATED)
def create_grant(body: GrantIn, user: CurrentUser, service: Me, request: Request) -> GrantOut:
    """Grant an agent or an organization access to one resource."""
    grant = service.create_grant(user, body.model_dump())
    return GrantOut.of(grant, _now(request))


@router.get("/grants")
def list_grants(user: CurrentUser, service: Me, request: Request) -> GrantList:
    """The user's grants, with their status."""
    now = _now(request)
    return GrantList(grants=[GrantOut.of(g, now) for g in service.grants(user)])


@router.delete("/grants/{grant_id}")
def revoke_grant(grant_id: str, user: CurrentUser, service: Me, request: Request) -> GrantOut:
    """Revoke a grant and every live token issued under it."""
    return GrantOut.of(service.revoke_grant(user, grant_id), _now(request))


@router.put("/grants/{grant_id}/budget")
def set_budget(grant_id: str, body: BudgetIn, user: CurrentUser, service: Me, request: Request) -> GrantOut:
    """Set a grant's budgets: tokens per hour and disclosures per day (null: unlimited)."""
    grant = service.set_budget(
        user, grant_id, tokens_per_hour=body.tokens_per_hour, disclosures_per_day=body.disclosures_per_day
    )
    return GrantOut.of(grant, _now(request))


@router.post("/blocklist", status_code=status.HTTP_201_CREATED)
def add_entry(body: EntryIn, user: CurrentUser, service: Me, response: Response) -> EntryAdded:
    """Block (or allow) an organization, a locale or an agent; effective before this returns.

    An organization is named by id, name, alias or domain and covers its subsidiaries and their
    agents; a name may resolve to several organizations (one entry each, all in `entries`). A
    value that names nothing registered is kept and answered with `warnings` (and `suggestions`)."""
    outcome = service.block(user, kind=body.kind, value=body.value, effect=body.effect, note=body.note)
    if not outcome.created:
        response.status_code = status.HTTP_200_OK
    first = EntryOut.of(outcome.entries[0])
    return EntryAdded(
        **first.model_dump(),
        entries=[EntryOut.of(e) for e in outcome.entries],
        warnings=list(outcome.warnings),
        suggestions=[OrganizationOut.of(o) for o in outcome.suggestions],
        resolved=[OrganizationOut.of(o) for o in outcome.resolved],
    )


@router.get("/blocklist")
def list_entries(user: CurrentUser, service: Me) -> ListOut:
    """The list mode and entries."""
    mode, entries = service.entries(user)
    return ListOut(mode=mode, entries=[EntryOut.of(e) for e in entries])


@router.delete("/blocklist/{entry_id}")
def remove_entry(entry_id: str, user: CurrentUser, service: Me) -> EntryOut:
    """Remove an entry."""
    return EntryOut.of(service.remove_entry(user, entry_id))


@router.put("/blocklist/mode")
def set_mode(body: ModeIn, user: CurrentUser, service: Me) -> ModeOut:
    """Switch between blocklist and allowlist-only mode."""
    return ModeOut(mode=service.set_mode(user, body.mode))


@router.get("/activity")
def activity(
    user: CurrentUser,
    service: Me,
    limit: int = Query(default=50, ge=1, le=200),
    before: int | None = Query(default=None, ge=1, le=2**62),
) -> dict[str, Any]:
    """Which agent got which token for my data, when, and what was refused."""
    return service.activity(user, limit=limit, before=before)
