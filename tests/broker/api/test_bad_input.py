"""Malformed requests get a clear 4xx in the right dialect, never a 5xx, and write nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from broker.storage.schema import grant_log
from tests.conftest import CALENDAR_URI, ISSUER, World, auth


def _log_size(world: World) -> int:
    store = world.client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(grant_log)).scalar_one())


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (b"", "application/x-www-form-urlencoded", "invalid_request"),
        (b'{"grant_type": "client_credentials"}', "application/json", "invalid_request"),
        (
            b"grant_type=client_credentials&grant_type=password",
            "application/x-www-form-urlencoded",
            "invalid_request",
        ),
        (b"grant_type=password", "application/x-www-form-urlencoded", "unsupported_grant_type"),
        (b"grant_type=client_credentials", "application/x-www-form-urlencoded", "invalid_request"),
        (b"\xff\xfe=\xff", "application/x-www-form-urlencoded", "invalid_request"),
        (b"&".join(b"p%d=1" % i for i in range(100)), "application/x-www-form-urlencoded", "invalid_request"),
    ],
)
def test_malformed_token_requests(world: World, body: bytes, content_type: str, error: str) -> None:
    before = _log_size(world)
    response = world.client.post("/oauth2/token", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"
    assert _log_size(world) == before


@pytest.mark.parametrize("expires_in", ["0", "-5", "abc", "1e3", "99999999"])
def test_bad_expires_in(world: World, expires_in: str) -> None:
    world.grant()
    response = world.token(world.travel, expires_in=expires_in)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("resource", ["calendar", "/relative", "https://calendar.example/api#frag"])
def test_malformed_resource_is_invalid_target(world: World, resource: str) -> None:
    response = world.token(world.travel, resource=resource)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_missing_client_authentication(world: World) -> None:
    form = {"grant_type": "client_credentials", "subject": "alice", "resource": CALENDAR_URI, "scope": "a:b"}
    response = world.client.post("/oauth2/token", data=form)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_oversized_body_is_413(world: World) -> None:
    response = world.client.post(
        "/oauth2/token",
        content=b"a" * (2 * 1024 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_oversized_chunked_body_is_413(world: World) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b"x" * 65536

    response = world.client.post("/v1/me/grants", content=chunks(), headers=auth(world.alice_key))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_invalid_json_is_a_problem_document(world: World) -> None:
    response = world.client.post(
        "/v1/me/grants",
        content=b"{not json",
        headers={**auth(world.alice_key), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == 422
    assert body["error"] == "invalid_request"


def test_validation_errors_do_not_echo_values(world: World) -> None:
    response = world.client.post(
        "/v1/users", json={"user_id": "x" * 300, "secret": "hunter2"}, headers=auth(world.admin_key)
    )
    assert response.status_code == 422
    assert "hunter2" not in response.text
    assert "x" * 300 not in response.text


def test_unknown_route_is_a_problem_404(world: World) -> None:
    response = world.client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_feed_needs_an_assertion(world: World) -> None:
    response = world.client.get("/v1/revocations")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("params", [{"since": "-1"}, {"since": "abc"}, {"limit": "0"}, {"limit": "5000"}])
def test_feed_rejects_bad_cursor(world: World, params: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {world.calendar.assertion(ISSUER, now=world.clock.now)}"}
    response = world.client.get("/v1/revocations", params=params, headers=headers)
    assert response.status_code == 400
