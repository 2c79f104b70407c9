"""The purpose vocabulary: admins register and retire purposes; anyone signed in lists them."""

from __future__ import annotations

from fastapi import APIRouter, status

from broker.api.deps import AdminKey, AnyKey, Purposes
from broker.api.json_bodies import StrictJSONRoute
from broker.api.schemas import PurposeIn, PurposeList, PurposeOut

router = APIRouter(prefix="/v1", tags=["purposes"], route_class=StrictJSONRoute)


@router.post("/purposes", status_code=status.HTTP_201_CREATED)
def register_purpose(body: PurposeIn, admin: AdminKey, service: Purposes) -> PurposeOut:
    """Register a purpose (logged as `purpose.registered`); 409 when the code exists."""
    return PurposeOut.of(service.register(body.code, body.description, admin=admin.key_id))


@router.get("/purposes")
def list_purposes(_: AnyKey, service: Purposes) -> PurposeList:
    """Every purpose, live and retired (retired ones stay so that the log's codes still read)."""
    return PurposeList(purposes=[PurposeOut.of(p) for p in service.all()])


@router.delete("/purposes/{code:path}")
def retire_purpose(code: str, admin: AdminKey, service: Purposes) -> PurposeOut:
    """Retire a purpose (logged as `purpose.retired`): no new grant or token may name it."""
    return PurposeOut.of(service.retire(code, admin=admin.key_id))
