"""require_scope with DPoP-bound tokens (RFC 9449 section 7) inside a FastAPI app."""

# No `from __future__ import annotations` here: FastAPI reads route annotations at definition time.

from collections.abc import Iterator
from typing import Annotated, Any

import discretion_sdk
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from tests.sdk.fakes import ISSUER, RESOURCE, FakeBroker, FakeClock, make_proof

BASE = "http://testserver"
EVENTS = f"{BASE}/api/events"
ALGS = 'algs="EdDSA Ed25519 ES256"'
PROOF_REFUSED = f'DPoP realm="{RESOURCE}", error="invalid_dpop_proof", {ALGS}'


def make_app(verifier: Any, **options: Any) -> FastAPI:
    app = FastAPI()
    reader = Annotated[
        discretion_sdk.VerifiedToken,
        Depends(discretion_sdk.require_scope(verifier, "calendar:read", **options)),
    ]
    writer = Annotated[
        discretion_sdk.VerifiedToken,
        Depends(discretion_sdk.require_scope(verifier, "calendar:write", **options)),
    ]

    @app.get("/api/events")
    def list_events(token: reader) -> dict[str, Any]:
        return {"sub": token.subject, "jkt": token.dpop_jkt}

    @app.post("/api/events")
    def add_event(token: writer) -> dict[str, Any]:
        return {"sub": token.subject}

    @app.get("/api/files/{name}")
    def get_file(name: str, token: reader) -> dict[str, Any]:
        return {"name": name}

    return app


@pytest.fixture
def http(verifier: discretion_sdk.TokenVerifier) -> Iterator[TestClient]:
    with TestClient(make_app(verifier)) as client:
        yield client


@pytest.fixture
def token(client: discretion_sdk.BrokerClient) -> discretion_sdk.AccessToken:
    """A DPoP-bound token of the agent, got through the SDK from the fake broker."""
    return client.token(subject="alice", resource=RESOURCE, scopes=["calendar:read"], dpop=True)


def test_a_dpop_token_with_its_proof_reaches_the_route(
    http: TestClient, client: discretion_sdk.BrokerClient, token: discretion_sdk.AccessToken
) -> None:
    response = http.get("/api/events", headers=client.authorization_headers(token, "GET", EVENTS))
    assert response.status_code == 200
    assert response.json() == {"sub": "alice", "jkt": client.dpop_jkt}


def test_the_dpop_scheme_is_case_insensitive(
    http: TestClient, client: discretion_sdk.BrokerClient, token: discretion_sdk.AccessToken
) -> None:
    headers = client.authorization_headers(token, "GET", EVENTS)
    headers["Authorization"] = headers["Authorization"].replace("DPoP ", "dpop ")
    assert http.get("/api/events", headers=headers).status_code == 200


@pytest.mark.parametrize("htu", [EVENTS, EVENTS + "?page=2"])
def test_the_query_string_is_not_part_of_htu(
    http: TestClient, client: discretion_sdk.BrokerClient, token: discretion_sdk.AccessToken, htu: str
) -> None:
    headers = client.authorization_headers(token, "GET", htu)
    assert http.get("/api/events?page=2&sort=asc", headers=headers).status_code == 200


def test_a_percent_encoded_path_is_compared_as_sent(
    http: TestClient, client: discretion_sdk.BrokerClient, token: discretion_sdk.AccessToken
) -> None:
    url = f"{BASE}/api/files/a%20b"
    response = http.get("/api/files/a%20b", headers=client.authorization_headers(token, "GET", url))
    assert response.status_code == 200
    assert response.json() == {"name": "a b"}


