"""The agent-facing OAuth endpoints and the holders' revocation feed."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from broker.api.deps import OAuth, bearer
from broker.api.forms import read_form
from broker.errors import InvalidClient, NotFound
from broker.oauth.agent_keys import ALLOWED_ALGS
from broker.oauth.dpop import DPOP_ALGS

router = APIRouter()
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def metadata_document(issuer: str) -> dict[str, Any]:
    """RFC 8414 authorization server metadata."""
    auth_methods = ["private_key_jwt"]
    algs = list(ALLOWED_ALGS)
    return {
        "issuer": issuer,
        "token_endpoint": f"{issuer}/oauth2/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "introspection_endpoint": f"{issuer}/oauth2/introspect",
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "revocation_feed_endpoint": f"{issuer}/v1/revocations",
        "grant_types_supported": ["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"],
        "dpop_signing_alg_values_supported": list(DPOP_ALGS),
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": algs,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": algs,
        "authorization_response_iss_parameter_supported": False,
    }


@router.get("/.well-known/oauth-authorization-server", tags=["oauth"])
def metadata(request: Request) -> dict[str, Any]:
    """Authorization server metadata (RFC 8414)."""
    return request.app.state.metadata  # type: ignore[no-any-return]


@router.get("/.well-known/oauth-authorization-server/{issuer_path:path}", include_in_schema=False)
def metadata_for_issuer_path(request: Request, issuer_path: str) -> dict[str, Any]:
    """RFC 8414 section 3.1: for an issuer with a path, the well-known suffix goes before the path
    (`https://host/tenant` -> `https://host/.well-known/oauth-authorization-server/tenant`)."""
    document: dict[str, Any] = request.app.state.metadata
    if urlsplit(document["issuer"]).path.strip("/") != issuer_path.strip("/") or not issuer_path.strip("/"):
        raise NotFound("no authorization server has that issuer")
    return document


@router.get("/.well-known/jwks.json", tags=["oauth"])
def jwks(request: Request) -> JSONResponse:
    """The public keys that access tokens are signed with."""
    ctx = request.app.state.ctx
    # Retired keys stay published for the longest token lifetime plus the clock skew.
    overlap = ctx.settings.max_token_lifetime + ctx.settings.clock_skew_seconds
    keys = ctx.keyring.jwks(now=ctx.clock(), overlap_seconds=overlap)
    return JSONResponse(keys, headers={"Cache-Control": "public, max-age=300"})


@router.post("/oauth2/token", tags=["oauth"])
async def token(request: Request, service: OAuth) -> JSONResponse:
    """Token endpoint: `client_credentials` on a user's behalf, `private_key_jwt` only.

    Served by `broker.api.token_endpoint.TokenEndpoint` ahead of the router; this declaration puts
    it in the OpenAPI document and answers the same way if the app runs without that layer.
    """
    form = await read_form(request)
    body = await service.issue(form, dpop_proofs=request.headers.getlist("dpop"))
    return JSONResponse(body, headers=_NO_STORE)


@router.post("/oauth2/introspect", tags=["oauth"])
async def introspect(request: Request, service: OAuth) -> JSONResponse:
    """Token introspection (RFC 7662) for the holder a token is addressed to."""
    form = await read_form(request)
    body = await run_in_threadpool(service.introspect, form)
    return JSONResponse(body, headers=_NO_STORE)


@router.post("/oauth2/revoke", tags=["oauth"])
async def revoke(request: Request, service: OAuth) -> Response:
    """Token revocation (RFC 7009)."""
    form = await read_form(request)
    await run_in_threadpool(service.revoke, form)
    return Response(status_code=200, headers=_NO_STORE)


@router.get("/v1/revocations", tags=["holders"])
def revocations(
    request: Request, service: OAuth, since: str | None = None, limit: str | None = None
) -> JSONResponse:
    """Revoked, unexpired tokens addressed to the calling holder (client assertion as bearer)."""
    assertion = bearer(request)
    if assertion is None:
        raise InvalidClient("a client assertion is required as the bearer credential")
    return JSONResponse(service.revocation_feed(assertion, since, limit), headers=_NO_STORE)
