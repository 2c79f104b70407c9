"""Which JWKS keys the verifier trusts, and the RSA and EC signature paths."""

from __future__ import annotations

import base64
import json
from typing import Any

import discretion_sdk
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.sdk.fakes import ISSUER, RESOURCE, FakeBroker, FakeClock, public_jwk


def _verifier(broker: FakeBroker, clock: FakeClock, *algorithms: str) -> discretion_sdk.TokenVerifier:
    return discretion_sdk.TokenVerifier(
        issuer=ISSUER, audience=RESOURCE, http_client=broker.client(), clock=clock, algorithms=algorithms
    )


def _rsa_jwk(key: rsa.RSAPrivateKey, kid: str, alg: str | None) -> dict[str, Any]:
    jwk: dict[str, Any] = {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": kid}
    if alg is not None:
        jwk["alg"] = alg
    return jwk


@pytest.mark.parametrize("alg", ["PS256", "RS256"])
def test_rsa_keys_verify_their_declared_algorithm_only(
    broker: FakeBroker, clock: FakeClock, alg: str
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    broker.jwks_keys = [_rsa_jwk(key, "rsa-1", alg)]
    verifier = _verifier(broker, clock, "PS256", "RS256")
    assert verifier.verify(broker.mint(key=key, algorithm=alg, headers={"kid": "rsa-1"})).subject == "alice"
    other = "RS256" if alg == "PS256" else "PS256"
    with pytest.raises(discretion_sdk.InvalidToken, match="bad_algorithm"):
        verifier.verify(broker.mint(key=key, algorithm=other, headers={"kid": "rsa-1"}))


def test_an_rsa_key_without_alg_is_not_trusted(broker: FakeBroker, clock: FakeClock) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    broker.jwks_keys = [_rsa_jwk(key, "rsa-1", None)]
    with pytest.raises(discretion_sdk.InvalidToken, match="unknown_key"):
        _verifier(broker, clock, "PS256").verify(
            broker.mint(key=key, algorithm="PS256", headers={"kid": "rsa-1"})
        )


def test_an_es256_signature_of_the_wrong_length_is_a_bad_signature(
    broker: FakeBroker, clock: FakeClock
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    broker.jwks_keys = [{**json.loads(ECAlgorithm.to_jwk(key.public_key())), "kid": "ec-1"}]
    verifier = _verifier(broker, clock, "ES256")
    token = broker.mint(key=key, algorithm="ES256", headers={"kid": "ec-1"})
    assert verifier.verify(token).subject == "alice"
    with pytest.raises(discretion_sdk.InvalidToken, match="bad_signature"):
        verifier.verify(token[: token.rindex(".") + 1] + "A" * 64)  # 48 bytes, not 64


def test_an_ec_point_off_the_curve_is_not_trusted(broker: FakeBroker, clock: FakeClock) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = {**json.loads(ECAlgorithm.to_jwk(key.public_key())), "kid": "ec-1"}
    jwk["y"] = jwk["x"]
    broker.jwks_keys = [jwk]
    with pytest.raises(discretion_sdk.InvalidToken, match="unknown_key"):
        _verifier(broker, clock, "ES256").verify(
            broker.mint(key=key, algorithm="ES256", headers={"kid": "ec-1"})
        )


@pytest.mark.parametrize(
    "change",
    [
        {"use": "enc"},
        {"key_ops": ["encrypt"]},
        {"alg": "ES256"},
        {"crv": "Ed448"},
        {"kty": "oct"},
        {"x": "!!"},
    ],
)
def test_keys_not_meant_for_eddsa_signatures_are_skipped(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, change: dict[str, Any]
) -> None:
    broker.jwks_keys[0].update(change)
    with pytest.raises(discretion_sdk.InvalidToken, match="unknown_key"):
        verifier.verify(broker.mint())


def test_two_keys_under_one_kid_are_both_distrusted(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker
) -> None:
    broker.jwks_keys.append(public_jwk(Ed25519PrivateKey.generate().public_key(), broker.kid))
    with pytest.raises(discretion_sdk.InvalidToken, match="unknown_key"):
        verifier.verify(broker.mint())


def test_a_jwks_without_keys_list_fails_closed(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker
) -> None:
    broker.jwks_keys = "nope"  # type: ignore[assignment]
    with pytest.raises(discretion_sdk.VerifierUnavailable):
        verifier.verify(broker.mint())


def test_a_small_order_ed25519_key_is_not_trusted(broker: FakeBroker, clock: FakeClock) -> None:
    # With the identity point as the key, R = identity and S = 0 verify any message under
    # OpenSSL: a JWKS carrying it would let anyone mint tokens.
    identity = b"\x01" + bytes(31)
    broker.jwks_keys = [{"kty": "OKP", "crv": "Ed25519", "kid": "weak", "x": _b64(identity)}]
    _, payload, _ = broker.mint().split(".")
    header = _b64(json.dumps({"alg": "EdDSA", "typ": "at+jwt", "kid": "weak"}).encode())
    forged = f"{header}.{payload}.{_b64(identity + bytes(32))}"
    with pytest.raises(discretion_sdk.InvalidToken, match="unknown_key"):
        _verifier(broker, clock, "EdDSA").verify(forged)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
