"""Standard clients find and understand the broker: a 401 `invalid_client` after the client authenticated
through the Authorization header carries a WWW-Authenticate challenge for the scheme it used (RFC 6749
section 5.2), and metadata is served at the RFC 8414 path-aware location."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from broker.api.app import create_app
from broker.settings import Settings
from tests.conftest import CALENDAR_URI, World

BASIC = "Basic dHJhdmVsLWFnZW50OnNlY3JldA=="  # travel-agent:secret; the broker takes no secrets


@pytest.mark.parametrize("path", ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"])
def test_basic_auth_gets_invalid_client_with_a_basic_challenge(world: World, path: str) -> None:
    form = {
        "grant_type": "client_credentials",
        "token": "x",
        "subject": "alice",
        "resource": CALENDAR_URI,
        "scope": "calendar:read",
    }
    response = world.client.post(path, data=form, headers={"Authorization": BASIC})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"] == 'Basic realm="discretion"'


def test_a_scheme_that_is_not_a_token_is_not_echoed(world: World) -> None:
    odd = {"Authorization": 'Ba"sic x'}
    response = world.client.post("/oauth2/introspect", data={"token": "x"}, headers=odd)
    assert response.status_code == 401
    assert "www-authenticate" not in response.headers


def test_no_authorization_header_gets_no_challenge(world: World) -> None:
    response = world.client.post("/oauth2/introspect", data={"token": "x"})
    assert response.status_code == 401
    assert "www-authenticate" not in response.headers


def test_metadata_is_served_at_the_rfc8414_path_aware_location(settings: Settings) -> None:
    issuer = "https://broker.example/tenant-a"
    app = create_app(settings.model_copy(update={"issuer": issuer}))
    with TestClient(app, base_url="https://broker.example") as client:
        document = client.get("/.well-known/oauth-authorization-server/tenant-a")
        assert document.status_code == 200
        assert document.json()["issuer"] == issuer
        assert document.json()["token_endpoint"] == f"{issuer}/oauth2/token"
        assert client.get("/.well-known/oauth-authorization-server/tenant-b").status_code == 404
        assert client.get("/.well-known/oauth-authorization-server").json()["issuer"] == issuer


def test_an_issuer_without_a_path_has_no_path_aware_document(world: World) -> None:
    assert world.client.get("/.well-known/oauth-authorization-server/x").status_code == 404
