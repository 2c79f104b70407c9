"""Agent key rotation: delegated tokens survive a planned rotation of the delegate's keys, a key
marked compromised stops working at once and takes its tokens with it, a rotation is an admin's
act alone and checked as a registration is, and delegated tokens are bound deliberately to the
delegate's current key, never to a key by its position in the set."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import discretion_sdk
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from discretion_wire import access_token_hash, jwk_thumbprint

from broker.oauth.signing_keys import public_jwk
from tests.agents import TestAgent
from tests.conftest import CALENDAR_URI, ISSUER, ChainWorld, World, auth

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
TOKEN_URL = ISSUER + "/oauth2/token"
EVENTS_URL = CALENDAR_URI + "/events"


@dataclass
class Rotating(TestAgent):
    """A test agent whose signing key and kid can change, as after a rotation."""

    __test__ = False
    key_id: str = ""

    @property
    def kid(self) -> str:
        return self.key_id or f"{self.client_id}-key-1"


def _jwk(key: Ed25519PrivateKey, kid: str) -> dict[str, Any]:
    return {**public_jwk(key.public_key()), "kid": kid}


def _jkt(key: Ed25519PrivateKey) -> str:
    return jwk_thumbprint(public_jwk(key.public_key()))


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


def _rotate(world: World, client_id: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return world.client.put(
        f"/v1/agents/{client_id}/jwks",
        json=body,
        headers=headers if headers is not None else auth(world.admin_key),
    )


def _as(agent: TestAgent, key: Ed25519PrivateKey, kid: str) -> Rotating:
    """The same agent signing with another of its keys."""
    return Rotating(agent.client_id, agent.organization, agent.locale, agent.resource_uris, key, kid)


def _delegated(chain: ChainWorld) -> str:
    """The assistant's token handed to the travel agent (requested_actor): bound to travel's key."""
    response = chain.token(chain.assistant, scope="calendar:read", expires_in="600")
    assert response.status_code == 200, response.text
    form = {
        "grant_type": EXCHANGE,
        "subject_token": response.json()["access_token"],
        "subject_token_type": ACCESS_TOKEN,
        "requested_actor": "travel-agent",
        **chain.assistant.auth_form(ISSUER, now=chain.clock.now),
    }
    exchanged = chain.client.post("/oauth2/token", data=form)
    assert exchanged.status_code == 200, exchanged.text
    return str(exchanged.json()["access_token"])


def _renew(
    chain: ChainWorld, agent: TestAgent, token: str, proof_key: Ed25519PrivateKey, **params: str
) -> Any:
    """The delegate exchanges a token issued to itself, for itself (a renewal)."""
    form = {
        "grant_type": EXCHANGE,
        "subject_token": token,
        "subject_token_type": ACCESS_TOKEN,
        **agent.auth_form(ISSUER, now=chain.clock.now),
        **params,
    }
    if "actor_token" not in params:
        form["requested_actor"] = agent.client_id
    headers = {"DPoP": agent.dpop_proof(TOKEN_URL, key=proof_key, now=chain.clock.now)}
    return chain.client.post("/oauth2/token", data=form, headers=headers)


def _verifier(world: World) -> discretion_sdk.TokenVerifier:
    # The broker's JWKS as the holder downloads it (TestClient refuses the SDK's timeout argument).
    jwks = world.client.get("/.well-known/jwks.json").json()
    http = httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200, json=jwks)))
    return discretion_sdk.TokenVerifier(
        issuer=ISSUER, audience=CALENDAR_URI, http_client=http, clock=world.clock
    )


def _holder_accepts(world: World, agent: TestAgent, token: str, key: Ed25519PrivateKey) -> str | None:
    """The SDK holder guard's verdict on `token` presented with a proof by `key`."""
    proof = agent.dpop_proof(
        EVENTS_URL, method="GET", key=key, now=world.clock.now, ath=access_token_hash(token)
    )
    verified = _verifier(world).verify(
        token, required_scopes=["calendar:read"], dpop_proof=proof, http_method="GET", http_url=EVENTS_URL
    )
    return verified.dpop_jkt


# -- planned rotation ----------------------------------------------------------------------------


