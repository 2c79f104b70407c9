"""The console's pages for people over the ASGI app (quicker than the browser tests, which repeat
these in Chromium): a destructive post acts only once confirmed, the organization search is for
users and admins, and console errors are pages with the navigation while API errors stay JSON."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.oauth.signing_keys import public_jwk
from tests.broker.web.helpers import sign_in
from tests.conftest import World, auth


def _entries(world: World) -> list[dict[str, Any]]:
    return list(world.client.get("/v1/me/blocklist", headers=auth(world.alice_key)).json()["entries"])


def test_a_block_posted_without_confirmation_only_asks(world: World) -> None:
    csrf = sign_in(world.client, world.alice_key)
    form = {"csrf": csrf, "kind": "organization", "value": "AdTrack Inc."}
    asked = world.client.post("/console/blocklist", data=form, follow_redirects=False)
    assert asked.status_code == 200
    assert "Block AdTrack Inc.?" in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    assert _entries(world) == []
    done = world.client.post("/console/blocklist", data={**form, "confirm": "yes"}, follow_redirects=False)
    assert done.status_code == 303
    assert [e["value"] for e in _entries(world)] == ["adtrack-inc"]


def test_a_revocation_posted_without_confirmation_only_asks(world: World) -> None:
    grant = world.grant()
    csrf = sign_in(world.client, world.alice_key)
    path = f"/console/grants/{grant['grant_id']}/revoke"
    asked = world.client.post(path, data={"csrf": csrf}, follow_redirects=False)
    assert asked.status_code == 200
    assert "Revoke this grant?" in asked.text
    assert grant["grant_id"] not in asked.text.split("<form")[0]
    listed = world.client.get("/v1/me/grants", headers=auth(world.alice_key)).json()["grants"]
    assert listed[0]["revoked_at"] is None


def test_the_mode_switch_posts_a_mode_the_server_accepts(world: World) -> None:
    csrf = sign_in(world.client, world.alice_key)
    page = world.client.get("/console/blocklist").text
    assert 'name="mode" value="allowlist_only"' in page
    form = {"csrf": csrf, "mode": "allowlist_only", "confirm": "yes"}
    assert world.client.post("/console/blocklist/mode", data=form, follow_redirects=False).status_code == 303
    assert 'id="current-mode">allowlist only<' in world.client.get("/console/blocklist").text


def test_organization_search_is_for_users_and_admins(world: World) -> None:
    sign_in(world.client, world.alice_key)
    found = world.client.get("/console/organizations", params={"q": "adtrack"}).json()["organizations"]
    assert [o["name"] for o in found][:1] == ["AdTrack Inc."]
    auditor = world.client.post("/v1/auditors", json={"name": "Ann"}, headers=auth(world.admin_key)).json()
    world.client.cookies.clear()
    sign_in(world.client, auditor["api_key"])
    assert world.client.get("/console/organizations", params={"q": "adtrack"}).status_code == 403


def test_console_errors_are_pages_with_navigation_and_api_errors_stay_json(world: World) -> None:
    sign_in(world.client, world.alice_key)
    for path, status in (
        ("/console/nope", 404),
        ("/console/activity?before=0", 422),
        ("/console/audit", 403),
    ):
        response = world.client.get(path)
        assert response.status_code == status
        assert response.headers["content-type"].startswith("text/html")
        assert 'href="/console/blocklist"' in response.text
    api = world.client.get("/v1/nope")
    assert api.status_code == 404
    assert api.headers["content-type"].startswith("application/")


def test_the_admin_rotates_an_agents_keys_and_a_compromise_only_asks_first(world: World) -> None:
    csrf = sign_in(world.client, world.admin_key)
    jwks = {"keys": [{**public_jwk(Ed25519PrivateKey.generate().public_key()), "kid": "travel-2"}]}
    form = {
        "csrf": csrf,
        "client_id": "travel-agent",
        "jwks": json.dumps(jwks),
        "current_kid": "",
        "compromised": "",
    }
    done = world.client.post("/console/admin/agents/keys", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text

    def agent() -> dict[str, Any]:
        return world.client.get("/v1/agents/travel-agent", headers=auth(world.admin_key)).json()  # type: ignore[no-any-return]

    assert agent()["current_kid"] == "travel-2"
    assert [k["kid"] for k in agent()["retiring_keys"]] == ["travel-agent-key-1"]
    page = world.client.get("/console/admin/agents")
    assert "travel-agent-key-1 (retiring)" in page.text
    compromise = {**form, "compromised": "travel-agent-key-1"}
    asked = world.client.post("/console/admin/agents/keys", data=compromise, follow_redirects=False)
    assert asked.status_code == 200
    assert 'name="confirm" value="yes"' in asked.text
    assert [k["kid"] for k in agent()["retiring_keys"]] == ["travel-agent-key-1"]
    confirmed = world.client.post(
        "/console/admin/agents/keys", data={**compromise, "confirm": "yes"}, follow_redirects=False
    )
    assert confirmed.status_code == 303, confirmed.text
    assert agent()["retiring_keys"] == []
