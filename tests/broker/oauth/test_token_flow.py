"""The token endpoint end to end through the ASGI app: grant, issue, introspect, revoke."""

from __future__ import annotations

import jwt
from sqlalchemy import select

from broker.storage.schema import grant_log
from tests.conftest import CALENDAR_URI, ISSUER, World, auth


def test_no_grant_means_access_denied(world: World) -> None:
    response = world.token(world.travel)
    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"
    assert response.headers["cache-control"] == "no-store"


def test_granted_scope_gets_a_short_lived_at_jwt(world: World) -> None:
    grant = world.grant()
    response = world.token(world.travel)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "EdDSA"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "alice"
    assert claims["aud"] == CALENDAR_URI
    assert claims["client_id"] == "travel-agent"
    assert claims["scope"] == "calendar:read"
    assert claims["grant_id"] == grant["grant_id"]
    assert claims["exp"] - claims["iat"] == 300
    assert claims["iss"] == ISSUER


def test_token_verifies_against_the_published_jwks(world: World) -> None:
    world.grant()
    token = world.token(world.travel).json()["access_token"]
    keys = world.client.get("/.well-known/jwks.json").json()["keys"]
    jwk = next(k for k in keys if k["kid"] == jwt.get_unverified_header(token)["kid"])
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(token, key, algorithms=["EdDSA"], audience=CALENDAR_URI, issuer=ISSUER)
    assert claims["client_id"] == "travel-agent"


def test_lifetime_is_the_least_of_asked_grant_cap_and_broker_cap(world: World) -> None:
    world.grant(max_ttl_seconds=120)
    assert world.token(world.travel, expires_in="3000").json()["expires_in"] == 120
    assert world.token(world.travel, expires_in="60").json()["expires_in"] == 60


def test_lifetime_never_outlives_the_grant(world: World) -> None:
    world.grant(max_ttl_seconds=3600, expires_at=world.clock.now + 90)
    assert world.token(world.travel, expires_in="3600").json()["expires_in"] == 90


def test_scope_wider_than_grant_is_denied(world: World) -> None:
    world.grant(scopes=["calendar:read"])
    response = world.token(world.travel, scope="calendar:read calendar:write")
    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"


def test_wildcard_grant_covers_narrower_scope(world: World) -> None:
    world.grant(scopes=["calendar:*"])
    assert world.token(world.travel, scope="calendar:write").status_code == 200


def test_grant_to_organization_covers_its_agents(world: World) -> None:
    world.grant(agent=None, organization="  WANDERLY   travel ")
    assert world.token(world.travel).status_code == 200
    assert world.token(world.ads).status_code == 403


def test_purpose_bound_grant_needs_the_same_purpose(world: World) -> None:
    world.purpose("trip-planning")
    world.purpose("advertising")
    world.grant(purpose="trip-planning")  # the older single field, taken as a one-element list
    assert world.token(world.travel).status_code == 403
    assert world.token(world.travel, purpose="advertising").status_code == 403
    response = world.token(world.travel, purpose="trip-planning")
    assert response.status_code == 200
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["purpose"] == "trip-planning"


def test_a_free_text_purpose_never_reaches_the_log(world: World) -> None:
    # The grant log is kept for good and tokens travel: a purpose is a code, never prose.
    world.grant()
    prose = "treatment of Alice Smith's diabetes"
    response = world.token(world.travel, purpose=prose)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    for bad in (prose, "a" * 65, "-leading-dash", "line\nbreak"):
        refused = world.client.post(
            "/v1/me/grants",
            json={
                "agent": "travel-agent",
                "resource": CALENDAR_URI,
                "scopes": ["calendar:read"],
                "max_ttl_seconds": 600,
                "purpose": bad,
            },
            headers=auth(world.alice_key),
        )
        assert refused.status_code == 422, bad
    store = world.client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.read() as conn:
        events = conn.execute(select(grant_log.c.event)).scalars().all()
    assert events
    assert not [event for event in events if "Smith" in event]
    world.purpose("billing:v2/monthly")
    assert world.token(world.travel, purpose="billing:v2/monthly").status_code == 200


