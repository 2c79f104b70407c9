"""Request dependencies: the services, and who is calling (API keys on /v1)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from broker.errors import Forbidden, SlowDown, Unauthorized
from broker.oauth.endpoint import OAuthService
from broker.services.admin import AdminService
from broker.services.me import MeService
from broker.services.organizations import OrganizationService
from broker.services.principals import Principal, Role, SignInThrottled, UserRecord, authenticate
from broker.services.purposes import PurposeService


def bearer(request: Request) -> str | None:
    """The credential in `Authorization: Bearer ...`, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _principal(request: Request) -> Principal:
    presented = bearer(request)
    if presented is None or len(presented) > 200:
        raise Unauthorized()
    try:
        principal = authenticate(request.app.state.ctx, presented, source=source_address(request))
    except SignInThrottled as exc:
        raise SlowDown(
            "too many failed sign-ins; retry later", headers={"Retry-After": str(exc.retry_after)}
        ) from None
    if principal is None:
        raise Unauthorized()
    return principal


def source_address(request: Request) -> str:
    """The caller's address as the server saw it (behind a trusted proxy, uvicorn's
    --forwarded-allow-ips makes this the forwarded one)."""
    return request.client.host if request.client is not None else "unknown"


def _role(role: Role) -> object:
    def check(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        if principal.role is not role:
            raise Forbidden()
        return principal

    return check


async def _oauth(request: Request) -> OAuthService:
    return request.app.state.oauth  # type: ignore[no-any-return]


async def _admin(request: Request) -> AdminService:
    return request.app.state.admin  # type: ignore[no-any-return]


async def _me(request: Request) -> MeService:
    return request.app.state.me  # type: ignore[no-any-return]


async def _organizations(request: Request) -> OrganizationService:
    return request.app.state.organizations  # type: ignore[no-any-return]


async def _purposes(request: Request) -> PurposeService:
    return request.app.state.purposes  # type: ignore[no-any-return]


def _admin_or_user(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if principal.role not in (Role.ADMIN, Role.USER):
        raise Forbidden()
    return principal


def _current_user(
    principal: Annotated[Principal, Depends(_role(Role.USER))], me: Annotated[MeService, Depends(_me)]
) -> UserRecord:
    return me.user(principal.principal)


AdminKey = Annotated[Principal, Depends(_role(Role.ADMIN))]
AnyKey = Annotated[Principal, Depends(_principal)]
CurrentUser = Annotated[UserRecord, Depends(_current_user)]
OAuth = Annotated[OAuthService, Depends(_oauth)]
Admin = Annotated[AdminService, Depends(_admin)]
Me = Annotated[MeService, Depends(_me)]
Organizations = Annotated[OrganizationService, Depends(_organizations)]
Purposes = Annotated[PurposeService, Depends(_purposes)]
AdminOrUser = Annotated[Principal, Depends(_admin_or_user)]
