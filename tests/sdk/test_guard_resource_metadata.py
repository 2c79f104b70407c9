"""RFC 9728 protected resource metadata served beside require_scope, and named on its challenges."""

# No `from __future__ import annotations` here: FastAPI reads route annotations at definition time.

from collections.abc import Iterator
from typing import Annotated, Any

import discretion_sdk
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from tests.sdk.fakes import ISSUER, RESOURCE, FakeBroker

METADATA_URL = "https://holder.test/.well-known/oauth-protected-resource/api"


def make_app(verifier: Any) -> FastAPI:
    app = FastAPI()
    app.router.routes.append(
        discretion_sdk.protected_resource_metadata_route(
            verifier, RESOURCE, scopes_supported=("calendar:read", "calendar:write")
        )
    )
    guard = discretion_sdk.require_scope(verifier, "calendar:write", resource_metadata=METADATA_URL)
    writer = Annotated[discretion_sdk.VerifiedToken, Depends(guard)]

    @app.post("/api/events")
    def add_event(token: writer) -> dict[str, Any]:
        return {"sub": token.subject}

    return app


@pytest.fixture
def http(verifier: discretion_sdk.TokenVerifier) -> Iterator[TestClient]:
    with TestClient(make_app(verifier), base_url="https://holder.test") as client:
        yield client


def test_the_metadata_url_inserts_the_well_known_path_before_the_resource_path() -> None:
    assert discretion_sdk.resource_metadata_url(RESOURCE) == METADATA_URL
    assert (
        discretion_sdk.resource_metadata_url("https://holder.test")
        == "https://holder.test/.well-known/oauth-protected-resource"
    )


@pytest.mark.parametrize("resource", ["ftp://holder.test/api", "https://holder.test/api?x=1", "holder.test"])
def test_a_resource_that_is_not_an_http_url_without_query_is_refused(resource: str) -> None:
    with pytest.raises(ValueError, match="resource"):
        discretion_sdk.resource_metadata_url(resource)


def test_the_metadata_names_the_resource_and_the_broker(http: TestClient) -> None:
    response = http.get("/.well-known/oauth-protected-resource/api")
    assert response.status_code == 200
    assert response.json() == {
        "resource": RESOURCE,
        "authorization_servers": [ISSUER],
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": ["EdDSA", "Ed25519", "ES256"],
        "dpop_bound_access_tokens_required": False,
        "scopes_supported": ["calendar:read", "calendar:write"],
    }


def test_metadata_for_a_resource_the_verifier_does_not_accept_is_refused(
    verifier: discretion_sdk.TokenVerifier,
) -> None:
    # A document naming a resource whose tokens the holder would refuse would send clients astray.
    with pytest.raises(ValueError, match="audiences"):
        discretion_sdk.protected_resource_metadata(verifier, "https://other.test/api")


def test_a_request_without_a_token_is_told_where_the_metadata_is(http: TestClient) -> None:
    response = http.post("/api/events")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="{RESOURCE}", resource_metadata="{METADATA_URL}"'
    )


def test_an_invalid_token_challenge_names_the_metadata(http: TestClient) -> None:
    response = http.post("/api/events", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="')
    assert 'error="invalid_token"' in challenge
    assert challenge.endswith(f'resource_metadata="{METADATA_URL}"')


def test_an_insufficient_scope_challenge_names_the_metadata(http: TestClient, broker: FakeBroker) -> None:
    response = http.post("/api/events", headers={"Authorization": f"Bearer {broker.mint()}"})
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert f'resource_metadata="{METADATA_URL}"' in response.headers["www-authenticate"]


def test_a_metadata_url_that_would_break_the_header_is_refused(
    verifier: discretion_sdk.TokenVerifier,
) -> None:
    with pytest.raises(ValueError, match="resource_metadata"):
        discretion_sdk.require_scope(verifier, "calendar:read", resource_metadata='https://x.test/"')
