"""The broker's compact JWS: parsing, signing and verifying tokens, assertions and DPoP proofs.

Every token request verifies a client assertion (Ed25519 for most agents) and signs an Ed25519
access token. Ed25519 goes through libsodium (PyNaCl), less than half the cost of OpenSSL's here
(docs/benchmarks.md). ES256, PS256 and RS256 use PyJWT's algorithm objects (`cryptography`), and no
other algorithm can be verified here at all.

The framing is done here rather than by PyJWT's encode and decode, which re-encoded the header for
every token and parsed each segment again after the broker had read it to find the key. What stays
PyJWT's: the base64url segment rules (`decode_segment` gives the same verdicts, in C), the algorithm
objects, and the bytes of a signed token (tests/broker/oauth/test_jose.py holds all three to PyJWT's).

libsodium's verification is at least as strict as OpenSSL's (it also refuses non-canonical and
small-order points), so a signature one accepts and the other refuses can only be refused here.
Keys stay `cryptography` objects everywhere else; they are converted where they are used.
"""

from __future__ import annotations

import binascii
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import Algorithm, OKPAlgorithm, get_default_algorithms
from jwt.exceptions import DecodeError
from jwt.utils import base64url_decode, base64url_encode
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from broker import strict_json


@lru_cache(maxsize=8)
def _signing_key(key: Ed25519PrivateKey) -> SigningKey:
    # Keyed by the object: deriving libsodium's key computes the public half (a scalar
    # multiplication, as much as a signature), so it is done once per loaded key, not per token.
    return SigningKey(key.private_bytes_raw())


class SodiumEdDSA(OKPAlgorithm):
    """PyJWT's EdDSA, Ed25519 only, through libsodium (Ed448 is refused: no agent key may use it)."""

    # PyJWT types prepare_key's result as a cryptography key; it is opaque to PyJWT, which only
    # hands it back to sign and verify below.
    def prepare_key(self, key: Any) -> SigningKey | VerifyKey:  # type: ignore[override]
        if isinstance(key, SigningKey | VerifyKey):
            return key
        loaded = super().prepare_key(key)  # PEM and SSH strings, and the key-type check
        if isinstance(loaded, Ed25519PrivateKey):
            return _signing_key(loaded)
        if isinstance(loaded, Ed25519PublicKey):
            return VerifyKey(loaded.public_bytes_raw())
        raise jwt.InvalidKeyError("EdDSA keys must be Ed25519")

    def sign(self, msg: str | bytes, key: Any) -> bytes:
        if not isinstance(key, SigningKey):
            raise jwt.InvalidKeyError("an EdDSA signature needs an Ed25519 private key")
        data = msg.encode() if isinstance(msg, str) else msg
        return bytes(key.sign(data).signature)

    def verify(self, msg: str | bytes, key: Any, sig: str | bytes) -> bool:
        verify_key = key.verify_key if isinstance(key, SigningKey) else key
        if not isinstance(verify_key, VerifyKey):
            return False
        data = msg.encode() if isinstance(msg, str) else msg
        signature = sig.encode() if isinstance(sig, str) else sig
        if len(signature) != 64:  # libsodium would read a shorter one as message bytes
            return False
        try:
            verify_key.verify(data, signature)
        except BadSignatureError:
            return False
        return True


# A JOSE header or claim set is flat apart from `act` chains and `cnf`; deeper nesting is refused.
_MAX_SEGMENT_DEPTH = 16
_BASE64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def decode_segment(segment: bytes, name: str) -> bytes:
    """One base64url segment of a compact JWS, by PyJWT's (2.15) rules: at most two '=' and only on
    a multiple of four, no character outside the URL-safe alphabet, and the canonical encoding of
    what it decodes to (no stray bits)."""
    # Checked in C: PyJWT tests each character in a generator, 31 us per assertion (4 % of a
    # grant). tests/broker/test_jose.py holds both to the same verdicts.
    stripped = segment.rstrip(b"=")
    padding = len(segment) - len(stripped)
    if padding > 2 or (padding and len(segment) % 4) or len(stripped) % 4 == 1:
        raise DecodeError(f"Invalid {name} padding")
    if stripped.translate(None, _BASE64URL):
        raise DecodeError(f"Invalid {name} padding")
    try:
        decoded = base64url_decode(stripped)
    except (TypeError, binascii.Error) as err:
        raise DecodeError(f"Invalid {name} padding") from err
    if base64url_encode(decoded) != stripped:
        raise DecodeError(f"Invalid {name} padding")
    return decoded


