"""The broker's JWT codec: PyJWT, with EdDSA (Ed25519) signatures made and checked by libsodium.

Every token request verifies an Ed25519 client assertion and signs an Ed25519 access token. On
the reference machine the OpenSSL behind `cryptography` takes 137 us per Ed25519 verification and
36 us per signature, libsodium (PyNaCl) 56 and 20 (docs/benchmarks.md, fifth session): about a
tenth of a grant's CPU. Everything else stays PyJWT's: parsing, the algorithm allow-list, claim
checks, and every other algorithm (ES256, PS256, RS256 use `cryptography` as before).

libsodium's verification is at least as strict as OpenSSL's (it also refuses non-canonical and
small-order points), so a signature one accepts and the other refuses can only be refused here.
Keys stay `cryptography` objects everywhere else; they are converted where they are used.
"""

from __future__ import annotations

import binascii
from functools import lru_cache
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm
from jwt.api_jws import PyJWS
from jwt.exceptions import DecodeError
from jwt.utils import base64url_decode, base64url_encode
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey


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


_BASE64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


class _JWS(PyJWS):
    """PyJWS with its base64url segment check done in C rather than a character at a time."""

    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        # The same rules as PyJWT's (2.15): at most two '=' and only on a multiple of four, no
        # character outside the URL-safe alphabet, and the canonical encoding of what it
        # decodes to (no stray bits). PyJWT tests each character in a generator: 31 us per
        # assertion, 4 % of a grant. tests/broker/test_jose.py holds both to the same verdicts.
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


def _codec() -> jwt.PyJWT:
    codec = jwt.PyJWT()
    # PyJWT has no public way to give a PyJWT instance its own JWS or algorithms; its
    # module-level `jwt.decode` is wired the same way (`_jwt_global_obj._jws`).
    # tests/broker/test_jose.py fails if this stops taking effect.
    jws = _JWS(options=codec._jws.options)
    jws.unregister_algorithm("EdDSA")
    jws.register_algorithm("EdDSA", SodiumEdDSA())
    codec._jws = jws
    return codec


JWT = _codec()
