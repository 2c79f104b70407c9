"""require_scope: a FastAPI-compatible dependency that guards a holder's routes (RFC 6750, 9449).

Bearer tokens come as `Authorization: Bearer <token>`; DPoP-bound tokens as `Authorization: DPoP
<token>` with a `DPoP` proof header, checked against the request's method and URL.

The guard also serves the holder's protected resource metadata (RFC 9728), which tells a client
which authorization server issues tokens for it, and names that document in `resource_metadata`
on its challenges (RFC 9728 section 5.1).

Only starlette is imported (FastAPI's Request and HTTPException are starlette's classes), so the
SDK stays installable without FastAPI while its dependencies work inside a FastAPI app.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, overload
from urllib.parse import quote, urlsplit

from discretion_wire import Scope
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ._async_verifier import AsyncTokenVerifier
from ._errors import InsufficientScope, InvalidDPoPProof, TokenError, UseDPoPNonce, VerifierUnavailable
from ._models import VerifiedToken
from ._verifier import TokenVerifier

__all__ = [
    "protected_resource_metadata",
    "protected_resource_metadata_route",
    "request_url",
    "require_scope",
    "resource_metadata_url",
]

logger = logging.getLogger("discretion_sdk")

#: RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_QUOTABLE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")

#: The characters a path keeps unencoded when it has to be rebuilt from the decoded ASGI `path`.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"

_DESCRIPTIONS = {
    "expired": "the access token expired",
    "revoked": "the access token was revoked",
}


_WELL_KNOWN = "/.well-known/oauth-protected-resource"


def resource_metadata_url(resource: str) -> str:
    """Where the metadata of `resource` is served (RFC 9728 section 3.1): the well-known path
    inserted between the host and the resource's path, as RFC 8414 does for an issuer."""
    parts = urlsplit(resource)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        # RFC 9728 section 1.2: a resource identifier is an https URL without query or fragment.
        raise ValueError("resource must be an http(s) URL without query or fragment")
    path = parts.path.rstrip("/")
    url = f"{parts.scheme}://{parts.netloc}{_WELL_KNOWN}{path}"
    if not _QUOTABLE.fullmatch(url):
        raise ValueError("resource must be printable ASCII without quotes or backslashes")
    return url


def protected_resource_metadata(
    verifier: TokenVerifier | AsyncTokenVerifier,
    resource: str,
    *,
    scopes_supported: tuple[str, ...] = (),
    dpop_bound_access_tokens_required: bool = False,
) -> dict[str, Any]:
    """The RFC 9728 section 2 metadata of `resource`, one of the verifier's audiences: the broker
    as its authorization server, bearer tokens in the Authorization header, the DPoP algorithms
    the verifier accepts."""
    if resource not in verifier.audiences:
        # A client checks that the document names the resource it asked about (section 3.3); a
        # resource the verifier would refuse tokens for must not be advertised.
        raise ValueError("resource must be one of the verifier's audiences")
    resource_metadata_url(resource)
    for scope in scopes_supported:
        Scope.parse(scope)
    document: dict[str, Any] = {
        "resource": resource,
        "authorization_servers": [verifier.issuer],
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": list(verifier.dpop_algorithms),
        "dpop_bound_access_tokens_required": dpop_bound_access_tokens_required,
    }
    if scopes_supported:
        document["scopes_supported"] = list(scopes_supported)
    return document


def protected_resource_metadata_route(
    verifier: TokenVerifier | AsyncTokenVerifier,
    resource: str,
    *,
    scopes_supported: tuple[str, ...] = (),
    dpop_bound_access_tokens_required: bool = False,
) -> Route:
    """A Starlette route (also for FastAPI's `app.router.routes`) serving the metadata of
    `resource` at its well-known path (RFC 9728 section 3)."""
    document = protected_resource_metadata(
        verifier,
        resource,
        scopes_supported=scopes_supported,
        dpop_bound_access_tokens_required=dpop_bound_access_tokens_required,
    )
    path = urlsplit(resource_metadata_url(resource)).path

    async def metadata(_: Request) -> JSONResponse:
        """The protected resource metadata (RFC 9728 section 3.2)."""
        return JSONResponse(document, headers={"Cache-Control": "max-age=300"})

    return Route(path, metadata, methods=["GET"], name="oauth-protected-resource")