def test_expired_grant_is_denied(world: World) -> None:
    world.grant(expires_at=world.clock.now + 30)
    world.clock.advance(31)
    assert world.token(world.travel).status_code == 403


def test_unknown_subject_looks_like_any_other_refusal(world: World) -> None:
    response = world.token(world.travel, subject="nobody")
    assert response.status_code == 403
    assert response.json() == world.token(world.ads).json()


def test_unregistered_resource_is_invalid_target(world: World) -> None:
    response = world.token(world.travel, resource="https://unknown.example/api")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_target"


def test_bad_scope_syntax_is_invalid_scope(world: World) -> None:
    response = world.token(world.travel, scope="Calendar READ")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_introspection_shows_active_token_to_its_holder_only(world: World) -> None:
    world.grant()
    token = world.token(world.travel).json()["access_token"]
    active = world.introspect(token)
    assert active["active"] is True
    assert active["client_id"] == "travel-agent"
    assert active["scope"] == "calendar:read"
    assert world.introspect(token, holder=world.ads) == {"active": False}


def test_introspection_of_expired_token_is_inactive(world: World) -> None:
    world.grant()
    token = world.token(world.travel, expires_in="60").json()["access_token"]
    world.clock.advance(61)
    assert world.introspect(token) == {"active": False}


def test_revocation_by_client_ends_token_and_feeds_holder(world: World) -> None:
    world.grant()
    token = world.token(world.travel).json()["access_token"]
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    form = {"token": token, **world.travel.auth_form(ISSUER, now=world.clock.now)}
    assert world.client.post("/oauth2/revoke", data=form).status_code == 200
    assert world.introspect(token) == {"active": False}
    feed = world.feed()
    assert [r["jti"] for r in feed["revocations"]] == [jti]
    assert world.feed(since=feed["cursor"])["revocations"] == []


def test_revocation_by_a_stranger_is_refused(world: World) -> None:
    world.grant()
    token = world.token(world.travel).json()["access_token"]
    form = {"token": token, **world.ads.auth_form(ISSUER, now=world.clock.now)}
    response = world.client.post("/oauth2/revoke", data=form)
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"
    assert world.introspect(token)["active"] is True


def test_revoking_garbage_is_a_no_op(world: World) -> None:
    form = {"token": "not-a-token", **world.travel.auth_form(ISSUER, now=world.clock.now)}
    assert world.client.post("/oauth2/revoke", data=form).status_code == 200


def test_revoking_a_grant_revokes_its_live_tokens(world: World) -> None:
    grant = world.grant()
    token = world.token(world.travel).json()["access_token"]
    response = world.client.delete(f"/v1/me/grants/{grant['grant_id']}", headers=auth(world.alice_key))
    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    assert world.introspect(token) == {"active": False}
    assert len(world.feed()["revocations"]) == 1
    assert world.token(world.travel).status_code == 403


def test_suspending_an_agent_revokes_its_tokens(world: World) -> None:
    world.grant()
    token = world.token(world.travel).json()["access_token"]
    response = world.client.post("/v1/agents/travel-agent/suspend", headers=auth(world.admin_key))
    assert response.json()["status"] == "suspended"
    assert world.introspect(token) == {"active": False}
    assert world.token(world.travel).status_code == 401  # a suspended agent cannot authenticate
    world.client.post("/v1/agents/travel-agent/reinstate", headers=auth(world.admin_key))
    assert world.token(world.travel).status_code == 200


def test_feed_keeps_a_revocation_a_while_past_expiry(world: World) -> None:
    # Holders accept a just-expired token within their clock leeway, so the feed must still
    # carry its revocation then.
    world.grant()
    token = world.token(world.travel, expires_in="60").json()["access_token"]
    form = {"token": token, **world.travel.auth_form(ISSUER, now=world.clock.now)}
    world.client.post("/oauth2/revoke", data=form)
    world.clock.advance(60 + 30)
    assert len(world.feed()["revocations"]) == 1
    world.clock.advance(200)
    assert world.feed()["revocations"] == []