# The asymmetric algorithms agents and the broker sign with; an HMAC, "none" or anything else
# cannot be verified here whatever a caller passes.
_ALGORITHMS: dict[str, Algorithm] = {
    **{name: get_default_algorithms()[name] for name in ("ES256", "PS256", "RS256")},
    "EdDSA": SodiumEdDSA(),
}
# RFC 9864's fully-specified name for EdDSA with Ed25519, the only EdDSA curve accepted here.
_ALGORITHMS["Ed25519"] = _ALGORITHMS["EdDSA"]


def encode_json(value: dict[str, Any]) -> bytes:
    """A header or claims object as PyJWT serializes it (compact, ASCII)."""
    return json.dumps(value, separators=(",", ":")).encode()


def encode_header(header: dict[str, Any]) -> bytes:
    """The first segment of a compact JWS, with its members sorted as PyJWT sorts them."""
    return base64url_encode(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())


def sign_eddsa(signing_input: bytes, key: Ed25519PrivateKey) -> bytes:
    """The last segment of a compact JWS: an Ed25519 signature by libsodium, base64url."""
    return base64url_encode(_signing_key(key).sign(signing_input).signature)


@lru_cache(maxsize=8)
def _prepared(key: Any, alg: str) -> Any:
    # Keyed by the loaded key object, like _signing_key: prepared once, not per token.
    return _ALGORITHMS[alg].prepare_key(key)


def sign(signing_input: bytes, key: Any, alg: str) -> bytes:
    """The last segment of a compact JWS signed with `alg` (EdDSA, ES256 as R || S, RS256), base64url."""
    if alg == "EdDSA":
        return sign_eddsa(signing_input, key)
    if alg not in ("ES256", "RS256"):
        raise ValueError(f"the broker does not sign with {alg!r}")
    return base64url_encode(_ALGORITHMS[alg].sign(signing_input, _prepared(key, alg)))


@dataclass(frozen=True, slots=True)
class Compact:
    """A compact JWS split and decoded, its signature not yet checked."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def parse_compact(token: str) -> Compact:
    """Split a compact JWS with PyJWT's segment rules; both JSON segments must be objects.

    Refuses what the broker does not implement rather than misreading it: an unencoded payload
    (`b64`, RFC 7797) and any `crit` extension (RFC 7515 section 4.1.11).
    """
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError as exc:
        raise DecodeError("Invalid token encoding") from exc
    parts = raw.split(b".")
    if len(parts) != 3:
        raise DecodeError("Not enough segments" if len(parts) < 3 else "Too many segments")
    header = _json_object(decode_segment(parts[0], "header"), "header")
    claims = _json_object(decode_segment(parts[1], "payload"), "payload")
    signature = decode_segment(parts[2], "crypto")
    if "crit" in header or header.get("b64", True) is not True:
        raise DecodeError("Unsupported critical or b64 header parameter")
    return Compact(header, claims, parts[0] + b"." + parts[1], signature)


def _json_object(segment: bytes, name: str) -> dict[str, Any]:
    try:
        value = strict_json.loads(segment, max_depth=_MAX_SEGMENT_DEPTH)
    except strict_json.StrictJSONError as exc:
        raise DecodeError(f"Invalid {name} string: {exc}") from exc
    if not isinstance(value, dict):
        raise DecodeError(f"Invalid {name} string: must be a json object")
    return value


def verify_signature(compact: Compact, key: Any, alg: str) -> bool:
    """Whether `key` signed `compact` with `alg`, which the caller has already allowed (never
    taken from the header unchecked)."""
    algorithm = _ALGORITHMS.get(alg)
    if algorithm is None:
        return False
    try:
        prepared = algorithm.prepare_key(key)
    except (jwt.InvalidKeyError, ValueError, TypeError):
        return False
    return bool(algorithm.verify(compact.signing_input, prepared, compact.signature))
