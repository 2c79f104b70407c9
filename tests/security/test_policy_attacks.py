"""Attacks on the user's policy, one named test each, asserting the exact wire error."""

from __future__ import annotations

from tests.broker.oauth.test_delegation import TOKEN_URL, exchange
from tests.conftest import ISSUER, ChainWorld, World, auth


def test_scope_escalation_through_the_token_endpoint(world: World) -> None:
    world.grant(scopes=["calendar:read"])
    response = world.token(world.travel, scope="calendar:read calendar:delete")
    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"


def test_wildcard_scope_escalation_through_the_token_endpoint(world: World) -> None:
    world.grant(scopes=["calendar:read"])
    assert world.token(world.travel, scope="calendar:*").json()["error"] == "access_denied"


def test_scope_escalation_through_exchange(chain: ChainWorld) -> None:
    root = chain.token(chain.assistant, scope="calendar:read").json()["access_token"]
    response = exchange(chain, chain.assistant, root, "travel-agent", scope="calendar:write")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_audience_escalation_through_exchange(chain: ChainWorld) -> None:
    root = chain.token(chain.assistant).json()["access_token"]
    response = exchange(chain, chain.assistant, root, "travel-agent", resource="https://bank.example/api")
    assert response.json()["error"] == "invalid_target"


def test_blocked_organization_in_the_middle_of_a_chain(chain: ChainWorld) -> None:
    root = chain.token(chain.assistant).json()["access_token"]
    travel = exchange(chain, chain.assistant, root, "travel-agent").json()["access_token"]
    chain.block("organization", "wanderly travel")
    proof = chain.travel.dpop_proof(TOKEN_URL, now=chain.clock.now)
    response = exchange(chain, chain.travel, travel, "airline", proof)
    assert response.status_code == 400  # the blocked agent's own token was revoked by the block
    assert response.json()["error"] == "invalid_request"
    assert chain.introspect(travel) == {"active": False}


def test_blocked_locale_anywhere_in_a_chain(chain: ChainWorld) -> None:
    root = chain.token(chain.assistant).json()["access_token"]
    chain.block("locale", "GB")  # the assistant, root of the chain
    response = exchange(chain, chain.assistant, root, "travel-agent")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert chain.token(chain.assistant).json()["error"] == "access_denied"


def test_blocked_recipient_of_a_delegation(chain: ChainWorld) -> None:
    root = chain.token(chain.assistant).json()["access_token"]
    chain.block("agent", "airline")
    response = exchange(chain, chain.assistant, root, "airline")
    # RFC 8693 section 2.2.2's code, with the one description that names no rule.
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "the subject or actor token is not acceptable for this exchange",
    }


def test_revoked_token_is_dead_everywhere(world: World) -> None:
    world.grant()
    token = world.token(world.travel).json()["access_token"]
    form = {"token": token, **world.travel.auth_form(ISSUER, now=world.clock.now)}
    assert world.client.post("/oauth2/revoke", data=form).status_code == 200
    assert world.introspect(token) == {"active": False}
    response = exchange(world, world.travel, token, "ad-agent")
    assert response.json()["error"] == "invalid_request"


def test_user_cannot_read_another_users_grants_blocklist_or_activity(world: World) -> None:
    world.grant()
    world.block("agent", "ad-agent")
    world.token(world.travel)
    bob = world.client.post("/v1/users", json={"user_id": "bob"}, headers=auth(world.admin_key)).json()[
        "api_key"
    ]
    assert world.client.get("/v1/me/grants", headers=auth(bob)).json() == {"grants": []}
    assert world.client.get("/v1/me/blocklist", headers=auth(bob)).json()["entries"] == []
    events = world.client.get("/v1/me/activity", headers=auth(bob)).json()["events"]
    assert all(e["type"] == "user.created" for e in events)


def test_user_cannot_change_another_users_grant_or_entry(world: World) -> None:
    grant = world.grant()
    entry = world.block("agent", "ad-agent")
    bob = world.client.post("/v1/users", json={"user_id": "bob"}, headers=auth(world.admin_key)).json()[
        "api_key"
    ]
    assert world.client.delete(f"/v1/me/grants/{grant['grant_id']}", headers=auth(bob)).status_code == 404
    assert world.client.delete(f"/v1/me/blocklist/{entry['entry_id']}", headers=auth(bob)).status_code == 404
    assert world.token(world.travel).status_code == 200
    assert world.token(world.ads).status_code == 403
