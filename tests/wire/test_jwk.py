"""JWKs on the wire: RFC 7638 thumbprints, the key each algorithm needs, private members."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from discretion_wire import (
    ALGORITHMS,
    KEY_TYPES,
    PRIVATE_MEMBERS,
    canonical_algorithm,
    has_private_members,
    jwk_thumbprint,
    key_fits,
    same_algorithm,
)

from tests.sdk.fakes import any_public_jwk, thumbprint


def test_jwk_thumbprint_matches_rfc7638_section_3_1() -> None:
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
            "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Qvzq"
            "Y368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu"
            "0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize(
    "make_key", [Ed25519PrivateKey.generate, lambda: ec.generate_private_key(ec.SECP256R1())]
)
def test_jwk_thumbprint_agrees_with_an_independent_implementation(make_key: Any) -> None:
    jwk = {**any_public_jwk(make_key()), "kid": "ignored", "use": "sig"}
    assert jwk_thumbprint(jwk) == thumbprint(jwk)


@pytest.mark.parametrize("jwk", [{"kty": "oct", "k": "AA"}, {"kty": "OKP", "crv": "Ed25519"}, {}])
def test_jwk_thumbprint_refuses_incomplete_keys(jwk: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"kty|members"):
        jwk_thumbprint(jwk)


def test_a_thumbprint_ignores_members_outside_rfc7638() -> None:
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint({**jwk, "kid": "k", "alg": "EdDSA", "use": "sig"}) == jwk_thumbprint(jwk)
    # RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
    assert jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


@pytest.mark.parametrize("jwk", [{"kty": "OKP", "crv": "Ed25519", "x": 1}, {"kty": ["RSA"]}])
def test_a_thumbprint_needs_string_members(jwk: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"kty|members"):
        jwk_thumbprint(jwk)


def test_only_asymmetric_algorithms_exist() -> None:
    assert set(ALGORITHMS) == set(KEY_TYPES) == {"EdDSA", "Ed25519", "ES256", "PS256", "RS256"}
    assert not any(alg.startswith("HS") or alg.lower() == "none" for alg in ALGORITHMS)


@pytest.mark.parametrize(
    ("jwk", "fits"),
    [
        ({"kty": "OKP", "crv": "Ed25519"}, {"EdDSA", "Ed25519"}),
        ({"kty": "OKP", "crv": "Ed448"}, set()),
        ({"kty": "EC", "crv": "P-256"}, {"ES256"}),
        ({"kty": "EC", "crv": "P-384"}, set()),
        ({"kty": "RSA"}, {"PS256", "RS256"}),
        ({"kty": "oct"}, set()),
        ({}, set()),
    ],
)
def test_each_algorithm_fits_one_key_type_and_curve(jwk: dict[str, Any], fits: set[str]) -> None:
    assert {alg for alg in (*ALGORITHMS, "HS256", "none", "ES384") if key_fits(jwk, alg)} == fits


def test_ed25519_is_rfc_9864s_name_for_eddsa_and_nothing_else_is_aliased() -> None:
    assert canonical_algorithm("Ed25519") == canonical_algorithm("EdDSA") == "EdDSA"
    assert same_algorithm("Ed25519", "EdDSA")
    assert not same_algorithm("RS256", "PS256")
    assert not same_algorithm("none", "none")  # not an algorithm here at all
    assert canonical_algorithm("Ed448") is None
    assert canonical_algorithm(None) is None


@pytest.mark.parametrize("member", sorted(PRIVATE_MEMBERS))
def test_any_private_member_marks_a_private_key(member: str) -> None:
    public = {"kty": "RSA", "n": "AQAB", "e": "AQAB"}
    assert not has_private_members(public)
    assert has_private_members({**public, member: "AA"})
