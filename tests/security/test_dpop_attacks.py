"""DPoP at the token endpoint: every check of RFC 9449 section 4.3, one named test each."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from discretion_wire import jwk_thumbprint

from broker.oauth.signing_keys import public_jwk
from tests.agents import TestAgent
from tests.conftest import ISSUER, World, auth

TOKEN_URL = ISSUER + "/oauth2/token"


@pytest.fixture
def granted(world: World) -> World:
    world.grant()
    return world


def _request(world: World, *proofs: str) -> Any:
    form = {
        "grant_type": "client_credentials",
        "subject": "alice",
        "resource": "https://calendar.example/api",
        "scope": "calendar:read",
        **world.travel.auth_form(ISSUER, now=world.clock.now),
    }
    headers = [("DPoP", proof) for proof in proofs]
    return world.client.post("/oauth2/token", data=form, headers=headers)


def _refused(world: World, *proofs: str) -> None:
    response = _request(world, *proofs)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_dpop_proof"


def _b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_valid_proof_binds_the_token_to_its_key(granted: World) -> None:
    response = _request(granted, granted.travel.dpop_proof(TOKEN_URL, now=granted.clock.now))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    jwk = {k: v for k, v in public_jwk(granted.travel.key.public_key()).items() if k in ("kty", "crv", "x")}
    assert claims["cnf"] == {"jkt": jwk_thumbprint(jwk)}
    assert granted.introspect(body["access_token"])["token_type"] == "DPoP"


def test_more_than_one_dpop_header_is_rejected(granted: World) -> None:
    first = granted.travel.dpop_proof(TOKEN_URL, now=granted.clock.now)
    _refused(granted, first, granted.travel.dpop_proof(TOKEN_URL, now=granted.clock.now))


def test_proof_that_is_not_a_jwt_is_rejected(granted: World) -> None:
    _refused(granted, "not-a-jwt")


@pytest.mark.parametrize("claim", ["jti", "htm", "htu", "iat"])
def test_proof_missing_a_required_claim_is_rejected(granted: World, claim: str) -> None:
    _refused(granted, granted.travel.dpop_proof(TOKEN_URL, now=granted.clock.now, **{claim: None}))


def test_proof_with_wrong_typ_is_rejected(granted: World) -> None:
    _refused(granted, granted.travel.dpop_proof(TOKEN_URL, now=granted.clock.now, headers={"typ": "JWT"}))


def test_proof_with_alg_none_is_rejected(granted: World) -> None:
    jwk = {k: v for k, v in public_jwk(granted.travel.key.public_key()).items() if k in ("kty", "crv", "x")}
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": jwk}
    claims = {"jti": "j1", "htm": "POST", "htu": TOKEN_URL, "iat": int(granted.clock.now)}
    _refused(granted, f"{_b64(header)}.{_b64(claims)}.")


def test_proof_with_symmetric_alg_is_rejected(granted: World) -> None:
    jwk = {k: v for k, v in public_jwk(granted.travel.key.public_key()).items() if k in ("kty", "crv", "x")}
    claims = {"jti": "j1", "htm": "POST", "htu": TOKEN_URL, "iat": int(granted.clock.now)}
    token = jwt.encode(claims, jwk["x"], algorithm="HS256", headers={"typ": "dpop+jwt", "jwk": jwk})
    _refused(granted, token)


def test_proof_with_bad_signature_is_rejected(granted: World) -> None:
    other = Ed25519PrivateKey.generate()
    jwk = {k: v for k, v in public_jwk(granted.travel.key.public_key()).items() if k in ("kty", "crv", "x")}
    # Signed by another key than the one in its jwk header.
    _refused(
        granted, granted.travel.dpop_proof(TOKEN_URL, now=granted.clock.now, key=other, headers={"jwk": jwk})
    )


def test_proof_whose_jwk_holds_a_private_key_is_rejected(granted: World) -> None:
    jwk = {k: v for k, v in public_jwk(granted.travel.key.public_key()).items() if k in ("kty", "crv", "x")}
    jwk["d"] = "c2VjcmV0"
    _refused(granted, granted.travel.dpop_proof(TOKEN_URL, now=granted.clock.now, headers={"jwk": jwk}))


def test_proof_with_wrong_htm_is_rejected(granted: World) -> None:
    _refused(granted, granted.travel.dpop_proof(TOKEN_URL, method="GET", now=granted.clock.now))


def test_proof_with_wrong_htu_is_rejected(granted: World) -> None:
    _refused(granted, granted.travel.dpop_proof(ISSUER + "/oauth2/introspect", now=granted.clock.now))


def test_htu_ignores_query_and_fragment(granted: World) -> None:
    proof = granted.travel.dpop_proof(TOKEN_URL + "?x=1#f", now=granted.clock.now)
    assert _request(granted, proof).status_code == 200


@pytest.mark.parametrize(
    "htu",
    [
        "HTTPS://Broker.TEST/oauth2/token",
        "https://broker.test:443/oauth2/token",  # the default port (RFC 3986 section 6.2.3)
        "https://broker.test/oauth2/%74oken",  # an unreserved character percent-encoded (6.2.2.2)
        "https://broker.test/x/../oauth2/./token",  # dot segments (6.2.2.3)
    ],
)
def test_htu_is_compared_after_rfc_3986_normalization(granted: World, htu: str) -> None:
    proof = granted.travel.dpop_proof(htu, now=granted.clock.now)
    assert _request(granted, proof).status_code == 200


@pytest.mark.parametrize(
    "htu",
    [
        "https://attacker.test@broker.test/oauth2/token",  # userinfo disguising the authority
        "https://broker.test:8443/oauth2/token",
        "http://broker.test/oauth2/token",
        "ftp://broker.test/oauth2/token",
        "https://broker.test/oauth2/token/",
    ],
)
def test_proof_for_another_url_in_disguise_is_rejected(granted: World, htu: str) -> None:
    _refused(granted, granted.travel.dpop_proof(htu, now=granted.clock.now))


def test_stale_proof_is_rejected(granted: World) -> None:
    _refused(granted, granted.travel.dpop_proof(TOKEN_URL, now=granted.clock.now - 600))


def test_proof_from_the_future_is_rejected(granted: World) -> None:
    _refused(granted, granted.travel.dpop_proof(TOKEN_URL, now=granted.clock.now + 600))


def test_replayed_proof_is_rejected(granted: World) -> None:
    proof = granted.travel.dpop_proof(TOKEN_URL, now=granted.clock.now)
    assert _request(granted, proof).status_code == 200
    _refused(granted, proof)


def test_grant_that_requires_dpop_refuses_a_bearer_request(world: World) -> None:
    world.grant(require_dpop=True)
    response = _request(world)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert _request(world, world.travel.dpop_proof(TOKEN_URL, now=world.clock.now)).status_code == 200


def test_replayed_proof_still_spends_the_assertion(granted: World) -> None:
    proof = granted.travel.dpop_proof(TOKEN_URL, now=granted.clock.now)
    assert _request(granted, proof).status_code == 200
    assertion_form = granted.travel.auth_form(ISSUER, now=granted.clock.now)
    form = {
        "grant_type": "client_credentials",
        "subject": "alice",
        "resource": "https://calendar.example/api",
        "scope": "calendar:read",
        **assertion_form,
    }
    replay = granted.client.post("/oauth2/token", data=form, headers={"DPoP": proof})
    assert replay.json()["error"] == "invalid_dpop_proof"
    fresh = granted.travel.dpop_proof(TOKEN_URL, now=granted.clock.now)
    again = granted.client.post("/oauth2/token", data=form, headers={"DPoP": fresh})
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_client"


def test_proof_with_a_small_order_key_is_rejected(granted: World) -> None:
    # Its "signature" (R = identity, S = 0) verifies for any proof under OpenSSL: a token bound
    # to such a key would be a bearer token anyone can present.
    identity = base64.urlsafe_b64encode(b"\x01" + bytes(31)).rstrip(b"=").decode()
    header = {"typ": "dpop+jwt", "alg": "EdDSA", "jwk": {"kty": "OKP", "crv": "Ed25519", "x": identity}}
    claims = {"jti": "j1", "htm": "POST", "htu": TOKEN_URL, "iat": int(granted.clock.now)}
    signature = base64.urlsafe_b64encode(b"\x01" + bytes(63)).rstrip(b"=").decode()
    _refused(granted, f"{_b64(header)}.{_b64(claims)}.{signature}")


@pytest.mark.parametrize("x", [{"nested": "object"}, ["a", "list"], 7])
def test_proof_whose_jwk_member_is_not_a_string_is_rejected(granted: World, x: object) -> None:
    # Proof keys are remembered by their members; an unhashable member must be refused like any
    # other bad key, not crash the cache.
    header = {"typ": "dpop+jwt", "alg": "EdDSA", "jwk": {"kty": "OKP", "crv": "Ed25519", "x": x}}
    claims = {"jti": "j1", "htm": "POST", "htu": TOKEN_URL, "iat": int(granted.clock.now)}
    _refused(granted, f"{_b64(header)}.{_b64(claims)}.{_b64({'not': 'a signature'})}")


@pytest.mark.parametrize("jti", ["\ud800", "a\x00b", "tab\there"], ids=["surrogate", "nul", "tab"])
def test_proof_whose_jti_is_not_printable_text_is_rejected(granted: World, jti: str) -> None:
    # Its id goes to the replay cache: a lone surrogate cannot be stored (a server error, not a
    # refusal) and PostgreSQL text cannot hold NUL.
    _refused(granted, granted.travel.dpop_proof(TOKEN_URL, now=granted.clock.now, jti=jti))


@pytest.mark.parametrize(
    "extra", [{"crit": ["exp"], "exp": 1}, {"crit": ["b64"], "b64": False}], ids=["crit", "unencoded-payload"]
)
def test_proof_with_a_header_extension_the_broker_does_not_implement_is_rejected(
    granted: World, extra: dict[str, Any]
) -> None:
    # Signed correctly over these very segments: only the header can refuse it (RFC 7515 4.1.11).
    jwk = {k: v for k, v in public_jwk(granted.travel.key.public_key()).items() if k in ("kty", "crv", "x")}
    header = {"typ": "dpop+jwt", "alg": "EdDSA", "jwk": jwk, **extra}
    claims = {"jti": "j-crit", "htm": "POST", "htu": TOKEN_URL, "iat": int(granted.clock.now)}
    signing_input = f"{_b64(header)}.{_b64(claims)}"
    signature = base64.urlsafe_b64encode(granted.travel.key.sign(signing_input.encode())).rstrip(b"=")
    _refused(granted, f"{signing_input}.{signature.decode()}")


def test_proof_named_ed25519_carrying_an_ec_key_is_rejected(granted: World) -> None:
    # RFC 9864's Ed25519 fits an OKP Ed25519 key only: the name cannot turn an EC key into one.
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwk = {k: v for k, v in public_jwk(ec_key.public_key(), "ES256").items() if k in ("kty", "crv", "x", "y")}
    claims = {"jti": "j-ec", "htm": "POST", "htu": TOKEN_URL, "iat": int(granted.clock.now)}
    token = jwt.encode(claims, ec_key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": jwk})
    _, payload, signature = token.split(".")
    relabelled = _b64({"typ": "dpop+jwt", "alg": "Ed25519", "jwk": jwk})
    response = _request(granted, f"{relabelled}.{payload}.{signature}")
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_dpop_proof",
        "error_description": "the DPoP proof's alg does not fit its key",
    }


def test_a_proof_made_with_a_key_the_agent_never_registered_is_refused(granted: World) -> None:
    # Policy: no ephemeral DPoP keys. A thief holding only a stolen assertion cannot mint a token
    # bound to a key of its own; a proof with a registered key still works (test above).
    made_up = Ed25519PrivateKey.generate()
    response = _request(granted, granted.travel.dpop_proof(TOKEN_URL, now=granted.clock.now, key=made_up))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_dpop_proof"
    assert "registered" in response.json()["error_description"]


def test_a_proof_made_with_another_agents_registered_key_is_refused(granted: World) -> None:
    # The ad agent's key is registered, but not to the travel agent that asks.
    proof = granted.travel.dpop_proof(TOKEN_URL, now=granted.clock.now, key=granted.ads.key)
    _refused(granted, proof)


def test_a_proof_with_any_of_the_agents_registered_keys_is_accepted(world: World) -> None:
    second = Ed25519PrivateKey.generate()
    agent = TestAgent("two-key-agent", "Wanderly Travel", "FR")
    jwks = agent.jwks()
    jwks["keys"].append({**public_jwk(second.public_key()), "kid": "two-key-agent-key-2"})
    body = {**agent.registration(), "jwks": jwks}
    assert world.client.post("/v1/agents", json=body, headers=auth(world.admin_key)).status_code == 201
    world.grant(agent="two-key-agent")
    form = world.token_form(agent, resource="https://calendar.example/api")
    proof = agent.dpop_proof(TOKEN_URL, now=world.clock.now, key=second)
    response = world.client.post("/oauth2/token", data=form, headers={"DPoP": proof})
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    jwk = {k: v for k, v in public_jwk(second.public_key()).items() if k in ("kty", "crv", "x")}
    assert claims["cnf"] == {"jkt": jwk_thumbprint(jwk)}