def test_a_delegation_survives_the_delegates_planned_rotation(chain: ChainWorld) -> None:
    old_key = chain.travel.key
    delegated = _delegated(chain)
    assert _claims(delegated)["cnf"]["jkt"] == _jkt(old_key)
    new_key = Ed25519PrivateKey.generate()
    rotated = _rotate(chain, "travel-agent", {"jwks": {"keys": [_jwk(new_key, "travel-2")]}})
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert [k["kid"] for k in body["jwks"]["keys"]] == ["travel-2"]
    assert body["current_kid"] == "travel-2"
    assert [k["kid"] for k in body["retiring_keys"]] == ["travel-agent-key-1"]
    # The live token keeps working at the holder with a proof by the retiring key, until it expires.
    assert chain.introspect(delegated)["active"] is True
    assert _holder_accepts(chain, chain.travel, delegated, old_key) == _jkt(old_key)
    # The retiring key still authenticates the agent; renewal with the new key rebinds the token.
    renewed = _renew(chain, _as(chain.travel, new_key, "travel-2"), delegated, new_key)
    assert renewed.status_code == 200, renewed.text
    claims, parent = _claims(renewed.json()["access_token"]), _claims(delegated)
    assert claims["cnf"]["jkt"] == _jkt(new_key)
    assert claims["act"] == parent["act"]  # a renewal adds no hop
    assert claims["exp"] <= parent["exp"]
    assert _holder_accepts(chain, chain.travel, renewed.json()["access_token"], new_key) == _jkt(new_key)


def test_renewal_through_the_actor_token_path_binds_to_the_current_key(chain: ChainWorld) -> None:
    delegated = _delegated(chain)
    new_key = Ed25519PrivateKey.generate()
    assert _rotate(chain, "travel-agent", {"jwks": {"keys": [_jwk(new_key, "travel-2")]}}).status_code == 200
    travel = _as(chain.travel, new_key, "travel-2")
    renewed = _renew(chain, travel, delegated, new_key, actor_token=delegated, actor_token_type=ACCESS_TOKEN)
    assert renewed.status_code == 200, renewed.text
    assert _claims(renewed.json()["access_token"])["cnf"]["jkt"] == _jkt(new_key)


def test_a_retiring_key_ends_when_the_longest_token_bound_to_it_has_expired(chain: ChainWorld) -> None:
    old_key = chain.travel.key
    new_key = Ed25519PrivateKey.generate()
    assert _rotate(chain, "travel-agent", {"jwks": {"keys": [_jwk(new_key, "travel-2")]}}).status_code == 200
    chain.grant(agent="travel-agent")
    assert chain.token(chain.travel).status_code == 200  # the retiring key still authenticates
    chain.clock.advance(3600 + 30 + 1)  # the broker's maximum token lifetime and clock skew
    assert chain.token(chain.travel).status_code == 401
    assert chain.token(_as(chain.travel, new_key, "travel-2")).status_code == 200
    assert old_key is not new_key


def test_a_retiring_key_cannot_bind_a_new_token(chain: ChainWorld) -> None:
    old_key = chain.travel.key
    new_key = Ed25519PrivateKey.generate()
    assert _rotate(chain, "travel-agent", {"jwks": {"keys": [_jwk(new_key, "travel-2")]}}).status_code == 200
    chain.grant(agent="travel-agent")
    proof = chain.travel.dpop_proof(TOKEN_URL, key=old_key, now=chain.clock.now)
    form = chain.token_form(_as(chain.travel, new_key, "travel-2"))
    response = chain.client.post("/oauth2/token", data=form, headers={"DPoP": proof})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_dpop_proof"


def test_renewal_with_a_key_that_was_never_the_delegates_is_invalid_dpop_proof(chain: ChainWorld) -> None:
    delegated = _delegated(chain)
    new_key = Ed25519PrivateKey.generate()
    assert _rotate(chain, "travel-agent", {"jwks": {"keys": [_jwk(new_key, "travel-2")]}}).status_code == 200
    response = _renew(chain, _as(chain.travel, new_key, "travel-2"), delegated, Ed25519PrivateKey.generate())
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_dpop_proof"


