"""require_scope: a FastAPI-compatible dependency that guards a holder's routes (RFC 6750).

Only starlette is imported (FastAPI's Request and HTTPException are starlette's classes), so the
SDK stays installable without FastAPI while its dependencies work inside a FastAPI app.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import NoReturn, overload

from starlette.exceptions import HTTPException
from starlette.requests import Request

from ._async_verifier import AsyncTokenVerifier
from ._errors import InsufficientScope, TokenError, VerifierUnavailable
from ._models import VerifiedToken
from ._scopes import Scope
from ._verifier import TokenVerifier

__all__ = ["bearer_token", "require_scope"]

logger = logging.getLogger("sdk")

#: RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_QUOTABLE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")

_DESCRIPTIONS = {
    "expired": "the access token expired",
    "revoked": "the access token was revoked",
}


def _challenge(realm: str, **params: str) -> dict[str, str]:
    # RFC 6750 section 3: auth-params are quoted strings; every value here is checked to need
    # no escaping (realm at set-up, the rest are fixed texts or validated scopes).
    attributes = [f'realm="{realm}"'] + [f'{name}="{value}"' for name, value in params.items()]
    return {"WWW-Authenticate": "Bearer " + ", ".join(attributes), "Cache-Control": "no-store"}


def bearer_token(request: Request, realm: str) -> str:
    """Extract the bearer token of `request`, raising the RFC 6750 answer when there is none."""
    header = request.headers.get("authorization")
    if header is None:
        # RFC 6750 section 3.1: a request without credentials gets the bare challenge, no error code.
        raise HTTPException(401, "authentication required", headers=_challenge(realm))
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer":
        # Another scheme (Basic, DPoP...) is not understood here: the same bare challenge.
        raise HTTPException(401, "bearer token required", headers=_challenge(realm))
    token = credentials.strip(" ")
    if not _B64TOKEN.fullmatch(token):
        description = "malformed Authorization header"
        headers = _challenge(realm, error="invalid_request", error_description=description)
        raise HTTPException(400, description, headers=headers)
    return token


def _refuse(exc: TokenError, realm: str) -> NoReturn:
    # The reason code goes to the holder's log; the token itself never does.
    logger.info("bearer token refused: %s", exc.reason)
    if isinstance(exc, InsufficientScope):
        # RFC 6750 section 3.1: 403 with the scope needed, so the client knows what to ask for.
        headers = _challenge(
            realm,
            error="insufficient_scope",
            error_description="the access token does not cover this request",
            scope=" ".join(exc.required),
        )
        raise HTTPException(403, "insufficient scope", headers=headers) from None
    if isinstance(exc, VerifierUnavailable):
        # Fail closed without blaming the token: the client may retry (RFC 9110 section 15.6.4).
        raise HTTPException(503, "token verification unavailable", headers={"Retry-After": "1"}) from None
    # The description says only what the client can act on (renew an expired or revoked token);
    # other reasons stay in `exc.reason` for the holder's own logs.
    description = _DESCRIPTIONS.get(exc.reason, "the access token is invalid")
    headers = _challenge(realm, error="invalid_token", error_description=description)
    raise HTTPException(401, "invalid token", headers=headers) from None


def _checked(scopes: tuple[str, ...], realm: str) -> tuple[str, ...]:
    if not scopes:
        # An empty "all of" would accept any token of this audience: refuse it (fail closed).
        raise ValueError("require_scope needs at least one scope")
    for scope in scopes:
        Scope.parse(scope)
    if not _QUOTABLE.fullmatch(realm):
        raise ValueError("realm must be printable ASCII without quotes or backslashes")
    return scopes


@overload
def require_scope(
    verifier: TokenVerifier, *scopes: str, realm: str | None = None
) -> Callable[[Request], VerifiedToken]: ...


@overload
def require_scope(
    verifier: AsyncTokenVerifier, *scopes: str, realm: str | None = None
) -> Callable[[Request], Awaitable[VerifiedToken]]: ...


def require_scope(
    verifier: TokenVerifier | AsyncTokenVerifier, *scopes: str, realm: str | None = None
) -> Callable[[Request], VerifiedToken] | Callable[[Request], Awaitable[VerifiedToken]]:
    """A dependency that verifies the request's bearer token and requires all of `scopes`."""
    realm = realm if realm is not None else min(verifier.audiences)
    required = _checked(scopes, realm)

    if isinstance(verifier, AsyncTokenVerifier):
        async_verifier = verifier

        async def verified_token_async(request: Request) -> VerifiedToken:
            """The verified bearer token of `request`, or an RFC 6750 error answer."""
            token = bearer_token(request, realm)
            try:
                return await async_verifier.verify(token, required_scopes=required)
            except TokenError as exc:
                _refuse(exc, realm)

        return verified_token_async

    sync_verifier = verifier

    # A plain function: FastAPI runs it in its thread pool, where JWKS and feed downloads may block.
    def verified_token(request: Request) -> VerifiedToken:
        """The verified bearer token of `request`, or an RFC 6750 error answer."""
        token = bearer_token(request, realm)
        try:
            return sync_verifier.verify(token, required_scopes=required)
        except TokenError as exc:
            _refuse(exc, realm)

    return verified_token
