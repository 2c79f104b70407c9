"""require_scope inside a FastAPI app: RFC 6750 answers for missing, bad and too-narrow tokens."""

# No `from __future__ import annotations` here: FastAPI reads route annotations at definition time,
# and the Annotated dependency aliases below are local to the app factory.

from collections.abc import Iterator
from typing import Annotated, Any

import discretion_sdk
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from tests.sdk.fakes import ISSUER, RESOURCE, FakeBroker, FakeClock

REALM = f'Bearer realm="{RESOURCE}"'


def make_app(verifier: Any) -> FastAPI:
    app = FastAPI()
    reader = Annotated[
        discretion_sdk.VerifiedToken, Depends(discretion_sdk.require_scope(verifier, "calendar:read"))
    ]
    writer = Annotated[
        discretion_sdk.VerifiedToken,
        Depends(discretion_sdk.require_scope(verifier, "calendar:write", realm="cal")),
    ]

    @app.get("/events")
    def list_events(token: reader) -> dict[str, Any]:
        return {"sub": token.subject, "scopes": list(token.scopes)}

    @app.post("/events")
    def add_event(token: writer) -> dict[str, Any]:
        return {"sub": token.subject}

    return app


@pytest.fixture
def http(verifier: discretion_sdk.TokenVerifier) -> Iterator[TestClient]:
    with TestClient(make_app(verifier)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_good_token_reaches_the_route(http: TestClient, broker: FakeBroker) -> None:
    response = http.get("/events", headers=bearer(broker.mint()))
    assert response.status_code == 200
    assert response.json() == {"sub": "alice", "scopes": ["calendar:read", "contacts.email:read"]}


def test_the_bearer_scheme_is_case_insensitive(http: TestClient, broker: FakeBroker) -> None:
    assert http.get("/events", headers={"Authorization": f"bearer {broker.mint()}"}).status_code == 200


def test_a_request_without_a_token_gets_the_bare_challenge(http: TestClient) -> None:
    # RFC 6750 section 3.1: no error code when the request carried no credentials.
    response = http.get("/events")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == REALM


def test_another_auth_scheme_gets_the_bare_challenge(http: TestClient) -> None:
    response = http.get("/events", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == REALM


@pytest.mark.parametrize("value", ["Bearer", "Bearer ", "Bearer a b", "Bearer a,b", "Bearer \u00e9".encode()])
def test_a_malformed_authorization_header_is_invalid_request(http: TestClient, value: str | bytes) -> None:
    response = http.get("/events", headers={"Authorization": value})
    assert response.status_code == 400
    assert response.headers["www-authenticate"].startswith(f'{REALM}, error="invalid_request"')


def test_an_expired_token_is_invalid_token(http: TestClient, broker: FakeBroker, clock: FakeClock) -> None:
    token = broker.mint()
    clock.advance(3600)
    response = http.get("/events", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        f'{REALM}, error="invalid_token", error_description="the access token expired"'
    )
    assert response.headers["cache-control"] == "no-store"


def test_a_forged_token_is_invalid_token_without_details(http: TestClient, broker: FakeBroker) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    response = http.get("/events", headers=bearer(broker.mint(key=Ed25519PrivateKey.generate())))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        f'{REALM}, error="invalid_token", error_description="the access token is invalid"'
    )


def test_a_missing_scope_is_insufficient_scope_with_the_scope_needed(
    http: TestClient, broker: FakeBroker
) -> None:
    response = http.post("/events", headers=bearer(broker.mint(scope="calendar:read")))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer realm="cal", error="insufficient_scope", '
        'error_description="the access token does not cover this request", scope="calendar:write"'
    )


def test_a_wider_grant_passes_the_narrower_requirement(http: TestClient, broker: FakeBroker) -> None:
    assert http.post("/events", headers=bearer(broker.mint(scope="calendar:*"))).status_code == 200


def test_verifier_outage_is_503_not_401(http: TestClient, broker: FakeBroker) -> None:
    broker.jwks_error = 500
    response = http.get("/events", headers=bearer(broker.mint()))
    assert response.status_code == 503
    assert "www-authenticate" not in response.headers


def test_a_guard_without_scopes_is_refused(verifier: discretion_sdk.TokenVerifier) -> None:
    with pytest.raises(ValueError, match="at least one scope"):
        discretion_sdk.require_scope(verifier)


@pytest.mark.parametrize(
    ("scope", "realm"), [("calendar", None), ("calendar:read", 'a"b'), ("calendar:read", "x\\")]
)
def test_a_guard_with_a_bad_scope_or_realm_is_refused(
    verifier: discretion_sdk.TokenVerifier, scope: str, realm: str | None
) -> None:
    with pytest.raises(ValueError, match=r"scope|realm"):
        discretion_sdk.require_scope(verifier, scope, realm=realm)


def test_the_guard_works_with_the_async_verifier(broker: FakeBroker, clock: FakeClock) -> None:
    verifier = discretion_sdk.AsyncTokenVerifier(
        issuer=ISSUER, audience=RESOURCE, http_client=broker.async_client(), clock=clock
    )
    with TestClient(make_app(verifier)) as http:
        assert http.get("/events", headers=bearer(broker.mint())).status_code == 200
        assert http.post("/events", headers=bearer(broker.mint(scope="calendar:read"))).status_code == 403
        assert http.get("/events").status_code == 401


def test_a_refusal_is_logged_with_its_reason_at_warning_without_the_token(
    http: TestClient, broker: FakeBroker, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    token = broker.mint(exp=int(clock()) - 3600)
    with caplog.at_level("WARNING", logger="discretion_sdk"):
        assert http.get("/events", headers=bearer(token)).status_code == 401
    (record,) = [r for r in caplog.records if r.name == "discretion_sdk"]
    assert record.levelname == "WARNING"
    assert record.getMessage() == "bearer token refused: expired"
    assert token not in caplog.text
