"""Every /v1 route against every kind of caller, in one table.

`ok` means the caller gets past authentication and authorization (the answer may still be a 404
or a 422 for the dummy body); 401 and 403 are the exact statuses. A route missing from the table
fails the test, so new routes must say who may call them.
"""

from __future__ import annotations

import pytest

from tests.conftest import ISSUER, World, auth

CALLERS = ("none", "user", "other_user", "auditor", "admin", "agent")
ADMIN_ONLY = {"none": 401, "user": 403, "other_user": 403, "auditor": 403, "admin": "ok", "agent": 401}
USER_ONLY = {"none": 401, "user": "ok", "other_user": "ok", "auditor": 403, "admin": 403, "agent": 401}
AUDITOR_ONLY = {"none": 401, "user": 403, "other_user": 403, "auditor": "ok", "admin": 403, "agent": 401}
ADMIN_OR_AUDITOR = {"none": 401, "user": 403, "other_user": 403, "auditor": "ok", "admin": "ok", "agent": 401}
ANY_KEY = {"none": 401, "user": "ok", "other_user": "ok", "auditor": "ok", "admin": "ok", "agent": 401}
ADMIN_OR_USER = {"none": 401, "user": "ok", "other_user": "ok", "auditor": 403, "admin": "ok", "agent": 401}
AGENT_ONLY = {"none": 401, "user": 401, "other_user": 401, "auditor": 401, "admin": 401, "agent": "ok"}

MATRIX: dict[tuple[str, str], dict[str, int | str]] = {
    ("POST", "/v1/agents"): ADMIN_ONLY,
    ("POST", "/v1/organizations"): ADMIN_ONLY,
    ("GET", "/v1/organizations"): ADMIN_OR_USER,
    ("GET", "/v1/organizations/resolve"): ADMIN_OR_USER,
    ("GET", "/v1/organizations/{org_id}"): ADMIN_OR_USER,
    ("GET", "/v1/agents"): ADMIN_ONLY,
    ("POST", "/v1/purposes"): ADMIN_ONLY,
    ("GET", "/v1/purposes"): ANY_KEY,
    ("DELETE", "/v1/purposes/{code}"): ADMIN_ONLY,
    ("GET", "/v1/agents/{client_id}"): ADMIN_ONLY,
    ("PUT", "/v1/agents/{client_id}/jwks"): ADMIN_ONLY,
    ("POST", "/v1/agents/{client_id}/suspend"): ADMIN_ONLY,
    ("POST", "/v1/agents/{client_id}/reinstate"): ADMIN_ONLY,
    ("POST", "/v1/agents/{client_id}/release"): ADMIN_ONLY,
    ("GET", "/v1/detections"): ADMIN_OR_AUDITOR,
    ("POST", "/v1/users"): ADMIN_ONLY,
    ("POST", "/v1/auditors"): ADMIN_ONLY,
    ("POST", "/v1/me/grants"): USER_ONLY,
    ("GET", "/v1/me/grants"): USER_ONLY,
    ("DELETE", "/v1/me/grants/{grant_id}"): USER_ONLY,
    ("PUT", "/v1/me/grants/{grant_id}/budget"): USER_ONLY,
    ("POST", "/v1/me/blocklist"): USER_ONLY,
    ("GET", "/v1/me/blocklist"): USER_ONLY,
    ("DELETE", "/v1/me/blocklist/{entry_id}"): USER_ONLY,
    ("PUT", "/v1/me/blocklist/mode"): USER_ONLY,
    ("GET", "/v1/me/activity"): USER_ONLY,
    ("GET", "/v1/me/activity/proofs"): USER_ONLY,
    ("GET", "/v1/audit/checkpoint"): AUDITOR_ONLY,
    ("POST", "/v1/audit/checkpoints"): AUDITOR_ONLY,
    ("GET", "/v1/audit/checkpoints"): AUDITOR_ONLY,
    ("GET", "/v1/audit/keys"): AUDITOR_ONLY,
    ("GET", "/v1/audit/proofs/inclusion"): AUDITOR_ONLY,
    ("GET", "/v1/audit/proofs/consistency"): AUDITOR_ONLY,
    ("GET", "/v1/audit/events"): AUDITOR_ONLY,
    ("GET", "/v1/audit/export"): AUDITOR_ONLY,
    ("GET", "/v1/audit/decisions/{jti}"): AUDITOR_ONLY,
    ("GET", "/v1/audit/events/{seq}/decision"): AUDITOR_ONLY,
    # Every key manages its own principal's keys (another's answer 404, past authorization).
    ("GET", "/v1/api-keys"): ANY_KEY,
    ("POST", "/v1/api-keys/{key_id}/revoke"): ANY_KEY,
    ("POST", "/v1/api-keys/{key_id}/rotate"): ANY_KEY,
    ("GET", "/v1/revocations"): AGENT_ONLY,
    ("POST", "/v1/disclose"): AGENT_ONLY,
}


def _v1_routes(world: World) -> list[tuple[str, str]]:
    # From the OpenAPI document: FastAPI keeps included routers as nested objects, so app.routes
    # does not list every route.
    paths = world.client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return [(method.upper(), path) for path, ops in paths.items() if path.startswith("/v1") for method in ops]


def test_every_v1_route_is_in_the_matrix(world: World) -> None:
    routes = _v1_routes(world)
    assert len(routes) >= len(MATRIX)  # the lookup itself works
    missing = [route for route in routes if route not in MATRIX]
    assert not missing, f"routes without an authorization rule: {missing}"


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX))
def test_authorization_matrix(world: World, method: str, path: str) -> None:
    other = world.client.post("/v1/users", json={"user_id": "bob"}, headers=auth(world.admin_key)).json()[
        "api_key"
    ]
    auditor = world.client.post("/v1/auditors", json={"name": "audit"}, headers=auth(world.admin_key)).json()
    credentials = {
        "none": {},
        "user": auth(world.alice_key),
        "other_user": auth(other),
        "auditor": auth(auditor["api_key"]),
        "admin": auth(world.admin_key),
    }
    url = path.format(
        client_id="no-such-agent",
        grant_id="g_none",
        entry_id="e_none",
        jti="none",
        seq=1,
        org_id="no-such-org",
        key_id="0" * 16,
        code="no-such-purpose",
    )
    for caller in CALLERS:
        if caller == "agent":
            headers = {"Authorization": f"Bearer {world.calendar.assertion(ISSUER, now=world.clock.now)}"}
        else:
            headers = credentials[caller]
        response = world.client.request(method, url, headers=headers, json={})
        expected = MATRIX[(method, path)][caller]
        if expected == "ok":
            assert response.status_code not in (401, 403), (caller, response.text)
        else:
            assert response.status_code == expected, (caller, response.status_code, response.text)
