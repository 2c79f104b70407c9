"""Key helpers: generate an agent key, save it 0600, load PEM or JWK, export the JWKS to register."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import discretion_sdk
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from broker.oauth.agent_keys import validate_jwks
from tests.sdk.fakes import RESOURCE

ALGS = ["EdDSA", "ES256", "PS256"]


@pytest.mark.parametrize("alg", ALGS)
def test_generated_key_round_trips_through_a_0600_pem_file(tmp_path: Path, alg: str) -> None:
    key = discretion_sdk.generate_key(alg)
    path = tmp_path / "agent.pem"
    discretion_sdk.save_private_key(path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = discretion_sdk.load_private_key(path)
    assert discretion_sdk.public_jwks(loaded, "k1") == discretion_sdk.public_jwks(key, "k1")
    # A string path and the PEM text load the same key.
    assert discretion_sdk.public_jwks(discretion_sdk.load_private_key(str(path)), "k1")["keys"][0][
        "kid"
    ] == "k1"
    assert discretion_sdk.load_private_key(path.read_text()).public_key() is not None


def test_save_never_overwrites_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.pem"
    path.write_text("old key")
    with pytest.raises(FileExistsError):
        discretion_sdk.save_private_key(path, discretion_sdk.generate_key())
    assert path.read_text() == "old key"


def test_save_does_not_follow_a_planted_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    (tmp_path / "agent.pem").symlink_to(target)
    with pytest.raises(FileExistsError):
        discretion_sdk.save_private_key(tmp_path / "agent.pem", discretion_sdk.generate_key())
    assert not target.exists()


def test_encrypted_pem_needs_its_password(tmp_path: Path) -> None:
    key = discretion_sdk.generate_key()
    pem = discretion_sdk.private_key_pem(key, password=b"correct horse")
    assert b"ENCRYPTED" in pem
    with pytest.raises(ValueError, match="PEM"):
        discretion_sdk.load_private_key(pem)
    loaded = discretion_sdk.load_private_key(pem, password=b"correct horse")
    assert discretion_sdk.public_jwks(loaded, "k") == discretion_sdk.public_jwks(key, "k")


@pytest.mark.parametrize("alg", ALGS)
def test_a_private_jwk_loads_as_dict_or_json(alg: str) -> None:
    key = discretion_sdk.generate_key(alg)
    algorithm: Any = jwt.get_algorithm_by_name(alg)
    jwk = json.loads(algorithm.to_jwk(key))
    assert "d" in jwk
    assert discretion_sdk.public_jwks(discretion_sdk.load_private_key(jwk), "k") == (
        discretion_sdk.public_jwks(key, "k")
    )
    assert discretion_sdk.load_private_key(json.dumps(jwk)) is not None


def test_public_keys_are_refused_as_private_key() -> None:
    key = discretion_sdk.generate_key()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="PEM private key"):
        discretion_sdk.load_private_key(public_pem)
    public_jwk = discretion_sdk.public_jwks(key, "k")["keys"][0]
    with pytest.raises(ValueError, match="private member"):
        discretion_sdk.load_private_key(public_jwk)


def test_weak_and_unsupported_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="2048"):
        discretion_sdk.public_jwks(rsa.generate_private_key(public_exponent=65537, key_size=1024), "k")  # noqa: S505
    with pytest.raises(ValueError, match="P-256"):
        discretion_sdk.public_jwks(ec.generate_private_key(ec.SECP384R1()), "k")
    with pytest.raises(ValueError, match="unsupported alg"):
        discretion_sdk.generate_key("HS256")
    with pytest.raises(ValueError, match="kid"):
        discretion_sdk.public_jwks(discretion_sdk.generate_key(), "")


@pytest.mark.parametrize("alg", [*ALGS, "RS256"])
def test_public_jwks_is_what_the_broker_registers_and_has_no_private_member(alg: str) -> None:
    key = discretion_sdk.generate_key(alg)
    document = discretion_sdk.public_jwks(key, "agent-key-1", alg=alg)
    (jwk,) = document["keys"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & jwk.keys()
    assert jwk["kid"] == "agent-key-1"
    assert jwk["alg"] == alg
    registered = validate_jwks(document)
    assert registered["keys"][0]["alg"] == alg
    # The agent's assertions, signed with the private key, verify under the registered JWK.
    signer = discretion_sdk.ClientAssertionSigner(
        client_id="agent", private_key=key, kid="agent-key-1", alg=alg
    )
    public = jwt.PyJWK(jwk).key
    claims = jwt.decode(signer.sign("http://broker.test"), public, algorithms=[alg], audience="http://broker.test")
    assert claims["sub"] == "agent"


def test_default_key_is_ed25519() -> None:
    assert isinstance(discretion_sdk.generate_key(), ed25519.Ed25519PrivateKey)


def test_verified_token_carries_the_raw_token_for_disclose(
    verifier: discretion_sdk.TokenVerifier, broker: Any
) -> None:
    token = broker.mint()
    verified = verifier.verify(token)
    assert verified.access_token == token
    assert token not in repr(verified)
    from discretion_sdk._wire import disclosure_body

    assert disclosure_body({"a": 1}, verified, None) == {"token": token, "data": {"a": 1}}
    assert verified.audience == (RESOURCE,)


def test_disclose_refuses_an_empty_token() -> None:
    from discretion_sdk._wire import disclosure_body

    with pytest.raises(ValueError, match="access token"):
        disclosure_body({}, "", None)


def test_save_creates_files_with_mode_0600_even_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        discretion_sdk.save_private_key(tmp_path / "k.pem", discretion_sdk.generate_key())
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
