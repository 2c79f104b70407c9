"""The broker's JWT codec: EdDSA through libsodium, interchangeable with PyJWT's own."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import nacl.signing
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jwt.api_jws import PyJWS

from broker.oauth import access_tokens, agent_keys
from broker.oauth.access_tokens import mint
from broker.oauth.jose import decode_segment, parse_compact, verify_signature
from broker.oauth.signing_keys import SigningKey, public_jwk

IDENTITY_POINT = b"\x01" + bytes(31)  # a small-order Ed25519 public key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims() -> dict[str, Any]:
    now = int(time.time())
    return {"iss": "a", "sub": "a", "aud": "https://broker.example", "jti": "j1", "iat": now, "exp": now + 60}


def _verified(token: str, key: Any, alg: str = "EdDSA") -> bool:
    return verify_signature(parse_compact(token), key, alg)


def test_eddsa_is_verified_by_libsodium(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = nacl.signing.VerifyKey.verify

    def spy(self: nacl.signing.VerifyKey, *args: Any, **kwargs: Any) -> bytes:
        calls.append(bytes(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(nacl.signing.VerifyKey, "verify", spy)
    key = Ed25519PrivateKey.generate()
    assert _verified(jwt.encode(_claims(), key, algorithm="EdDSA"), key.public_key())
    assert calls == [key.public_key().public_bytes_raw()]


def test_a_signature_by_another_key_is_refused() -> None:
    token = jwt.encode(_claims(), Ed25519PrivateKey.generate(), algorithm="EdDSA")
    assert not _verified(token, Ed25519PrivateKey.generate().public_key())


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
    assert not _verified(f"{head}.{body}.{_b64(tampered)}", key.public_key())


def test_the_universal_signature_of_a_small_order_key_is_refused() -> None:
    # With the identity point as the public key, R = identity and S = 0 satisfy the cofactorless
    # equation for every message: OpenSSL (PyJWT's default) accepts it, libsodium does not.
    header = _b64(json.dumps({"alg": "EdDSA", "typ": "JWT"}).encode())
    token = f"{header}.{_b64(json.dumps(_claims()).encode())}.{_b64(IDENTITY_POINT + bytes(32))}"
    weak = Ed25519PublicKey.from_public_bytes(IDENTITY_POINT)
    pyjwts = jwt.decode(token, weak, algorithms=["EdDSA"], audience="https://broker.example")
    assert pyjwts["sub"] == "a"  # the forgery the broker must not accept
    assert not _verified(token, weak)


def test_ed448_keys_are_refused() -> None:
    key = Ed448PrivateKey.generate()
    assert not _verified(jwt.encode(_claims(), key, algorithm="EdDSA"), key.public_key())


@pytest.mark.parametrize("alg", ["HS256", "none", "EdDSA "])
def test_only_the_asymmetric_algorithms_can_be_verified(alg: str) -> None:
    secret = "a-shared-secret-of-at-least-32-bytes!"
    token = jwt.encode(_claims(), secret, algorithm="HS256")
    assert not _verified(token, secret, alg)


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

    assert verdict(decode_segment) == verdict(PyJWS._decode_base64url_segment)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {
            "sub": "ülrich ✓",
            "act": {"sub": "a", "act": {"sub": "b"}},
            "cnf": {"jkt": "x"},
            "reveal": ["email"],
        },
    ],
    ids=["plain", "non-ascii-and-nested"],
)
def test_minted_tokens_are_byte_for_byte_pyjwts(extra: dict[str, Any]) -> None:
    key, claims = Ed25519PrivateKey.generate(), {**_claims(), **extra}
    ours = mint(SigningKey("kid-1", key), claims)
    assert ours == jwt.encode(claims, key, algorithm="EdDSA", headers={"typ": "at+jwt", "kid": "kid-1"})


def test_a_parsed_token_reads_as_pyjwt_reads_it() -> None:
    key, claims = Ed25519PrivateKey.generate(), _claims()
    token = jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": "k1"})
    compact = parse_compact(token)
    complete = jwt.api_jws.PyJWS().decode_complete(token, key.public_key(), algorithms=["EdDSA"])
    assert compact.header == complete["header"]
    assert json.loads(complete["payload"]) == compact.claims == claims
    assert compact.signature == complete["signature"]
    assert compact.signing_input == token.rsplit(".", 1)[0].encode()


@pytest.mark.parametrize(
    "token",
    [
        "a.b",
        "a.b.c.d",
        "ey.e30.",  # header segment that is not JSON
        "W10.e30.",  # header that is a JSON array
        "e30.MQ.",  # claims that are a JSON number
        "e30==.e30.",  # padding that does not end a multiple of four
        "e30.e30.A",  # a signature segment of impossible length
        "é30.e30.",  # not ASCII
    ],
)
def test_malformed_compact_serializations_are_refused(token: str) -> None:
    with pytest.raises(jwt.DecodeError):
        parse_compact(token)


@pytest.mark.parametrize(
    "header",
    [{"crit": ["exp"]}, {"crit": ["b64"], "b64": False}, {"b64": False}, {"b64": "no"}],
    ids=["crit", "unencoded", "b64-alone", "b64-not-boolean"],
)
def test_headers_the_broker_does_not_implement_are_refused(header: dict[str, Any]) -> None:
    segment = _b64(json.dumps({"alg": "EdDSA", **header}).encode())
    with pytest.raises(jwt.DecodeError):
        parse_compact(f"{segment}.{_b64(b'{}')}.")


def test_b64_true_is_the_default_and_accepted() -> None:
    segment = _b64(json.dumps({"alg": "EdDSA", "b64": True}).encode())
    assert parse_compact(f"{segment}.{_b64(b'{}')}.").header["b64"] is True


def test_signatures_are_checked_for_every_allowed_algorithm() -> None:
    # The assertion algorithms; a forged payload and another key's signature fail for each.
    keys: dict[str, Any] = {
        "EdDSA": Ed25519PrivateKey.generate(),
        "Ed25519": Ed25519PrivateKey.generate(),  # RFC 9864's name: the same signature as EdDSA
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "PS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }
    assert set(keys) == set(agent_keys.ALLOWED_ALGS)
    for alg, key in keys.items():
        token = jwt.encode(_claims(), key, algorithm="EdDSA" if alg == "Ed25519" else alg)
        assert verify_signature(parse_compact(token), key.public_key(), alg), alg
        head, _, signature = token.split(".")
        forged = _b64(json.dumps({**_claims(), "sub": "b"}).encode())
        assert not verify_signature(parse_compact(f"{head}.{forged}.{signature}"), key.public_key(), alg), alg
        other = keys["ES256" if alg in ("EdDSA", "Ed25519") else "EdDSA"]
        assert not verify_signature(parse_compact(token), other.public_key(), alg), alg


def _own_token(monkeypatch: pytest.MonkeyPatch, **claims: Any) -> str:
    key = Ed25519PrivateKey.generate()
    monkeypatch.setitem(access_tokens._VERIFY_KEYS, "kid-own", ("EdDSA", key.public_key()))
    base = {**_claims(), "iss": "https://broker.example", "client_id": "a"}
    return mint(SigningKey("kid-own", key), {k: v for k, v in {**base, **claims}.items() if v is not None})


def test_read_own_token_accepts_its_own_issuers_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    token = _own_token(monkeypatch)
    read = access_tokens.read_own_token(None, token, issuer="https://broker.example")  # type: ignore[arg-type]
    assert read is not None
    assert read["sub"] == "a"


@pytest.mark.parametrize(
    "claims",
    [{"iss": "https://other.example"}, {"client_id": None}, {"jti": None}, {"sub": 7}, {"jti": ["j"]}],
    ids=["other-issuer", "no-client-id", "no-jti", "sub-not-text", "jti-not-text"],
)
def test_read_own_token_refuses_claims_it_did_not_issue(
    monkeypatch: pytest.MonkeyPatch, claims: dict[str, Any]
) -> None:
    token = _own_token(monkeypatch, **claims)
    assert access_tokens.read_own_token(None, token, issuer="https://broker.example") is None  # type: ignore[arg-type]