def test_another_agent_cannot_renew_a_token_bound_to_the_delegates_retiring_key(chain: ChainWorld) -> None:
    delegated = _delegated(chain)
    new_key = Ed25519PrivateKey.generate()
    assert _rotate(chain, "travel-agent", {"jwks": {"keys": [_jwk(new_key, "travel-2")]}}).status_code == 200
    # The airline holds the stolen token but only its own key: the token is not bound to it.
    response = _renew(
        chain,
        chain.airline,
        delegated,
        chain.airline.key,
        actor_token=delegated,
        actor_token_type=ACCESS_TOKEN,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_dpop_proof"


# -- compromise ----------------------------------------------------------------------------------


def test_a_compromised_key_is_refused_at_once_and_its_tokens_are_revoked(chain: ChainWorld) -> None:
    old_key = chain.travel.key
    delegated = _delegated(chain)
    new_key = Ed25519PrivateKey.generate()
    # A token bound to the new key, which the compromise must leave alone.
    body = {"jwks": {"keys": [_jwk(old_key, "travel-agent-key-1"), _jwk(new_key, "travel-2")]}}
    assert _rotate(chain, "travel-agent", body).status_code == 200
    chain.grant(agent="travel-agent", scopes=["calendar:read"])
    travel_new = _as(chain.travel, new_key, "travel-2")
    proof = travel_new.dpop_proof(TOKEN_URL, key=new_key, now=chain.clock.now)
    safe = chain.client.post("/oauth2/token", data=chain.token_form(travel_new), headers={"DPoP": proof})
    assert safe.status_code == 200, safe.text
    bearer = chain.token(travel_new)  # a bearer token: a thief with the old key could have asked for it
    assert bearer.status_code == 200
    compromised = _rotate(
        chain,
        "travel-agent",
        {"jwks": {"keys": [_jwk(new_key, "travel-2")]}, "compromised": ["travel-agent-key-1"]},
    )
    assert compromised.status_code == 200, compromised.text
    assert compromised.json()["retiring_keys"] == []
    # The key no longer authenticates, not even on the record the token path remembered.
    assert chain.token(chain.travel).status_code == 401
    assert chain.introspect(delegated)["active"] is False
    assert chain.introspect(bearer.json()["access_token"])["active"] is False
    assert chain.introspect(safe.json()["access_token"])["active"] is True
    listed = {item["jti"] for item in chain.feed()["revocations"]}
    assert _claims(delegated)["jti"] in listed
    assert _claims(bearer.json()["access_token"])["jti"] in listed
    assert _claims(safe.json()["access_token"])["jti"] not in listed
    # The revoked token cannot be renewed, and a proof by the compromised key is refused.
    renewal = _renew(chain, travel_new, delegated, new_key)
    assert (renewal.status_code, renewal.json()["error"]) == (400, "invalid_request")
    stale = _renew(chain, travel_new, safe.json()["access_token"], old_key)
    assert (stale.status_code, stale.json()["error"]) == (400, "invalid_dpop_proof")


def test_a_key_marked_compromised_cannot_be_registered_again(chain: ChainWorld) -> None:
    old_key = chain.travel.key
    new_key = Ed25519PrivateKey.generate()
    body = {"jwks": {"keys": [_jwk(new_key, "travel-2")]}, "compromised": ["travel-agent-key-1"]}
    assert _rotate(chain, "travel-agent", body).status_code == 200
    back = _rotate(chain, "travel-agent", {"jwks": {"keys": [_jwk(old_key, "travel-3")]}})
    assert back.status_code == 422


def test_compromising_a_retiring_key_ends_it_early(chain: ChainWorld) -> None:
    delegated = _delegated(chain)
    new_key = Ed25519PrivateKey.generate()
    assert _rotate(chain, "travel-agent", {"jwks": {"keys": [_jwk(new_key, "travel-2")]}}).status_code == 200
    assert chain.introspect(delegated)["active"] is True
    body = {"jwks": {"keys": [_jwk(new_key, "travel-2")]}, "compromised": ["travel-agent-key-1"]}
    assert _rotate(chain, "travel-agent", body).status_code == 200
    assert chain.introspect(delegated)["active"] is False
    assert chain.token(chain.travel).status_code == 401


def test_every_rotation_is_logged_with_kids_and_thumbprints_only(chain: ChainWorld) -> None:
    new_key = Ed25519PrivateKey.generate()
    body = {"jwks": {"keys": [_jwk(new_key, "travel-2")]}, "compromised": ["travel-agent-key-1"]}
    assert _rotate(chain, "travel-agent", body).status_code == 200
    auditor = chain.client.post("/v1/auditors", json={"name": "Ada"}, headers=auth(chain.admin_key)).json()
    export = chain.client.get("/v1/audit/export", headers=auth(auditor["api_key"]))
    events = [json.loads(line)["event"] for line in export.text.splitlines()]
    rotation = next(e for e in events if e["type"] == "agent.keys_rotated")
    assert rotation["reasons"] == ["key_compromised"]
    assert rotation["details"]["compromised"] == [
        {"kid": "travel-agent-key-1", "jkt": _jkt(chain.travel.key)}
    ]
    assert rotation["details"]["current"] == {"kid": "travel-2", "jkt": _jkt(new_key)}
    # No key material: neither public coordinates nor anything private.
    text = json.dumps(rotation)
    assert public_jwk(new_key.public_key())["x"] not in text
    assert '"x"' not in text
    assert '"d"' not in text


# -- who may rotate, and what ----------------------------------------------------------------------


def test_a_rotation_without_credentials_is_refused(world: World) -> None:
    response = _rotate(
        world, "travel-agent", {"jwks": {"keys": [_jwk(Ed25519PrivateKey.generate(), "x")]}}, {}
    )
    assert response.status_code == 401


def test_a_rotation_by_an_agent_is_refused(world: World) -> None:
    # Not even the agent itself with its own valid assertion: only an admin rotates keys.
    thief_key = Ed25519PrivateKey.generate()
    for caller in (world.travel, world.ads):
        headers = {"Authorization": f"Bearer {caller.assertion(ISSUER, now=world.clock.now)}"}
        response = _rotate(world, "travel-agent", {"jwks": {"keys": [_jwk(thief_key, "thief")]}}, headers)
        assert response.status_code == 401
    kids = world.client.get("/v1/agents/travel-agent", headers=auth(world.admin_key)).json()["jwks"]["keys"]
    assert [k["kid"] for k in kids] == ["travel-agent-key-1"]


def test_a_rotation_by_a_user_key_is_refused(world: World) -> None:
    body = {"jwks": {"keys": [_jwk(Ed25519PrivateKey.generate(), "x")]}}
    assert _rotate(world, "travel-agent", body, auth(world.alice_key)).status_code == 403


def _rsa_jwk(exponent: int) -> dict[str, Any]:
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers()

    def b64(value: int) -> str:
        return jwt.utils.base64url_encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).decode()

    return {"kty": "RSA", "n": b64(numbers.n), "e": b64(exponent), "alg": "PS256", "kid": "rsa"}


