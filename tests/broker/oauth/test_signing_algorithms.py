"""The access-token signing algorithm setting: EdDSA (default), ES256 or RS256, each with its keys,
JWKS, introspection, the SDK's verifier, a stock JWT library, and rotation when the setting changes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import discretion_sdk
import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from broker.api import create_app
from broker.settings import Settings
from tests.conftest import CALENDAR_URI, ISSUER, Clock, World

KEY_TYPES = {"EdDSA": "OKP", "ES256": "EC", "RS256": "RSA"}


@pytest.fixture(params=sorted(KEY_TYPES))
def signing_alg(request: pytest.FixtureRequest) -> str:
    """Each signing algorithm the broker offers."""
    return str(request.param)


@pytest.fixture
def settings(settings: Settings, signing_alg: str) -> Settings:
    """The shared settings, signing with `signing_alg`."""
    return settings.model_copy(update={"access_token_signing_alg": signing_alg})


def _token(world: World) -> str:
    world.grant()
    response = world.token(world.travel)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_tokens_are_signed_with_the_configured_algorithm(world: World, signing_alg: str) -> None:
    token = _token(world)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == signing_alg
    assert header["typ"] == "at+jwt"
    keys = world.client.get("/.well-known/jwks.json").json()["keys"]
    [jwk] = [k for k in keys if k["kid"] == header["kid"]]
    # The JWKS entry pins the algorithm: kid, alg and kty agree.
    assert (jwk["alg"], jwk["kty"], jwk["use"]) == (signing_alg, KEY_TYPES[signing_alg], "sig")
    assert "d" not in jwk
    assert world.introspect(token)["active"] is True


def test_a_stock_jwt_library_verifies_the_token_with_the_published_key(
    world: World, signing_alg: str
) -> None:
    token = _token(world)
    kid = jwt.get_unverified_header(token)["kid"]
    jwks = jwt.PyJWKSet.from_dict(world.client.get("/.well-known/jwks.json").json())
    claims = jwt.decode(token, jwks[kid].key, algorithms=[signing_alg], audience=CALENDAR_URI, issuer=ISSUER)
    assert claims["client_id"] == "travel-agent"


def _published(world: World) -> httpx.Client:
    # The broker's JWKS as the holder downloads it (TestClient refuses the SDK's timeout argument).
    jwks = world.client.get("/.well-known/jwks.json").json()
    return httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200, json=jwks)))


def test_the_sdk_verifier_accepts_each_algorithm_by_default(world: World) -> None:
    token = _token(world)
    verifier = discretion_sdk.TokenVerifier(
        issuer=ISSUER, audience=CALENDAR_URI, http_client=_published(world), clock=world.clock
    )
    assert verifier.verify(token, required_scopes=["calendar:read"]).subject == "alice"


def test_the_sdk_verifier_pinned_to_another_algorithm_refuses_the_token(
    world: World, signing_alg: str
) -> None:
    token = _token(world)
    other = next(alg for alg in sorted(KEY_TYPES) if alg != signing_alg)
    verifier = discretion_sdk.TokenVerifier(
        issuer=ISSUER,
        audience=CALENDAR_URI,
        http_client=_published(world),
        clock=world.clock,
        algorithms=[other],
    )
    with pytest.raises(discretion_sdk.InvalidToken) as refused:
        verifier.verify(token)
    assert refused.value.reason == "bad_algorithm"


@pytest.fixture
def restarted(settings: Settings, clock: Clock) -> Iterator[Any]:
    """Start the broker again on the same database, with other settings."""
    clients: list[TestClient] = []

    def start(**changes: Any) -> TestClient:
        app = create_app(settings.model_copy(update=changes), clock=clock)
        client = TestClient(app, base_url=ISSUER, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def test_changing_the_setting_rotates_and_keeps_old_tokens_verifiable(
    world: World, signing_alg: str, restarted: Any
) -> None:
    old = _token(world)
    old_kid = jwt.get_unverified_header(old)["kid"]
    new_alg = "RS256" if signing_alg != "RS256" else "ES256"
    world.client.__exit__(None, None, None)
    world.client = restarted(access_token_signing_alg=new_alg)
    new = world.token(world.travel).json()["access_token"]
    header = jwt.get_unverified_header(new)
    assert header["alg"] == new_alg != signing_alg
    published = {k["kid"]: k["alg"] for k in world.client.get("/.well-known/jwks.json").json()["keys"]}
    assert published == {old_kid: signing_alg, header["kid"]: new_alg}
    assert world.introspect(old)["active"] is True


def test_an_unknown_signing_algorithm_is_refused_by_the_settings() -> None:
    with pytest.raises(ValueError, match="access_token_signing_alg"):
        Settings(access_token_signing_alg="HS256")