def _challenge(
    realm: str, scheme: str = "Bearer", *, metadata: str | None = None, **params: str
) -> dict[str, str]:
    # RFC 6750 section 3 and RFC 9449 section 7.1: auth-params are quoted strings; every value
    # here is checked to need no escaping (realm and metadata URL at set-up, the rest are fixed
    # texts, validated scopes or algorithm names).
    attributes = [f'realm="{realm}"'] + [f'{name}="{value}"' for name, value in params.items()]
    if metadata is not None:
        # RFC 9728 section 5.1: where the client finds the authorization server for this resource.
        attributes.append(f'resource_metadata="{metadata}"')
    return {"WWW-Authenticate": f"{scheme} " + ", ".join(attributes), "Cache-Control": "no-store"}


def _credentials(request: Request, realm: str, algs: str, metadata: str | None = None) -> tuple[str, str]:
    """The scheme ("bearer" or "dpop") and token of `request`, or the RFC 6750 / 9449 answer."""
    header = request.headers.get("authorization")
    if header is None:
        # RFC 6750 section 3.1: a request without credentials gets the bare challenge, no error code.
        raise HTTPException(401, "authentication required", headers=_challenge(realm, metadata=metadata))
    scheme, _, credentials = header.partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "dpop"):
        # Another scheme (Basic...) is not understood here: the same bare challenge.
        raise HTTPException(401, "bearer token required", headers=_challenge(realm, metadata=metadata))
    token = credentials.strip(" ")
    if not _B64TOKEN.fullmatch(token):
        description = "malformed Authorization header"
        if scheme == "dpop":
            headers = _challenge(
                realm,
                "DPoP",
                metadata=metadata,
                error="invalid_request",
                error_description=description,
                algs=algs,
            )
        else:
            headers = _challenge(
                realm, metadata=metadata, error="invalid_request", error_description=description
            )
        raise HTTPException(400, description, headers=headers)
    return scheme, token


def request_url(request: Request, origin: str | None = None) -> str:
    """The URL a DPoP proof for `request` must name in `htu` (query left out).

    The path is the one the server received (ASGI `raw_path`, so percent-encoding is as the client
    sent it); scheme, host and port are the request's, or `origin` behind a reverse proxy.
    """
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes) and raw:
        path = raw.decode("latin-1").split("?", 1)[0]
    else:
        path = quote(request.url.path, safe=_PATH_SAFE)
    if origin is None:
        url = request.url
        origin = f"{url.scheme}://{url.netloc}"
    return origin + path


def _refuse(exc: TokenError, realm: str, scheme: str, algs: str, metadata: str | None = None) -> NoReturn:
    # The reason code goes to the holder's log (WARNING, so a server with no logging set up
    # still prints it on stderr); the token and the proof never do.
    logger.warning("%s token refused: %s", scheme, exc.reason)
    dpop: dict[str, str] = {"algs": algs} if scheme == "dpop" else {}
    auth_scheme = "DPoP" if scheme == "dpop" else "Bearer"
    if isinstance(exc, InsufficientScope):
        # RFC 6750 section 3.1: 403 with the scope needed, so the client knows what to ask for.
        headers = _challenge(
            realm,
            auth_scheme,
            metadata=metadata,
            error="insufficient_scope",
            error_description="the access token does not cover this request",
            scope=" ".join(exc.required),
            **dpop,
        )
        raise HTTPException(403, "insufficient scope", headers=headers) from None
    if isinstance(exc, VerifierUnavailable):
        # Fail closed without blaming the token: the client may retry (RFC 9110 section 15.6.4).
        raise HTTPException(503, "token verification unavailable", headers={"Retry-After": "1"}) from None
    if isinstance(exc, UseDPoPNonce):
        # RFC 9449 section 9: the nonce to use goes in DPoP-Nonce; the client retries with it.
        headers = _challenge(
            realm,
            "DPoP",
            metadata=metadata,
            error="use_dpop_nonce",
            error_description="the resource server requires a nonce in the DPoP proof",
            algs=algs,
        )
        headers["DPoP-Nonce"] = exc.nonce
        raise HTTPException(401, "DPoP nonce required", headers=headers) from None
    if isinstance(exc, InvalidDPoPProof):
        # RFC 9449 section 7.1; which check failed stays in the holder's log.
        headers = _challenge(realm, "DPoP", metadata=metadata, error="invalid_dpop_proof", algs=algs)
        raise HTTPException(401, "invalid DPoP proof", headers=headers) from None
    # The description says only what the client can act on (renew an expired or revoked token);
    # other reasons stay in `exc.reason` for the holder's own logs.
    description = _DESCRIPTIONS.get(exc.reason, "the access token is invalid")
    headers = _challenge(
        realm, auth_scheme, metadata=metadata, error="invalid_token", error_description=description, **dpop
    )
    raise HTTPException(401, "invalid token", headers=headers) from None


