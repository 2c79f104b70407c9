"""Organizations: admins register them; admins and users list, search and resolve them (to pick
one to block, allow or grant)."""

from __future__ import annotations

from fastapi import APIRouter, Query, status

from broker.api.deps import AdminKey, AdminOrUser, Organizations
from broker.api.json_bodies import StrictJSONRoute
from broker.api.schemas import OrganizationIn, OrganizationList, OrganizationOut, ResolutionOut

router = APIRouter(prefix="/v1", tags=["organizations"], route_class=StrictJSONRoute)


@router.post("/organizations", status_code=status.HTTP_201_CREATED)
def register_organization(body: OrganizationIn, admin: AdminKey, service: Organizations) -> OrganizationOut:
    """Register an organization; 409 when a name, alias or domain reads the same as another
    organization's, unless `same_as` declares the two the same."""
    org = service.register(
        org_id=body.id,
        name=body.name,
        aliases=body.aliases,
        domains=body.domains,
        parent=body.parent,
        country=body.country,
        same_as=body.same_as,
        admin=admin.key_id,
    )
    return OrganizationOut.of(org)


@router.get("/organizations")
def list_organizations(
    _: AdminOrUser, service: Organizations, q: str = Query(default="", max_length=200)
) -> OrganizationList:
    """Every organization, or with `q` those whose id, name, alias or domain reads like it."""
    found = service.search(q) if q.strip() else service.all()
    return OrganizationList(organizations=[OrganizationOut.of(o) for o in found])


@router.get("/organizations/resolve")
def resolve_organization(
    _: AdminOrUser, service: Organizations, name: str = Query(min_length=1, max_length=200)
) -> ResolutionOut:
    """What a typed organization resolves to, as a block on it would; suggestions when nothing."""
    return ResolutionOut.of(service.resolve(name))


@router.get("/organizations/{org_id}")
def get_organization(org_id: str, _: AdminOrUser, service: Organizations) -> OrganizationOut:
    """One organization."""
    return OrganizationOut.of(service.get(org_id))
