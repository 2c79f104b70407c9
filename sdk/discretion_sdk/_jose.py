"""Just enough JOSE to verify compact JWS tokens fast: compact JWS framing, JWK import, signatures.

Verification of access tokens is on every request a holder serves, so it is done here with
cryptography key objects built once per JWKS download, instead of through `jwt.decode` (see
`_checks.py` for why). Signing stays with pyjwt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from discretion_wire import ALGORITHMS, KEY_TYPES, b64url_decode, b64url_encode, has_private_members, key_fits
from nacl.bindings import crypto_core_ed25519_is_valid_point as is_valid_point

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "VerificationKey",
    "load_jwks",
    "public_jwk",
    "verify_function",
]

logger = logging.getLogger("discretion_sdk")

#: What a holder can be configured to accept: asymmetric only (discretion_wire.ALGORITHMS says why).
SUPPORTED_ALGORITHMS = frozenset(ALGORITHMS)
_MIN_RSA_BITS = 2048

Verify = Callable[[bytes, bytes], None]


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key from the JWKS, with the algorithms it may verify and its verify function."""

    kid: str
    algorithms: frozenset[str]
    #: verify(signature, signing_input) raises cryptography's InvalidSignature on a bad signature.
    verify: Verify


@dataclass(frozen=True, slots=True)
class CompactJws:
    """The three parts of a compact JWS, with the exact bytes its signature covers."""

    header_segment: str
    payload_segment: str
    signing_input: bytes
    signature: bytes


def split_compact_jws(text: str, max_length: int) -> CompactJws:
    """Split and decode a compact JWS (RFC 7515 section 7.1); ValueError names what is wrong."""
    if len(text) > max_length:
        raise ValueError("too long")
    parts = text.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS")
    header_segment, payload_segment, signature_segment = parts
    try:
        # Strict: one byte string, one spelling (unused trailing bits must be zero).
        signature = b64url_decode(signature_segment)
        signing_input = text[: len(header_segment) + 1 + len(payload_segment)].encode("ascii")
    except ValueError:
        raise ValueError("bad encoding") from None
    return CompactJws(header_segment, payload_segment, signing_input, signature)


def _int(jwk: Mapping[str, Any], name: str) -> int:
    return int.from_bytes(b64url_decode(jwk[name]), "big")


def _okp(jwk: Mapping[str, Any]) -> tuple[frozenset[str], Verify]:
    if jwk.get("crv") != "Ed25519":
        raise ValueError("only the Ed25519 OKP curve is supported")
    raw = b64url_decode(jwk["x"])
    # A small-order point has one signature (R = identity, S = 0) that OpenSSL accepts for every
    # message: such a key would let anyone sign.
    if len(raw) != 32 or not is_valid_point(raw):
        raise ValueError("the Ed25519 key is not a point of prime order")
    key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
    # The bound method itself: no wrapper on the hot path.
    # Under either name: "Ed25519" is RFC 9864's for EdDSA with this curve.
    return frozenset({"EdDSA", "Ed25519"}), key.verify


def _ec(jwk: Mapping[str, Any]) -> tuple[frozenset[str], Verify]:
    if jwk.get("crv") != "P-256":
        raise ValueError("only the P-256 EC curve is supported")
    x, y = b64url_decode(jwk["x"]), b64url_decode(jwk["y"])
    if len(x) != 32 or len(y) != 32:
        raise ValueError("P-256 coordinates must be 32 bytes")
    # public_key() checks that the point is on the curve (invalid-curve attacks).
    numbers = ec.EllipticCurvePublicNumbers(
        int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()
    )
    key = numbers.public_key()

    def verify(signature: bytes, data: bytes) -> None:
        # RFC 7518 section 3.4: R || S, 32 bytes each, rather than DER.
        if len(signature) != 64:
            raise InvalidSignature()
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))

    return frozenset({"ES256"}), verify


