"""Client assertions (RFC 7523 section 2.2): claims, headers, algorithms, secrecy."""

from __future__ import annotations

from typing import Any

import discretion_sdk
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tests.sdk.fakes import AGENT_ID, ISSUER, FakeClock


def _signer(key: Any, clock: FakeClock, alg: str | None = None) -> discretion_sdk.ClientAssertionSigner:
    return discretion_sdk.ClientAssertionSigner(
        client_id=AGENT_ID, private_key=key, kid="k1", alg=alg, clock=clock
    )


def _decode(assertion: str, key: Any, alg: str, audience: str = ISSUER) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        assertion,
        key.public_key(),
        algorithms=[alg],
        audience=audience,
        options={"verify_exp": False, "verify_iat": False},
    )
    return claims


def test_assertion_claims_follow_rfc7523(
    client: discretion_sdk.BrokerClient, agent_key: Any, clock: FakeClock
) -> None:
    assertion = client.client_assertion()
    claims = _decode(assertion, agent_key, "EdDSA")
    assert claims["iss"] == claims["sub"] == AGENT_ID
    assert claims["aud"] == ISSUER
    assert claims["iat"] == int(clock.now)
    assert claims["exp"] == int(clock.now) + 60
    # 128 random bits, base64url: 22 characters.
    assert len(claims["jti"]) == 22
    assert set(claims) == {"iss", "sub", "aud", "jti", "iat", "exp"}


def test_assertion_header_names_kid_and_explicit_type(client: discretion_sdk.BrokerClient) -> None:
    header = jwt.get_unverified_header(client.client_assertion())
    assert header == {"alg": "EdDSA", "kid": "agent-key-1", "typ": "client-authentication+jwt"}


def test_every_assertion_has_a_fresh_jti(client: discretion_sdk.BrokerClient) -> None:
    jtis = {
        jwt.decode(client.client_assertion(), options={"verify_signature": False})["jti"] for _ in range(50)
    }
    assert len(jtis) == 50


def test_assertion_audience_can_be_the_token_endpoint(
    client: discretion_sdk.BrokerClient, agent_key: Any
) -> None:
    endpoint = f"{ISSUER}/oauth2/token"
    claims = _decode(client.client_assertion(endpoint), agent_key, "EdDSA", audience=endpoint)
    assert claims["aud"] == endpoint


@pytest.mark.parametrize(
    ("make_key", "expected"),
    [
        (ed25519.Ed25519PrivateKey.generate, "EdDSA"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "PS256"),
    ],
    ids=["ed25519", "p256", "rsa"],
)
def test_algorithm_is_inferred_from_the_key(make_key: Any, expected: str, clock: FakeClock) -> None:
    key = make_key()
    signer = _signer(key, clock)
    assert signer.alg == expected
    claims = _decode(signer.sign(ISSUER), key, expected)
    assert claims["iss"] == AGENT_ID


def test_rs256_can_be_chosen_for_an_rsa_key(clock: FakeClock) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert _decode(_signer(key, clock, "RS256").sign(ISSUER), key, "RS256")["sub"] == AGENT_ID


@pytest.mark.parametrize(
    ("make_key", "alg"),
    [
        (ed25519.Ed25519PrivateKey.generate, "ES256"),
        (ed25519.Ed25519PrivateKey.generate, "HS256"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "EdDSA"),
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "ES256"),
    ],
)
def test_an_algorithm_that_does_not_match_the_key_is_refused(
    make_key: Any, alg: str, clock: FakeClock
) -> None:
    with pytest.raises(ValueError, match="does not match"):
        _signer(make_key(), clock, alg)


def test_other_ec_curves_are_refused(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="P-256"):
        _signer(ec.generate_private_key(ec.SECP384R1()), clock)


def test_short_rsa_keys_are_refused(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="2048"):
        # The weak key is the point of the test.
        _signer(rsa.generate_private_key(public_exponent=65537, key_size=1024), clock)  # noqa: S505


def test_empty_kid_is_refused(agent_key: Any) -> None:
    with pytest.raises(ValueError, match="kid"):
        discretion_sdk.ClientAssertionSigner(client_id=AGENT_ID, private_key=agent_key, kid="")


def test_constructors_are_keyword_only(agent_key: Any) -> None:
    with pytest.raises(TypeError):
        discretion_sdk.ClientAssertionSigner(AGENT_ID, agent_key, "k1")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        discretion_sdk.BrokerClient(ISSUER, AGENT_ID, agent_key, "k1")  # type: ignore[call-arg]


def test_repr_never_shows_the_private_key(
    client: discretion_sdk.BrokerClient, agent_key: Any, clock: FakeClock
) -> None:
    for text in (repr(client), repr(_signer(agent_key, clock))):
        assert "agent-key-1" in text or "k1" in text
        assert "PrivateKey" not in text
        assert "object at" not in text