def _checked_origin(origin: str | None) -> str | None:
    if origin is None:
        return None
    parts = urlsplit(origin)
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ValueError("public_origin must be scheme://host[:port], without path, query or fragment")
    return f"{parts.scheme}://{parts.netloc}"


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
    verifier: TokenVerifier,
    *scopes: str,
    realm: str | None = None,
    public_origin: str | None = None,
    resource_metadata: str | None = None,
) -> Callable[[Request], VerifiedToken]: ...


@overload
def require_scope(
    verifier: AsyncTokenVerifier,
    *scopes: str,
    realm: str | None = None,
    public_origin: str | None = None,
    resource_metadata: str | None = None,
) -> Callable[[Request], Awaitable[VerifiedToken]]: ...


def require_scope(
    verifier: TokenVerifier | AsyncTokenVerifier,
    *scopes: str,
    realm: str | None = None,
    public_origin: str | None = None,
    resource_metadata: str | None = None,
) -> Callable[[Request], VerifiedToken] | Callable[[Request], Awaitable[VerifiedToken]]:
    """A dependency that verifies the request's token and requires all of `scopes`.

    `Authorization: Bearer <token>` is checked as a bearer token (a token bound to a key is
    refused). `Authorization: DPoP <token>` needs exactly one `DPoP` proof header for this
    request's method and URL (RFC 9449 section 7.1); a bad proof is answered 401 with
    `WWW-Authenticate: DPoP realm=..., error="invalid_dpop_proof", algs="..."`, a missing or stale
    server nonce (when the verifier has `dpop_nonce`) with `error="use_dpop_nonce"` and a
    `DPoP-Nonce` header. Behind a reverse proxy, `public_origin` ("https://api.example") is the
    scheme, host and port clients call, which proofs name in `htu`. `resource_metadata` is the URL
    of the resource's RFC 9728 metadata (`resource_metadata_url(resource)`, served by
    `protected_resource_metadata_route`), named on every challenge.
    """
    realm = realm if realm is not None else min(verifier.audiences)
    required = _checked(scopes, realm)
    metadata = resource_metadata
    if metadata is not None and not (
        _QUOTABLE.fullmatch(metadata) and metadata.startswith(("https://", "http://"))
    ):
        raise ValueError("resource_metadata must be an http(s) URL without quotes or backslashes")
    origin = _checked_origin(public_origin)
    algs = " ".join(verifier.dpop_algorithms)

    if isinstance(verifier, AsyncTokenVerifier):
        async_verifier = verifier

        async def verified_token_async(request: Request) -> VerifiedToken:
            """The verified token of `request`, or an RFC 6750 / RFC 9449 error answer."""
            scheme, token = _credentials(request, realm, algs, metadata)
            try:
                if scheme == "bearer":
                    return await async_verifier.verify(token, required_scopes=required)
                return await async_verifier.verify(
                    token,
                    required_scopes=required,
                    dpop_proof=request.headers.getlist("dpop"),
                    http_method=request.method,
                    http_url=request_url(request, origin),
                )
            except TokenError as exc:
                _refuse(exc, realm, scheme, algs, metadata)

        return verified_token_async

    sync_verifier = verifier

    # A plain function: FastAPI runs it in its thread pool, where JWKS and feed downloads may block.
    def verified_token(request: Request) -> VerifiedToken:
        """The verified token of `request`, or an RFC 6750 / RFC 9449 error answer."""
        scheme, token = _credentials(request, realm, algs, metadata)
        try:
            if scheme == "bearer":
                return sync_verifier.verify(token, required_scopes=required)
            return sync_verifier.verify(
                token,
                required_scopes=required,
                dpop_proof=request.headers.getlist("dpop"),
                http_method=request.method,
                http_url=request_url(request, origin),
            )
        except TokenError as exc:
            _refuse(exc, realm, scheme, algs, metadata)

    return verified_token
