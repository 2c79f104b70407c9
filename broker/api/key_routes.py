"""API keys through /v1: list, revoke and rotate. Any key manages its principal's own keys; an
admin key manages any key. A key another principal owns answers 404, like an unknown one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from broker.api.deps import AnyKey
from broker.api.json_bodies import StrictJSONRoute
from broker.services.principals import MAX_LABEL, ApiKeyInfo, KeyService

router = APIRouter(prefix="/v1", tags=["api keys"], route_class=StrictJSONRoute)
KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]


def _service(request: Request) -> KeyService:
    return KeyService(request.app.state.ctx)


Keys = Annotated[KeyService, Depends(_service)]


class ApiKeyOut(BaseModel):
    """An API key as it may be shown: never its secret or its hash."""

    key_id: str
    role: str
    principal: str
    label: str | None
    created_at: float
    last_used_at: float | None
    revoked_at: float | None

    @classmethod
    def of(cls, key: ApiKeyInfo) -> ApiKeyOut:
        """The wire form of a key's record."""
        return cls(
            key_id=key.key_id,
            role=str(key.role),
            principal=key.principal,
            label=key.label,
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


class ApiKeyList(BaseModel):
    """Keys, newest first."""

    keys: list[ApiKeyOut]


class RotateIn(BaseModel):
    """An optional new label for the replacement key (the old label is kept otherwise)."""

    model_config = {"extra": "forbid"}
    label: str | None = Field(default=None, max_length=MAX_LABEL)


class ApiKeyRotated(BaseModel):
    """The replacement key's record and the key itself, shown only this once."""

    key: ApiKeyOut
    replaces: str
    api_key: str


@router.get("/api-keys")
def list_keys(
    caller: AnyKey, keys: Keys, all_keys: Annotated[bool, Query(alias="all")] = False
) -> ApiKeyList:
    """The caller's own keys (live and revoked); an admin may ask for every key with `all=true`."""
    return ApiKeyList(keys=[ApiKeyOut.of(k) for k in keys.list_keys(caller, everyone=all_keys)])


@router.post("/api-keys/{key_id}/revoke")
def revoke_key(key_id: KeyId, caller: AnyKey, keys: Keys) -> ApiKeyOut:
    """Revoke a key at once; its console sessions end with it."""
    return ApiKeyOut.of(keys.revoke(caller, key_id, by=caller.key_id))


@router.post("/api-keys/{key_id}/rotate")
def rotate_key(key_id: KeyId, caller: AnyKey, keys: Keys, body: RotateIn | None = None) -> ApiKeyRotated:
    """Replace a key: the new key is in the answer, once; the old one stops working at once."""
    label = body.label if body is not None else None
    created, secret = keys.rotate(caller, key_id, by=caller.key_id, label=label)
    return ApiKeyRotated(key=ApiKeyOut.of(created), replaces=key_id, api_key=secret)
