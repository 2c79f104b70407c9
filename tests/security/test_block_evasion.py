"""Blocks that cannot be dodged: each test names an evasion a user's block must survive.

Spellings of an organization (legal suffixes, punctuation, confusable letters, invisible characters),
laundering through delegation, locales under the blocked one, client ids in another case, and
resource URIs spelt differently from the registered one.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from tests.agents import TestAgent
from tests.broker.oauth.test_delegation import TOKEN_URL, _claims, exchange
from tests.conftest import CALENDAR_URI, ChainWorld, World, auth

ADCORP_SPELLINGS = [
    pytest.param("AdCorp, Inc.", id="inc"),
    pytest.param("AdCorp.", id="trailing-dot"),
    pytest.param("AdCorp GmbH", id="gmbh"),
    pytest.param("\u0410dCorp", id="cyrillic-A"),
    pytest.param("Ad\u200dCorp", id="zero-width-joiner"),
]


def _register_org(world: World, **body: Any) -> Any:
    return world.client.post("/v1/organizations", json=body, headers=auth(world.admin_key))


def _register_agent(world: World, agent: TestAgent) -> dict[str, Any]:
    response = world.client.post("/v1/agents", json=agent.registration(), headers=auth(world.admin_key))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _adcorp(world: World) -> None:
    response = _register_org(world, id="adcorp", name="AdCorp", domains=["adcorp.example"])
    assert response.status_code == 201, response.text


def _jti(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


@pytest.mark.parametrize("spelling", ADCORP_SPELLINGS)
def test_registering_a_spelled_variant_of_another_organization_is_a_conflict(
    world: World, spelling: str
) -> None:
    _adcorp(world)
    response = _register_org(world, id="adcorp-2", name=spelling)
    assert response.status_code == 409, response.text
    assert "adcorp" in response.json()["detail"]
    alias = _register_org(world, id="other", name="Other", aliases=[spelling])
    assert alias.status_code == 409


def test_registering_another_organizations_domain_is_a_conflict(world: World) -> None:
    _adcorp(world)
    assert _register_org(world, id="squat", name="Squatter", domains=["ADCORP.example."]).status_code == 409


def test_a_spelled_variant_declared_the_same_organization_is_registered_and_blocked_with_it(
    world: World,
) -> None:
    _adcorp(world)
    response = _register_org(world, id="adcorp-de", name="AdCorp GmbH", same_as="adcorp")
    assert response.status_code == 201, response.text
    assert response.json()["same_as"] == "adcorp"
    agent = TestAgent("de-agent", "adcorp-de", "DE")
    _register_agent(world, agent)
    world.grant(agent="de-agent")
    world.block("organization", "adcorp")
    assert world.token(agent).json()["error"] == "access_denied"


@pytest.mark.parametrize("spelling", ADCORP_SPELLINGS)
def test_agent_registered_under_a_spelled_variant_is_covered_by_the_block(
    world: World, spelling: str
) -> None:
    _adcorp(world)
    agent = TestAgent("variant-agent", spelling, "US")
    assert _register_agent(world, agent)["organization"] == "adcorp"
    world.grant(agent="variant-agent")
    assert world.token(agent).status_code == 200
    world.block("organization", "AdCorp")
    response = world.token(agent)
    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"


@pytest.mark.parametrize("spelling", ADCORP_SPELLINGS)
def test_block_typed_as_a_spelled_variant_resolves_to_the_organization(world: World, spelling: str) -> None:
    _adcorp(world)
    agent = TestAgent("plain-agent", "adcorp", "US")
    _register_agent(world, agent)
    world.grant(agent="plain-agent")
    body = world.block("organization", spelling)
    assert body["value"] == "adcorp"
    assert body["warnings"] == []
    assert world.token(agent).json()["error"] == "access_denied"


def test_block_on_a_name_nobody_registered_warns_suggests_and_still_covers_it_later(world: World) -> None:
    _adcorp(world)
    body = world.block("organization", "AdCorpp")
    assert "no registered organization" in body["warnings"][0]
    assert [s["id"] for s in body["suggestions"]] == ["adcorp"]
    # An organization registered later under a spelling of that name is covered by the kept entry.
    late = TestAgent("late-agent", "AdCorpp GmbH", "US")
    _register_agent(world, late)
    world.grant(agent="late-agent")
    assert world.token(late).json()["error"] == "access_denied"


def test_block_on_a_parent_organization_covers_its_subsidiaries_agents(world: World) -> None:
    _adcorp(world)
    assert _register_org(world, id="adcorp-eu", name="AdCorp Europe", parent="adcorp").status_code == 201
    assert _register_org(world, id="adcorp-fr", name="Pubs Paris", parent="adcorp-eu").status_code == 201
    agent = TestAgent("paris-agent", "adcorp-fr", "FR")
    _register_agent(world, agent)
    world.grant(agent="paris-agent")
    token = world.token(agent).json()["access_token"]
    started = time.monotonic()
    world.block("organization", "AdCorp, Inc.")
    # At once: the live token is revoked and listed in the holder's feed within a second.
    assert world.introspect(token) == {"active": False}
    assert _jti(token) in [r["jti"] for r in world.feed()["revocations"]]
    assert time.monotonic() - started < 1.0
    assert world.token(agent).json()["error"] == "access_denied"


def _relay(chain: ChainWorld) -> TestAgent:
    """An AdCorp subsidiary's agent, registered under a spelled variant of its parent's name."""
    _adcorp(chain)
    assert _register_org(chain, id="adcorp-relay", name="Relay Services", parent="adcorp").status_code == 201
    relay = TestAgent("relay-agent", "adcorp-relay", "FR")
    _register_agent(chain, relay)
    return relay


def test_block_laundered_through_a_delegation_chain_of_three_with_a_spelled_variant(
    chain: ChainWorld,
) -> None:
    relay = _relay(chain)
    root = chain.token(chain.assistant).json()["access_token"]
    chain.block("organization", "\u0410dCorp GmbH")  # Cyrillic A and a legal suffix
    # assistant -> relay (an AdCorp subsidiary's agent) is refused ...
    response = exchange(chain, chain.assistant, root, relay.client_id)
    # RFC 8693 section 2.2.2: a subject token the user's policy does not accept is invalid_request.
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    # ... and so is the relay as the middle of assistant -> travel -> relay -> airline.
    travel = exchange(chain, chain.assistant, root, "travel-agent").json()["access_token"]
    proof = chain.travel.dpop_proof(TOKEN_URL, now=chain.clock.now) if "cnf" in _claims(travel) else None
    response = exchange(chain, chain.travel, travel, relay.client_id, proof)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_block_after_laundering_revokes_every_token_of_the_chain(chain: ChainWorld) -> None:
    relay = _relay(chain)
    root = chain.token(chain.assistant).json()["access_token"]
    to_relay = exchange(chain, chain.assistant, root, relay.client_id).json()["access_token"]
    proof = relay.dpop_proof(TOKEN_URL, now=chain.clock.now) if "cnf" in _claims(to_relay) else None
    response = exchange(chain, relay, to_relay, "airline", proof)
    assert response.status_code == 200, response.text
    to_airline = response.json()["access_token"]
    assert _claims(to_airline)["act"]["act"]["sub"] == "relay-agent"
    chain.block("organization", "adcorp.")
    assert chain.introspect(to_relay) == {"active": False}
    assert chain.introspect(to_airline) == {"active": False}  # the relay is in its chain
    assert chain.introspect(root)["active"] is True  # no AdCorp agent in the root's chain
    revoked = {r["jti"] for r in chain.feed()["revocations"]}
    assert {_jti(to_relay), _jti(to_airline)} <= revoked


@pytest.mark.parametrize(
    ("blocked", "attested"),
    [("US", "PR"), ("US", "US-PR"), ("US", "GU"), ("US", "VI"), ("GB-ENG", "GB-LND"), ("GB", "GB-LND")],
)
def test_locale_block_covers_subdivisions_and_dependent_territories(
    world: World, blocked: str, attested: str
) -> None:
    agent = TestAgent("placed-agent", "Placed Inc", attested)
    _register_agent(world, agent)
    world.grant(agent="placed-agent")
    assert world.token(agent).status_code == 200
    world.block("locale", blocked)
    assert world.token(agent).json()["error"] == "access_denied"


def test_allowlist_of_a_group_admits_members_only(world: World) -> None:
    world.grant(agent="travel-agent")  # FR
    world.grant(agent="ad-agent")  # US-CA
    world.block("locale", "EU", effect="allow")
    world.block("locale", "de", effect="allow")  # the calendar holder
    response = world.client.put(
        "/v1/me/blocklist/mode", json={"mode": "allowlist_only"}, headers=auth(world.alice_key)
    )
    assert response.status_code == 200
    assert world.token(world.travel).status_code == 200
    assert world.token(world.ads).json()["error"] == "access_denied"


@pytest.mark.parametrize("code", ["UK", "Europe", "US-XX", "ZZ"])
def test_unknown_locale_in_a_block_is_refused_naming_the_accepted_forms(world: World, code: str) -> None:
    response = world.client.post(
        "/v1/me/blocklist", json={"kind": "locale", "value": code}, headers=auth(world.alice_key)
    )
    assert response.status_code == 422
    assert "ISO 3166-1 alpha-2 or alpha-3" in response.json()["detail"]


def test_agent_block_in_another_case_matches_the_client_id(world: World) -> None:
    world.grant(agent="ad-agent")
    body = world.block("agent", "AD-Agent")
    assert body["value"] == "ad-agent"
    assert body["warnings"] == []
    assert world.token(world.ads).json()["error"] == "access_denied"


def test_agent_registered_in_another_case_of_an_existing_client_id_is_a_conflict(world: World) -> None:
    twin = TestAgent("AD-Agent", "Other Org", "US")
    response = world.client.post("/v1/agents", json=twin.registration(), headers=auth(world.admin_key))
    assert response.status_code == 409


def test_agent_block_naming_no_registered_agent_is_kept_and_warns(world: World) -> None:
    body = world.block("agent", "no-such-agent")
    assert body["value"] == "no-such-agent"
    assert "no registered agent" in body["warnings"][0]


RESOURCE_SPELLINGS = [
    pytest.param("https://CALENDAR.Example/api", id="host-case"),
    pytest.param("https://calendar.example:443/api", id="default-port"),
    pytest.param("https://calendar.example/api/", id="trailing-slash"),
    pytest.param("https://calendar.example/%61pi", id="percent-encoded"),
    pytest.param("https://calendar.example/api?", id="empty-query"),
]


@pytest.mark.parametrize("spelling", RESOURCE_SPELLINGS)
def test_registering_a_spelling_of_another_agents_resource_is_a_conflict(world: World, spelling: str) -> None:
    thief = TestAgent("thief", "Thief Ltd", "GB", [spelling])
    response = world.client.post("/v1/agents", json=thief.registration(), headers=auth(world.admin_key))
    assert response.status_code == 409


@pytest.mark.parametrize("spelling", RESOURCE_SPELLINGS)
def test_a_token_request_for_a_spelling_of_a_resource_gets_the_canonical_audience(
    world: World, spelling: str
) -> None:
    world.grant(agent="travel-agent")
    response = world.token(world.travel, resource=spelling)
    assert response.status_code == 200, response.text
    assert _claims(response.json()["access_token"])["aud"] == CALENDAR_URI


@pytest.mark.parametrize(
    "uri",
    [
        "https://user:pw@calendar.example/api",
        "https://calendar.example/api#frag",
        "ftp://calendar.example/api",
    ],
)
def test_resource_uris_with_userinfo_or_fragment_are_refused(world: World, uri: str) -> None:
    thief = TestAgent("thief", "Thief Ltd", "GB", [uri])
    response = world.client.post("/v1/agents", json=thief.registration(), headers=auth(world.admin_key))
    assert response.status_code == 422
    assert world.token(world.travel, resource=uri).json()["error"] == "invalid_target"
