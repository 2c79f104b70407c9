"""Admin and user management routes, keys shown once and stored hashed, activity."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from broker.oauth.agent_keys import validate_jwks
from broker.storage.schema import api_keys, grant_log
from tests.agents import TestAgent
from tests.conftest import CALENDAR_URI, World, auth


def test_agent_registration_normalizes_and_validates(world: World) -> None:
    agent = TestAgent("new-agent", "  Big   CORP  ", "gb-lnd", ["https://files.example/api"])
    response = world.client.post("/v1/agents", json=agent.registration(), headers=auth(world.admin_key))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["organization"] == "big-corp"  # an organization registered for the name
    assert body["organization_display"] == "Big CORP"
    assert body["locale"] == "GB-LND"
    assert body["status"] == "active"


def test_duplicate_agent_is_a_conflict(world: World) -> None:
    response = world.client.post(
        "/v1/agents", json=world.travel.registration(), headers=auth(world.admin_key)
    )
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"


def test_resource_uri_of_another_agent_is_a_conflict(world: World) -> None:
    thief = TestAgent("thief", "Thief Ltd", "GB", [CALENDAR_URI])
    response = world.client.post("/v1/agents", json=thief.registration(), headers=auth(world.admin_key))
    assert response.status_code == 409


def test_private_key_in_jwks_is_refused(world: World) -> None:
    agent = TestAgent("leaky", "Leaky", "GB")
    registration = agent.registration()
    registration["jwks"]["keys"][0]["d"] = "c2VjcmV0"
    response = world.client.post("/v1/agents", json=registration, headers=auth(world.admin_key))
    assert response.status_code == 422
    assert "private" in response.json()["detail"]


def test_unknown_locale_is_refused(world: World) -> None:
    registration = TestAgent("nowhere", "Nowhere", "ZZ").registration()
    response = world.client.post("/v1/agents", json=registration, headers=auth(world.admin_key))
    assert response.status_code == 422


def test_user_key_is_shown_once_and_stored_hashed(world: World) -> None:
    response = world.client.post("/v1/users", json={"user_id": "carol"}, headers=auth(world.admin_key))
    assert response.status_code == 201
    key = response.json()["api_key"]
    secret = key.split(".", 1)[1]
    store = world.client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.read() as conn:
        rows = conn.execute(select(api_keys.c.secret_hash)).all()
    assert all(secret.encode() not in row.secret_hash for row in rows)
    again = world.client.post("/v1/users", json={"user_id": "carol"}, headers=auth(world.admin_key))
    assert again.status_code == 409
    assert "api_key" not in again.text


def test_auditor_creation_returns_a_key(world: World) -> None:
    response = world.client.post(
        "/v1/auditors", json={"name": "Internal audit"}, headers=auth(world.admin_key)
    )
    assert response.status_code == 201
    assert response.json()["api_key"].startswith("dsc_aud_")


def test_missing_or_wrong_key_is_401_and_wrong_role_is_403(world: World) -> None:
    assert world.client.get("/v1/agents").status_code == 401
    assert world.client.get("/v1/agents", headers=auth("dsc_adm_0000000000000000.nope")).status_code == 401
    response = world.client.get("/v1/agents", headers=auth(world.alice_key))
    assert response.status_code == 403
    assert world.client.get("/v1/me/grants", headers=auth(world.admin_key)).status_code == 403


def test_grant_listing_and_status(world: World) -> None:
    grant = world.grant(expires_at=world.clock.now + 60)
    world.clock.advance(61)
    grants = world.client.get("/v1/me/grants", headers=auth(world.alice_key)).json()["grants"]
    assert [(g["grant_id"], g["status"]) for g in grants] == [(grant["grant_id"], "expired")]


def test_grant_needs_exactly_one_grantee(world: World) -> None:
    body = {
        "agent": "travel-agent",
        "organization": "x",
        "resource": CALENDAR_URI,
        "scopes": ["a:b"],
        "max_ttl_seconds": 60,
    }
    assert world.client.post("/v1/me/grants", json=body, headers=auth(world.alice_key)).status_code == 422
    body.pop("agent")
    body.pop("organization")
    assert world.client.post("/v1/me/grants", json=body, headers=auth(world.alice_key)).status_code == 422


def test_grant_rejects_unregistered_resource_and_bad_scopes(world: World) -> None:
    base = {
        "agent": "travel-agent",
        "resource": CALENDAR_URI,
        "scopes": ["calendar:read"],
        "max_ttl_seconds": 60,
    }
    for change in (
        {"resource": "https://nowhere.example"},
        {"scopes": ["calendar"]},
        {"scopes": []},
        {"max_ttl_seconds": 0},
        {"max_ttl_seconds": 7200},
        {"reveal": ["email"]},
        {"agent": "no-such-agent"},
        {"expires_at": 1.0},
    ):
        response = world.client.post("/v1/me/grants", json={**base, **change}, headers=auth(world.alice_key))
        assert response.status_code == 422, change


def test_users_cannot_touch_each_others_grants_or_entries(world: World) -> None:
    grant = world.grant()
    entry = world.block("agent", "ad-agent")
    bob = world.client.post("/v1/users", json={"user_id": "bob"}, headers=auth(world.admin_key)).json()
    bob_auth = auth(bob["api_key"])
    assert world.client.delete(f"/v1/me/grants/{grant['grant_id']}", headers=bob_auth).status_code == 404
    assert world.client.delete(f"/v1/me/blocklist/{entry['entry_id']}", headers=bob_auth).status_code == 404
    assert world.client.get("/v1/me/grants", headers=bob_auth).json() == {"grants": []}
    events = world.client.get("/v1/me/activity", headers=bob_auth).json()["events"]
    assert [e["type"] for e in events] == ["user.created"]


def test_activity_shows_issued_and_refused_with_reasons(world: World) -> None:
    world.grant()
    world.token(world.travel)
    world.token(world.ads)
    events = world.client.get("/v1/me/activity", headers=auth(world.alice_key)).json()["events"]
    issued = next(e for e in events if e["type"] == "token.issued")
    denied = next(e for e in events if e["type"] == "token.denied")
    assert issued["agents"] == ["travel-agent"]
    assert issued["holder"] == "calendar-holder"
    assert issued["jti"]
    assert denied["agents"] == ["ad-agent"]
    assert denied["reasons"] == ["no_grant"]


def test_activity_pages_backwards(world: World) -> None:
    world.grant()
    for _ in range(5):
        world.token(world.travel)
    first = world.client.get("/v1/me/activity", params={"limit": 3}, headers=auth(world.alice_key)).json()
    second = world.client.get(
        "/v1/me/activity", params={"limit": 3, "before": first["next_before"]}, headers=auth(world.alice_key)
    ).json()
    seqs = [e["seq"] for e in first["events"] + second["events"]]
    assert seqs == sorted(seqs, reverse=True)
    assert len(set(seqs)) == len(seqs) == 6


def test_every_change_is_in_the_log_in_order_and_without_user_ids(world: World) -> None:
    world.grant()
    world.token(world.travel)
    world.block("organization", "AdTrack Inc.")
    store = world.client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.read() as conn:
        rows = conn.execute(select(grant_log.c.seq, grant_log.c.event).order_by(grant_log.c.seq)).all()
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    types = [json.loads(r.event)["type"] for r in rows]
    for expected in (
        "signing_key.created",
        "admin.key_created",
        "agent.registered",
        "user.created",
        "grant.created",
        "token.issued",
        "list.entry_added",
    ):
        assert expected in types
    assert all('"alice"' not in r.event for r in rows)


def test_a_registered_key_keeps_only_its_defining_members(world: World) -> None:
    agent = TestAgent("decorated", "Decorated Ltd", "GB")
    registration = agent.registration()
    registration["jwks"]["keys"][0] |= {"key_ops": ["verify"], "x5c": ["MIIB"], "ext": True, "note": {"a": 1}}
    response = world.client.post("/v1/agents", json=registration, headers=auth(world.admin_key))
    assert response.status_code == 201, response.text
    stored = validate_jwks(registration["jwks"])["keys"][0]
    assert set(stored) == {"kty", "crv", "x", "kid", "alg", "use"}
    assert all(isinstance(value, str) for value in stored.values())


@pytest.mark.parametrize("member", [{"x": 12}, {"crv": ["Ed25519"]}, {"alg": None}, {"use": {"sig": 1}}])
def test_a_key_member_that_is_not_a_string_is_refused(world: World, member: dict[str, object]) -> None:
    registration = TestAgent("odd", "Odd Ltd", "GB").registration()
    registration["jwks"]["keys"][0] |= member
    response = world.client.post("/v1/agents", json=registration, headers=auth(world.admin_key))
    assert response.status_code == 422, response.text
