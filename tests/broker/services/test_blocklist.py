"""Blocklist and allowlist semantics: a block beats any grant and ends live tokens at once."""

from __future__ import annotations

import jwt

from tests.agents import TestAgent
from tests.conftest import CALENDAR_URI, World, auth


def _jti(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


def test_blocked_organization_beats_a_grant(world: World) -> None:
    world.grant(agent="ad-agent")
    assert world.token(world.ads).status_code == 200
    world.block("organization", "adtrack inc.")
    response = world.token(world.ads)
    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"


def test_refusal_never_reveals_the_blocklist(world: World) -> None:
    world.grant(agent="ad-agent")
    world.block("organization", "AdTrack Inc.", note="no ad companies")
    body = world.token(world.ads).json()
    text = str(body).lower()
    assert "adtrack" not in text
    assert "block" not in text
    assert "no ad companies" not in text
    assert body == world.token(world.ads, subject="nobody").json()


def test_block_revokes_live_tokens_at_once(world: World) -> None:
    world.grant(agent="ad-agent")
    token = world.token(world.ads).json()["access_token"]
    assert world.introspect(token)["active"] is True
    world.block("organization", "ADTRACK   INC.")
    assert world.introspect(token) == {"active": False}
    assert [r["jti"] for r in world.feed()["revocations"]] == [_jti(token)]


def test_block_leaves_other_agents_tokens_alone(world: World) -> None:
    world.grant()
    world.grant(agent="ad-agent")
    travel_token = world.token(world.travel).json()["access_token"]
    world.block("agent", "ad-agent")
    assert world.introspect(travel_token)["active"] is True


def test_country_block_covers_its_subdivisions(world: World) -> None:
    world.grant(agent="ad-agent")
    world.block("locale", "us")
    assert world.token(world.ads).status_code == 403  # ads is attested as US-CA


def test_subdivision_block_does_not_cover_the_country(world: World) -> None:
    world.grant(agent="ad-agent")
    world.block("locale", "US-NY")
    assert world.token(world.ads).status_code == 200


def test_blocking_the_holder_refuses_access_to_its_data(world: World) -> None:
    world.grant()
    world.block("organization", "Calendar Co")
    assert world.token(world.travel).status_code == 403


def test_unblocking_restores_access(world: World) -> None:
    world.grant(agent="ad-agent")
    entry = world.block("agent", "ad-agent")
    assert world.token(world.ads).status_code == 403
    response = world.client.delete(f"/v1/me/blocklist/{entry['entry_id']}", headers=auth(world.alice_key))
    assert response.status_code == 200
    assert world.token(world.ads).status_code == 200


def test_same_entry_twice_is_one_entry(world: World) -> None:
    first = world.block("organization", "AdTrack Inc.")
    second = world.block("organization", " adtrack  INC. ")
    assert first["entry_id"] == second["entry_id"]
    listing = world.client.get("/v1/me/blocklist", headers=auth(world.alice_key)).json()
    assert listing["mode"] == "blocklist"
    assert [e["value"] for e in listing["entries"]] == ["adtrack-inc"]


def test_invalid_locale_is_rejected(world: World) -> None:
    response = world.client.post(
        "/v1/me/blocklist", json={"kind": "locale", "value": "XX-99"}, headers=auth(world.alice_key)
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_allowlist_only_mode_admits_only_allowed_parties(world: World) -> None:
    world.grant()
    world.grant(agent="ad-agent")
    travel_token = world.token(world.travel).json()["access_token"]
    ads_token = world.token(world.ads).json()["access_token"]
    world.block("organization", "Wanderly Travel", effect="allow")
    world.block("organization", "Calendar Co", effect="allow")
    response = world.client.put(
        "/v1/me/blocklist/mode", json={"mode": "allowlist_only"}, headers=auth(world.alice_key)
    )
    assert response.json() == {"mode": "allowlist_only"}
    assert world.introspect(ads_token) == {"active": False}
    assert world.introspect(travel_token)["active"] is True
    assert world.token(world.ads).status_code == 403
    assert world.token(world.travel).status_code == 200


def test_allowlist_only_with_no_entries_admits_nobody(world: World) -> None:
    world.grant()
    world.client.put("/v1/me/blocklist/mode", json={"mode": "allowlist_only"}, headers=auth(world.alice_key))
    assert world.token(world.travel).status_code == 403


def test_block_in_allowlist_mode_still_wins(world: World) -> None:
    world.grant()
    world.block("organization", "Wanderly Travel", effect="allow")
    world.block("organization", "Calendar Co", effect="allow")
    world.client.put("/v1/me/blocklist/mode", json={"mode": "allowlist_only"}, headers=auth(world.alice_key))
    assert world.token(world.travel).status_code == 200
    world.block("locale", "FR")
    assert world.token(world.travel).status_code == 403


def test_one_users_block_does_not_touch_another_users_tokens(world: World) -> None:
    bob = world.client.post("/v1/users", json={"user_id": "bob"}, headers=auth(world.admin_key)).json()
    world.client.post(
        "/v1/me/grants",
        headers=auth(bob["api_key"]),
        json={
            "agent": "ad-agent",
            "resource": CALENDAR_URI,
            "scopes": ["calendar:read"],
            "max_ttl_seconds": 300,
        },
    )
    bob_token = world.token(world.ads, subject="bob").json()["access_token"]
    world.block("agent", "ad-agent")
    assert world.introspect(bob_token)["active"] is True


def test_newly_registered_agent_of_blocked_org_is_refused(world: World) -> None:
    world.block("organization", "AdTrack Inc.")
    other = TestAgent("ad-agent-2", "adtrack inc.", "GB")
    world.client.post("/v1/agents", json=other.registration(), headers=auth(world.admin_key))
    world.grant(agent="ad-agent-2")
    assert world.token(other).status_code == 403
