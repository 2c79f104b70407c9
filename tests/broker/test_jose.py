"""The broker's JWT codec: EdDSA through libsodium, interchangeable with PyJWT's own."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import nacl.signing
import pytest
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jwt.api_jws import PyJWS

from broker import agent_keys
from broker.jose import _JWS, JWT
from broker.keys import public_jwk

IDENTITY_POINT = b"\x01" + bytes(31)  # a small-order Ed25519 public key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims() -> dict[str, Any]:
    now = int(time.time())
    return {"iss": "a", "sub": "a", "aud": "https://broker.example", "jti": "j1", "iat": now, "exp": now + 60}


def _decode(codec: Any, token: str, key: Any) -> dict[str, Any]:
    claims: dict[str, Any] = codec.decode(token, key, algorithms=["EdDSA"], audience="https://broker.example")
    return claims


def test_eddsa_is_verified_by_libsodium(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pins the wiring into PyJWT's private `_jws`: if PyJWT changes it, this fails rather than
    # the broker silently verifying through OpenSSL again.
    calls: list[bytes] = []
    real = nacl.signing.VerifyKey.verify

    def spy(self: nacl.signing.VerifyKey, *args: Any, **kwargs: Any) -> bytes:
        calls.append(bytes(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(nacl.signing.VerifyKey, "verify", spy)
    key = Ed25519PrivateKey.generate()
    _decode(JWT, jwt.encode(_claims(), key, algorithm="EdDSA"), key.public_key())
    assert calls == [key.public_key().public_bytes_raw()]


def test_tokens_are_byte_for_byte_pyjwts() -> None:
    # Ed25519 signatures are deterministic, so both implementations must agree exactly.
    key, claims = Ed25519PrivateKey.generate(), _claims()
    ours = JWT.encode(claims, key, algorithm="EdDSA", headers={"kid": "k1", "typ": "at+jwt"})
    assert ours == jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": "k1", "typ": "at+jwt"})
    assert _decode(jwt, ours, key.public_key()) == claims
    assert _decode(JWT, ours, key.public_key()) == claims


def test_a_signature_by_another_key_is_refused() -> None:
    token = jwt.encode(_claims(), Ed25519PrivateKey.generate(), algorithm="EdDSA")
    with pytest.raises(jwt.InvalidSignatureError):
        _decode(JWT, token, Ed25519PrivateKey.generate().public_key())


@pytest.mark.parametrize("change", ["flip", "truncate", "extend", "empty"])
def test_a_tampered_signature_is_refused(change: str) -> None:
    key = Ed25519PrivateKey.generate()
    head, body, signature = jwt.encode(_claims(), key, algorithm="EdDSA").split(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    tampered = {
        "flip": bytes([raw[0] ^ 1]) + raw[1:],
        "truncate": raw[:63],
        "extend": raw + b"\x00",
        "empty": b"",
    }[change]
    with pytest.raises(jwt.InvalidSignatureError):
        _decode(JWT, f"{head}.{body}.{_b64(tampered)}", key.public_key())


def test_a_tampered_payload_is_refused() -> None:
    key = Ed25519PrivateKey.generate()
    head, _, signature = jwt.encode(_claims(), key, algorithm="EdDSA").split(".")
    forged = _b64(json.dumps({**_claims(), "sub": "b"}).encode())
    with pytest.raises(jwt.InvalidSignatureError):
        _decode(JWT, f"{head}.{forged}.{signature}", key.public_key())


def test_the_universal_signature_of_a_small_order_key_is_refused() -> None:
    # With the identity point as the public key, R = identity and S = 0 satisfy the cofactorless
    # equation for every message: OpenSSL (PyJWT's default) accepts it, libsodium does not.
    header = _b64(json.dumps({"alg": "EdDSA", "typ": "JWT"}).encode())
    token = f"{header}.{_b64(json.dumps(_claims()).encode())}.{_b64(IDENTITY_POINT + bytes(32))}"
    weak = Ed25519PublicKey.from_public_bytes(IDENTITY_POINT)
    assert _decode(jwt, token, weak)["sub"] == "a"  # the forgery the broker must not accept
    with pytest.raises(jwt.InvalidSignatureError):
        _decode(JWT, token, weak)


def test_ed448_keys_are_refused() -> None:
    key = Ed448PrivateKey.generate()
    with pytest.raises(jwt.InvalidKeyError):
        JWT.encode(_claims(), key, algorithm="EdDSA")
    token = jwt.encode(_claims(), key, algorithm="EdDSA")
    with pytest.raises(jwt.InvalidKeyError):
        _decode(JWT, token, key.public_key())


def test_other_algorithms_are_still_pyjwts() -> None:
    token = jwt.encode(_claims(), "a-shared-secret-of-at-least-32-bytes!", algorithm="HS256")
    with pytest.raises(jwt.InvalidAlgorithmError):
        JWT.decode(token, Ed25519PrivateKey.generate().public_key(), algorithms=["EdDSA"])


def test_a_key_is_parsed_once_per_distinct_jwk(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[dict[str, Any]] = []
    real = agent_keys.load_key

    def counting(jwk: dict[str, Any], alg: str) -> Any:
        loads.append(jwk)
        return real(jwk, alg)

    monkeypatch.setattr(agent_keys, "load_key", counting)
    first, second = (public_jwk(Ed25519PrivateKey.generate().public_key()) for _ in range(2))
    keys = [agent_keys.load_key_cached(dict(jwk), "EdDSA") for jwk in (first, first, second, first)]
    assert len(loads) == 2
    assert keys[0] is keys[1] is keys[3]
    assert keys[2] is not keys[0]
    assert keys[2].public_bytes_raw() != keys[0].public_bytes_raw()


_SEGMENT_BYTES = st.binary(max_size=24) | st.text(
    alphabet="ABCDEFabcdef0123456789-_=+/!. \n", max_size=24
).map(str.encode)


@settings(max_examples=2000, deadline=None)
@example(segment=b"!!!!")
@example(segment=b"eyJ=")
@example(segment=b"eyJhbGciOiJIUzI1NiJ9===")
@example(segment=b"a")
@example(segment=b"ab=c")
@example(segment=b"ab+/")
@example(segment=b"YQ")
@example(segment=b"YR")
@example(segment=b"YQ==")
@given(segment=_SEGMENT_BYTES)
def test_segments_get_pyjwts_verdicts(segment: bytes) -> None:
    # The codec's C-speed segment check must accept and refuse exactly what PyJWT's does.
    def verdict(decode: Any) -> bytes | str:
        try:
            return bytes(decode(segment, "header"))
        except jwt.DecodeError:
            return "refused"

    assert verdict(_JWS._decode_base64url_segment) == verdict(PyJWS._decode_base64url_segment)
