"""RFC 9864's `Ed25519` is accepted wherever `EdDSA` is, for Ed25519 keys: registration, client
assertions, DPoP proofs, and the metadata that advertises them."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from discretion_sdk._assertion import sign_jws
from discretion_wire import jwk_thumbprint

from broker.oauth.signing_keys import public_jwk
from tests.agents import TestAgent
from tests.conftest import CALENDAR_URI, ISSUER, World, auth

TOKEN_URL = ISSUER + "/oauth2/token"


def _assertion(world: World, agent: TestAgent, alg: str) -> str:
    now = int(world.clock.now)
    claims = {"iss": agent.client_id, "sub": agent.client_id, "aud": ISSUER, "jti": f"j-{alg}-{now}"}
    return sign_jws({**claims, "iat": now, "exp": now + 60}, agent.key, alg, {"kid": agent.kid})


def _form(world: World, assertion: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "subject": "alice",
        "resource": CALENDAR_URI,
        "scope": "calendar:read",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }


def _register(world: World, agent: TestAgent, alg: str) -> Any:
    body = agent.registration()
    body["jwks"]["keys"][0]["alg"] = alg
    return world.client.post("/v1/agents", json=body, headers=auth(world.admin_key))


def test_a_key_registered_as_ed25519_is_accepted_and_kept_under_that_name(world: World) -> None:
    agent = TestAgent("webcrypto-agent", "Crypto Co", "NL")
    response = _register(world, agent, "Ed25519")
    assert response.status_code == 201, response.text
    assert response.json()["jwks"]["keys"][0]["alg"] == "Ed25519"


@pytest.mark.parametrize(
    ("registered", "signed"), [("EdDSA", "Ed25519"), ("Ed25519", "EdDSA"), ("Ed25519", "Ed25519")]
)
def test_an_assertion_under_either_name_verifies_with_a_key_registered_under_either(
    world: World, registered: str, signed: str
) -> None:
    agent = TestAgent("webcrypto-agent", "Crypto Co", "NL")
    assert _register(world, agent, registered).status_code == 201
    world.grant(agent="webcrypto-agent")
    assertion = _assertion(world, agent, signed)
    assert jwt.get_unverified_header(assertion)["alg"] == signed
    response = world.client.post("/oauth2/token", data=_form(world, assertion))
    assert response.status_code == 200, response.text


def test_a_dpop_proof_named_ed25519_binds_the_token(world: World) -> None:
    world.grant()
    now = int(world.clock.now)
    jwk = {k: v for k, v in public_jwk(world.travel.key.public_key()).items() if k in ("kty", "crv", "x")}
    claims = {"jti": "proof-ed25519", "htm": "POST", "htu": TOKEN_URL, "iat": now}
    proof = sign_jws(claims, world.travel.key, "Ed25519", {"typ": "dpop+jwt", "jwk": jwk})
    response = world.client.post(
        "/oauth2/token", data=world.token_form(world.travel), headers={"DPoP": proof}
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["cnf"]["jkt"] == jwk_thumbprint(jwk)


def test_metadata_advertises_both_names(world: World) -> None:
    document = world.client.get("/.well-known/oauth-authorization-server").json()
    for member in (
        "token_endpoint_auth_signing_alg_values_supported",
        "dpop_signing_alg_values_supported",
        "introspection_endpoint_auth_signing_alg_values_supported",
        "revocation_endpoint_auth_signing_alg_values_supported",
    ):
        assert {"EdDSA", "Ed25519"} <= set(document[member]), member