@pytest.mark.parametrize(
    ("method", "url"),
    [("GET", f"{BASE}/api/other"), ("POST", EVENTS), ("GET", "https://testserver/api/events")],
)
def test_a_proof_for_another_request_is_invalid_dpop_proof(
    http: TestClient,
    client: discretion_sdk.BrokerClient,
    token: discretion_sdk.AccessToken,
    method: str,
    url: str,
) -> None:
    headers = client.authorization_headers(token, method, url)
    response = http.get("/api/events", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == PROOF_REFUSED
    assert response.headers["cache-control"] == "no-store"


def test_a_dpop_token_without_a_proof_is_invalid_dpop_proof(
    http: TestClient, token: discretion_sdk.AccessToken
) -> None:
    response = http.get("/api/events", headers={"Authorization": f"DPoP {token.access_token}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == PROOF_REFUSED


def test_two_dpop_headers_are_invalid_dpop_proof(
    http: TestClient, client: discretion_sdk.BrokerClient, token: discretion_sdk.AccessToken
) -> None:
    first = client.authorization_headers(token, "GET", EVENTS)
    second = client.dpop_proof("GET", EVENTS, access_token=token)
    headers = [("Authorization", first["Authorization"]), ("DPoP", first["DPoP"]), ("DPoP", second)]
    response = http.get("/api/events", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == PROOF_REFUSED


def test_a_replayed_proof_is_invalid_dpop_proof(
    http: TestClient, client: discretion_sdk.BrokerClient, token: discretion_sdk.AccessToken
) -> None:
    headers = client.authorization_headers(token, "GET", EVENTS)
    assert http.get("/api/events", headers=headers).status_code == 200
    response = http.get("/api/events", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == PROOF_REFUSED


def test_a_thiefs_proof_is_invalid_dpop_proof(
    http: TestClient, token: discretion_sdk.AccessToken, clock: FakeClock
) -> None:
    thief = Ed25519PrivateKey.generate()
    proof = make_proof(thief, htu=EVENTS, iat=clock.now, token=token.access_token)
    response = http.get("/api/events", headers={"Authorization": f"DPoP {token.access_token}", "DPoP": proof})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == PROOF_REFUSED


def test_a_dpop_token_presented_as_bearer_is_invalid_token(
    http: TestClient, token: discretion_sdk.AccessToken
) -> None:
    # Today's bearer answer: the binding is not mentioned, the token is simply not good as bearer.
    response = http.get("/api/events", headers={"Authorization": f"Bearer {token.access_token}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="{RESOURCE}", error="invalid_token", error_description="the access token is invalid"'
    )


def test_a_bearer_token_presented_as_dpop_is_invalid_token(
    http: TestClient, client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    bearer = broker.mint()
    proof = client.dpop_proof("GET", EVENTS, access_token=bearer)
    response = http.get("/api/events", headers={"Authorization": f"DPoP {bearer}", "DPoP": proof})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        f'DPoP realm="{RESOURCE}", error="invalid_token", '
        f'error_description="the access token is invalid", {ALGS}'
    )


def test_bearer_tokens_keep_working(http: TestClient, broker: FakeBroker) -> None:
    response = http.get("/api/events", headers={"Authorization": f"Bearer {broker.mint()}"})
    assert response.status_code == 200
    assert response.json()["jkt"] is None


def test_an_expired_dpop_token_is_invalid_token_in_a_dpop_challenge(
    http: TestClient, client: discretion_sdk.BrokerClient, token: discretion_sdk.AccessToken, clock: FakeClock
) -> None:
    clock.advance(3600)
    response = http.get("/api/events", headers=client.authorization_headers(token, "GET", EVENTS))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        f'DPoP realm="{RESOURCE}", error="invalid_token", '
        f'error_description="the access token expired", {ALGS}'
    )


def test_a_missing_scope_is_insufficient_scope_in_a_dpop_challenge(
    http: TestClient, client: discretion_sdk.BrokerClient, token: discretion_sdk.AccessToken
) -> None:
    response = http.post("/api/events", headers=client.authorization_headers(token, "POST", EVENTS))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        f'DPoP realm="{RESOURCE}", error="insufficient_scope", '
        f'error_description="the access token does not cover this request", scope="calendar:write", {ALGS}'
    )


@pytest.mark.parametrize("value", ["DPoP", "DPoP ", "DPoP a b", "DPoP a,b"])
def test_a_malformed_dpop_authorization_is_invalid_request(http: TestClient, value: str) -> None:
    response = http.get("/api/events", headers={"Authorization": value, "DPoP": "x.y.z"})
    assert response.status_code == 400
    assert response.headers["www-authenticate"].startswith(
        f'DPoP realm="{RESOURCE}", error="invalid_request"'
    )


def test_a_verifier_outage_is_503_for_dpop_too(
    http: TestClient,
    client: discretion_sdk.BrokerClient,
    token: discretion_sdk.AccessToken,
    broker: FakeBroker,
) -> None:
    broker.jwks_error = 500
    response = http.get("/api/events", headers=client.authorization_headers(token, "GET", EVENTS))
    assert response.status_code == 503


def test_a_server_nonce_is_asked_for_then_accepted(
    broker: FakeBroker,
    clock: FakeClock,
    client: discretion_sdk.BrokerClient,
    token: discretion_sdk.AccessToken,
) -> None:
    nonces = discretion_sdk.DPoPNonces(clock=clock)
    verifier = discretion_sdk.TokenVerifier(
        issuer=ISSUER, audience=RESOURCE, http_client=broker.client(), clock=clock, dpop_nonce=nonces
    )
    with TestClient(make_app(verifier)) as http:
        first = http.get("/api/events", headers=client.authorization_headers(token, "GET", EVENTS))
        assert first.status_code == 401
        assert first.headers["www-authenticate"] == (
            f'DPoP realm="{RESOURCE}", error="use_dpop_nonce", '
            f'error_description="the resource server requires a nonce in the DPoP proof", {ALGS}'
        )
        nonce = first.headers["dpop-nonce"]
        assert nonce == nonces.current()
        headers = client.authorization_headers(token, "GET", EVENTS, nonce=nonce)
        assert http.get("/api/events", headers=headers).status_code == 200


def test_behind_a_proxy_htu_uses_the_public_origin(
    verifier: discretion_sdk.TokenVerifier,
    client: discretion_sdk.BrokerClient,
    token: discretion_sdk.AccessToken,
) -> None:
    with TestClient(make_app(verifier, public_origin="https://api.example")) as http:
        public = client.authorization_headers(token, "GET", "https://api.example/api/events")
        assert http.get("/api/events", headers=public).status_code == 200
        internal = client.authorization_headers(token, "GET", EVENTS)
        assert http.get("/api/events", headers=internal).status_code == 401


@pytest.mark.parametrize(
    "origin", ["api.example", "https://api.example/base", "https://api.example?x", "ftp://a"]
)
def test_a_bad_public_origin_is_refused(verifier: discretion_sdk.TokenVerifier, origin: str) -> None:
    with pytest.raises(ValueError, match="public_origin"):
        discretion_sdk.require_scope(verifier, "calendar:read", public_origin=origin)


def test_the_challenge_lists_the_verifiers_dpop_algorithms(
    broker: FakeBroker, clock: FakeClock, token: discretion_sdk.AccessToken
) -> None:
    verifier = discretion_sdk.TokenVerifier(
        issuer=ISSUER, audience=RESOURCE, http_client=broker.client(), clock=clock, dpop_algorithms=["ES256"]
    )
    with TestClient(make_app(verifier)) as http:
        response = http.get("/api/events", headers={"Authorization": f"DPoP {token.access_token}"})
    assert response.headers["www-authenticate"].endswith('algs="ES256"')


def test_the_guard_checks_dpop_with_the_async_verifier(
    broker: FakeBroker,
    clock: FakeClock,
    client: discretion_sdk.BrokerClient,
    token: discretion_sdk.AccessToken,
) -> None:
    verifier = discretion_sdk.AsyncTokenVerifier(
        issuer=ISSUER, audience=RESOURCE, http_client=broker.async_client(), clock=clock
    )
    with TestClient(make_app(verifier)) as http:
        headers = client.authorization_headers(token, "GET", EVENTS)
        assert http.get("/api/events", headers=headers).status_code == 200
        replayed = http.get("/api/events", headers=headers)
        assert replayed.status_code == 401
        assert replayed.headers["www-authenticate"] == PROOF_REFUSED
        bearer = http.get("/api/events", headers={"Authorization": f"Bearer {token.access_token}"})
        assert bearer.status_code == 401
