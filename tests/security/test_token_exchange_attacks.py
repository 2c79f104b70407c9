"""Attacks on RFC 8693 token exchange: stolen or forged actor tokens, targets it cannot serve,
token types it does not issue, and refusals that would reveal the user's policy."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.oauth.token_exchange import POLICY_REFUSAL
from tests.broker.oauth.test_exchange_actor_token import (
    ACCESS_TOKEN,
    EXCHANGE,
    TOKEN_URL,
    _claims,
    actor_exchange,
    own_token,
    root_token,
)
from tests.conftest import CALENDAR_URI, ISSUER, ChainWorld, auth


def _error(response: object) -> tuple[int, str]:
    return response.status_code, response.json()["error"]  # type: ignore[attr-defined]


def test_another_agents_stolen_actor_token_is_invalid_request(chain: ChainWorld) -> None:
    stolen = own_token(chain, chain.travel)
    response = actor_exchange(chain, chain.ads, root_token(chain), stolen)
    assert _error(response) == (400, "invalid_request")
    assert response.json()["error_description"] == "the actor token was not issued to the caller"


def test_forged_actor_token_is_invalid_request(chain: ChainWorld) -> None:
    genuine = own_token(chain, chain.travel)
    header = jwt.get_unverified_header(genuine)
    forged = jwt.encode(_claims(genuine), Ed25519PrivateKey.generate(), algorithm="EdDSA", headers=header)
    response = actor_exchange(chain, chain.travel, root_token(chain), forged)
    assert _error(response) == (400, "invalid_request")


def test_revoked_actor_token_is_invalid_request(chain: ChainWorld) -> None:
    actor = own_token(chain, chain.travel)
    form = {"token": actor, **chain.travel.auth_form(ISSUER, now=chain.clock.now)}
    assert chain.client.post("/oauth2/revoke", data=form).status_code == 200
    response = actor_exchange(chain, chain.travel, root_token(chain), actor)
    assert _error(response) == (400, "invalid_request")
    assert response.json()["error_description"] == "the actor token is revoked"


def test_actor_token_without_actor_token_type_is_invalid_request(chain: ChainWorld) -> None:
    form = {
        "grant_type": EXCHANGE,
        "subject_token": root_token(chain),
        "subject_token_type": ACCESS_TOKEN,
        "actor_token": own_token(chain, chain.travel),
        **chain.travel.auth_form(ISSUER, now=chain.clock.now),
    }
    assert _error(chain.client.post("/oauth2/token", data=form)) == (400, "invalid_request")


def test_actor_token_type_without_actor_token_is_invalid_request(chain: ChainWorld) -> None:
    response = actor_exchange(
        chain,
        chain.assistant,
        root_token(chain),
        None,
        requested_actor="travel-agent",
        actor_token_type=ACCESS_TOKEN,
    )
    assert _error(response) == (400, "invalid_request")


@pytest.mark.parametrize("actor_type", ["urn:ietf:params:oauth:token-type:id_token", "access_token"])
def test_actor_token_of_another_type_is_invalid_request(chain: ChainWorld, actor_type: str) -> None:
    actor = own_token(chain, chain.travel)
    response = actor_exchange(chain, chain.travel, root_token(chain), actor, actor_token_type=actor_type)
    assert _error(response) == (400, "invalid_request")


def test_requested_actor_and_actor_token_together_are_invalid_request(chain: ChainWorld) -> None:
    actor = own_token(chain, chain.travel)
    response = actor_exchange(chain, chain.travel, root_token(chain), actor, requested_actor="airline")
    assert _error(response) == (400, "invalid_request")


def test_a_delegate_cannot_exchange_a_token_without_naming_or_proving_an_actor(chain: ChainWorld) -> None:
    response = actor_exchange(chain, chain.travel, root_token(chain), None)
    assert _error(response) == (400, "invalid_request")


@pytest.mark.parametrize(
    "token_type",
    [
        "urn:ietf:params:oauth:token-type:refresh_token",
        "urn:ietf:params:oauth:token-type:id_token",
        "urn:ietf:params:oauth:token-type:jwt",
    ],
)
def test_requested_token_type_other_than_access_token_is_invalid_request(
    chain: ChainWorld, token_type: str
) -> None:
    actor = own_token(chain, chain.travel)
    response = actor_exchange(chain, chain.travel, root_token(chain), actor, requested_token_type=token_type)
    assert _error(response) == (400, "invalid_request")


@pytest.mark.parametrize("audience", ["https://bank.example/api", "ad-agent", "travel-agent"])
def test_audience_other_than_the_resource_or_its_holder_is_invalid_target(
    chain: ChainWorld, audience: str
) -> None:
    actor = own_token(chain, chain.travel)
    response = actor_exchange(chain, chain.travel, root_token(chain), actor, audience=audience)
    assert _error(response) == (400, "invalid_target")


def test_policy_refusal_through_actor_token_never_names_the_rule(chain: ChainWorld) -> None:
    actor = own_token(chain, chain.ads)
    chain.block("organization", "AdTrack Inc.")
    response = actor_exchange(chain, chain.ads, root_token(chain), actor)
    # The block revoked the ad agent's own token: its actor token no longer proves anything.
    assert _error(response) == (400, "invalid_request")
    assert "AdTrack" not in response.text
    assert "block" not in response.text


def test_policy_refusal_of_a_blocked_delegate_is_invalid_request_with_a_generic_description(
    chain: ChainWorld,
) -> None:
    # The travel agent proves itself with a token of another user (bob), which alice's block
    # does not revoke: the refusal is alice's policy alone.
    bob = chain.client.post("/v1/users", json={"user_id": "bob"}, headers=auth(chain.admin_key))
    assert bob.status_code == 201, bob.text
    grant = {
        "agent": "travel-agent",
        "resource": CALENDAR_URI,
        "scopes": ["calendar:read"],
        "max_ttl_seconds": 600,
    }
    created = chain.client.post("/v1/me/grants", json=grant, headers=auth(bob.json()["api_key"]))
    assert created.status_code == 201, created.text
    actor = chain.token(chain.travel, subject="bob").json()["access_token"]
    chain.block("locale", "FR")
    response = actor_exchange(chain, chain.travel, root_token(chain), actor)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": POLICY_REFUSAL}
    assert "FR" not in response.text


def test_dpop_bound_actor_token_without_its_proof_is_invalid_dpop_proof(chain: ChainWorld) -> None:
    chain.grant(agent="travel-agent")
    proof = chain.travel.dpop_proof(TOKEN_URL, now=chain.clock.now)
    bound = chain.client.post("/oauth2/token", data=chain.token_form(chain.travel), headers={"DPoP": proof})
    assert bound.status_code == 200, bound.text
    actor = bound.json()["access_token"]
    assert "cnf" in _claims(actor)
    response = actor_exchange(chain, chain.travel, root_token(chain), actor)
    assert _error(response) == (400, "invalid_dpop_proof")
    with_proof = actor_exchange(
        chain,
        chain.travel,
        root_token(chain),
        actor,
        proof=chain.travel.dpop_proof(TOKEN_URL, now=chain.clock.now),
    )
    assert with_proof.status_code == 200, with_proof.text
