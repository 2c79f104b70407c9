"""Forged and misused access tokens presented to introspection: each one is simply inactive.

Holders verifying offline get the same checks from the SDK (tests/sdk/test_verifier.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.conftest import ISSUER, World


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value).encode())


@pytest.fixture
def issued(world: World) -> tuple[World, str]:
    world.grant()
    token = world.token(world.travel).json()["access_token"]
    assert world.introspect(token)["active"] is True
    return world, token


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


def _inactive(world: World, token: str) -> None:
    assert world.introspect(token) == {"active": False}


def _hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{_segment(header)}.{_segment(claims)}".encode()
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return f"{signing_input.decode()}.{_b64(signature)}"


def _broker_public_key(world: World) -> Any:
    jwk = world.client.get("/.well-known/jwks.json").json()["keys"][0]
    return jwk, jwt.PyJWK(jwk).key


def test_alg_none_access_token(issued: tuple[World, str]) -> None:
    world, token = issued
    header = {**jwt.get_unverified_header(token), "alg": "none"}
    _inactive(world, f"{_segment(header)}.{_segment(_claims(token))}.")


def test_empty_signature(issued: tuple[World, str]) -> None:
    world, token = issued
    _inactive(world, token.rsplit(".", 1)[0] + ".")


@pytest.mark.parametrize("form", ["pem", "jwk_json", "der", "raw"])
def test_hs256_signed_with_the_brokers_public_key(issued: tuple[World, str], form: str) -> None:
    world, token = issued
    jwk, key = _broker_public_key(world)
    secret = {
        "pem": key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        "jwk_json": json.dumps(jwk).encode(),
        "der": key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo),
        "raw": key.public_bytes(Encoding.Raw, PublicFormat.Raw),
    }[form]
    header = {**jwt.get_unverified_header(token), "alg": "HS256"}
    _inactive(world, _hs256(header, {**_claims(token), "scope": "calendar:*"}, secret))


def test_algorithm_outside_the_allow_list(issued: tuple[World, str]) -> None:
    world, token = issued
    header = {**jwt.get_unverified_header(token), "alg": "ES256"}
    _, payload, signature = token.split(".")
    _inactive(world, f"{_segment(header)}.{payload}.{signature}")


@pytest.mark.parametrize("kid", ["unknown", "../../etc/passwd", "' OR 1=1 --", "x" * 500])
def test_unknown_or_malicious_kid(issued: tuple[World, str], kid: str) -> None:
    world, token = issued
    header = {**jwt.get_unverified_header(token), "kid": kid}
    _, payload, signature = token.split(".")
    _inactive(world, f"{_segment(header)}.{payload}.{signature}")


@pytest.mark.parametrize("header_name", ["jku", "x5u", "jwk"])
def test_key_headers_are_ignored(issued: tuple[World, str], header_name: str) -> None:
    world, token = issued
    rogue = Ed25519PrivateKey.generate()
    raw = rogue.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    value: Any = (
        {"kty": "OKP", "crv": "Ed25519", "x": _b64(raw)} if header_name == "jwk" else "https://x.invalid/k"
    )
    headers = {"typ": "at+jwt", "kid": "rogue", header_name: value}
    _inactive(
        world,
        jwt.encode({**_claims(token), "scope": "calendar:*"}, rogue, algorithm="EdDSA", headers=headers),
    )


def test_tampered_claims_break_the_signature(issued: tuple[World, str]) -> None:
    world, token = issued
    header, _, signature = token.split(".")
    _inactive(world, f"{header}.{_segment({**_claims(token), 'scope': 'calendar:*'})}.{signature}")


def test_expired_token(issued: tuple[World, str]) -> None:
    world, token = issued
    world.clock.advance(301)
    _inactive(world, token)


def test_token_for_another_holder(issued: tuple[World, str]) -> None:
    world, token = issued
    assert world.introspect(token, holder=world.ads) == {"active": False}


def test_client_assertion_used_as_access_token(issued: tuple[World, str]) -> None:
    world, _ = issued
    _inactive(world, world.travel.assertion(ISSUER, now=world.clock.now))


def test_dpop_proof_used_as_access_token(issued: tuple[World, str]) -> None:
    world, _ = issued
    _inactive(world, world.travel.dpop_proof(ISSUER + "/oauth2/token", now=world.clock.now))


def test_token_from_another_issuer(issued: tuple[World, str]) -> None:
    world, token = issued
    rogue = Ed25519PrivateKey.generate()
    header = jwt.get_unverified_header(token)
    forged = jwt.encode(
        {**_claims(token), "iss": "https://evil.example"}, rogue, algorithm="EdDSA", headers=header
    )
    _inactive(world, forged)


def test_rs256_header_on_the_kid_of_an_eddsa_key(issued: tuple[World, str]) -> None:
    # Algorithm confusion across the signing algorithms (ES256 and RS256 are settings too): the
    # algorithm is the one the kid's stored JWK pins, whatever the header says.
    world, token = issued
    for alg in ("RS256", "PS256", "Ed25519"):
        header = {**jwt.get_unverified_header(token), "alg": alg}
        _, payload, signature = token.split(".")
        _inactive(world, f"{_segment(header)}.{payload}.{signature}")