@pytest.mark.parametrize(
    "keys",
    [
        pytest.param(lambda k: [{**_jwk(k, "p"), "d": "AAAA"}], id="private-member"),
        pytest.param(lambda k: [_rsa_jwk(2**300 + 1)], id="oversized-rsa-exponent"),
        pytest.param(
            lambda k: [_jwk(k, "dup"), _jwk(Ed25519PrivateKey.generate(), "dup")], id="duplicate-kid"
        ),
        pytest.param(
            lambda k: [_jwk(Ed25519PrivateKey.generate(), f"k{i}") for i in range(11)], id="too-many"
        ),
        pytest.param(lambda k: [], id="empty"),
    ],
)
def test_a_jwks_refused_at_registration_is_refused_at_rotation(world: World, keys: Any) -> None:
    response = _rotate(world, "travel-agent", {"jwks": {"keys": keys(Ed25519PrivateKey.generate())}})
    assert response.status_code == 422
    listed = world.client.get("/v1/agents/travel-agent", headers=auth(world.admin_key)).json()
    assert [k["kid"] for k in listed["jwks"]["keys"]] == ["travel-agent-key-1"]
    assert listed["retiring_keys"] == []


def test_a_new_key_cannot_take_the_kid_of_a_retiring_key(world: World) -> None:
    body = {"jwks": {"keys": [_jwk(Ed25519PrivateKey.generate(), "travel-agent-key-1")]}}
    assert _rotate(world, "travel-agent", body).status_code == 422


def test_a_rotation_of_an_unknown_agent_is_not_found(world: World) -> None:
    body = {"jwks": {"keys": [_jwk(Ed25519PrivateKey.generate(), "x")]}}
    assert _rotate(world, "nobody", body).status_code == 404


# -- binding by choice, not by position ---------------------------------------------------------------


def test_a_delegated_token_is_not_bound_by_key_position(chain: ChainWorld) -> None:
    first, second = chain.travel.key, Ed25519PrivateKey.generate()
    both = [_jwk(first, "travel-agent-key-1"), _jwk(second, "travel-2")]
    # Adding a key makes it current (the newest); reordering the set afterwards moves nothing.
    assert _rotate(chain, "travel-agent", {"jwks": {"keys": both}}).json()["current_kid"] == "travel-2"
    before = _delegated(chain)
    assert _claims(before)["cnf"]["jkt"] == _jkt(second)
    reordered = _rotate(chain, "travel-agent", {"jwks": {"keys": list(reversed(both))}})
    assert reordered.json()["current_kid"] == "travel-2"
    assert _claims(_delegated(chain))["cnf"]["jkt"] == _jkt(second)
    # Only naming another key moves new bindings; tokens bound before keep theirs and keep working.
    named = _rotate(chain, "travel-agent", {"jwks": {"keys": both}, "current_kid": "travel-agent-key-1"})
    assert named.json()["current_kid"] == "travel-agent-key-1"
    assert _claims(_delegated(chain))["cnf"]["jkt"] == _jkt(first)
    assert chain.introspect(before)["active"] is True


def test_an_ambiguous_rotation_must_name_its_current_key(world: World) -> None:
    keys = [_jwk(Ed25519PrivateKey.generate(), "a"), _jwk(Ed25519PrivateKey.generate(), "b")]
    assert _rotate(world, "travel-agent", {"jwks": {"keys": keys}}).status_code == 422
    named = _rotate(world, "travel-agent", {"jwks": {"keys": keys}, "current_kid": "b"})
    assert named.status_code == 200
    assert named.json()["current_kid"] == "b"