def _rsa(jwk: Mapping[str, Any], alg: Any = None) -> tuple[frozenset[str], Verify]:
    key = rsa.RSAPublicNumbers(_int(jwk, "e"), _int(jwk, "n")).public_key()
    if key.key_size < _MIN_RSA_BITS:
        raise ValueError(f"RSA keys must have at least {_MIN_RSA_BITS} bits")
    # RFC 7518 section 3.5: PSS with MGF1, salt as long as the hash output.
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    pkcs1 = padding.PKCS1v15()

    def verify_ps256(signature: bytes, data: bytes) -> None:
        key.verify(signature, data, pss, hashes.SHA256())

    def verify_rs256(signature: bytes, data: bytes) -> None:
        key.verify(signature, data, pkcs1, hashes.SHA256())

    # Which of the two this key verifies is decided by its `alg` member, see load_jwks (or, for the
    # key in a DPoP proof, by the proof's own header, see verify_function).
    algs = {"PS256": verify_ps256, "RS256": verify_rs256}
    alg = jwk.get("alg") if alg is None else alg
    if alg not in algs:
        # An RSA key without `alg` could be used with either padding; refusing keeps the key
        # to one algorithm (RFC 8725 section 3.1).
        raise ValueError("RSA keys must name their alg (RS256 or PS256)")
    return frozenset({alg}), algs[alg]


_IMPORTERS: dict[str, Callable[[Mapping[str, Any]], tuple[frozenset[str], Verify]]] = {
    "OKP": _okp,
    "EC": _ec,
    "RSA": _rsa,
}


def _usable(jwk: Mapping[str, Any]) -> bool:
    if has_private_members(jwk):
        # A published private key means anyone can sign: trust nothing signed with it.
        return False
    use, ops = jwk.get("use"), jwk.get("key_ops")
    if use is not None and use != "sig":
        return False
    return ops is None or (isinstance(ops, list) and "verify" in ops)


def load_jwks(document: Mapping[str, Any], algorithms: frozenset[str]) -> dict[str, VerificationKey]:
    """Import the signing keys of a JWK Set that can verify one of `algorithms`, by `kid`."""
    keys: dict[str, VerificationKey] = {}
    duplicates: set[str] = set()
    for jwk in document.get("keys", []):
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str) or not _usable(jwk):
            continue
        kid: str = jwk["kid"]
        importer = _IMPORTERS.get(jwk.get("kty", ""))
        if importer is None:
            continue
        try:
            key_algorithms, verify = importer(jwk)
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("skipping JWKS key %r: %s", kid, exc)
            continue
        declared = jwk.get("alg")
        if declared is not None and declared not in key_algorithms:
            continue
        usable_algorithms = key_algorithms & algorithms
        if not usable_algorithms:
            continue
        if kid in keys:
            duplicates.add(kid)
        keys[kid] = VerificationKey(kid, usable_algorithms, verify)
    # Two keys under one kid: which one a token meant is ambiguous, so neither is trusted.
    for kid in duplicates:
        logger.warning("JWKS has several keys with kid %r; ignoring them", kid)
        del keys[kid]
    return keys


def verify_function(jwk: Mapping[str, Any], alg: str) -> Verify:
    """Import a public JWK for `alg` (the key in a DPoP proof header), or raise ValueError."""
    if not key_fits(jwk, alg):
        raise ValueError(f"the key does not fit {alg}")
    kty = KEY_TYPES[alg][0]
    try:
        if kty == "RSA":
            _, verify = _rsa(jwk, alg)
        else:
            _, verify = _IMPORTERS[kty](jwk)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"bad {kty} key") from exc
    return verify


def _unsigned(value: int) -> str:
    return b64url_encode(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def public_jwk(
    key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
) -> dict[str, str]:
    """The public JWK (RFC 7517, 8037) of a private key: only the members RFC 7638 hashes."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"only P-256 EC keys are supported, not {key.curve.name}")
        numbers = key.public_key().public_numbers()
        # RFC 7518 section 6.2.1.2: coordinates are the full 32 bytes, leading zeros kept.
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": b64url_encode(numbers.y.to_bytes(32, "big")),
        }
    if isinstance(key, rsa.RSAPrivateKey):
        rsa_numbers = key.public_key().public_numbers()
        return {"kty": "RSA", "e": _unsigned(rsa_numbers.e), "n": _unsigned(rsa_numbers.n)}
    raise TypeError(f"unsupported private key type: {type(key).__name__}")
