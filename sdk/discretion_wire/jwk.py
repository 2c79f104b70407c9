"""The JWS algorithms both sides accept, the keys they need, and JWK thumbprints (RFC 7638)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .base64url import b64url_encode

__all__ = [
    "ALGORITHMS",
    "KEY_TYPES",
    "PRIVATE_MEMBERS",
    "canonical_algorithm",
    "has_private_members",
    "jwk_thumbprint",
    "key_fits",
    "same_algorithm",
]

#: Asymmetric algorithms only: `none` and HS* can never be chosen, so a public key can never be
#: used as an HMAC secret (algorithm confusion, CVE-2015-9235; RFC 8725 sections 3.1 and 3.2).
#: `Ed25519` is RFC 9864's fully-specified name for what `EdDSA` (RFC 8037) means with an Ed25519
#: key, the default of current clients and of WebCrypto: the two names are one algorithm here.
ALGORITHMS = ("EdDSA", "Ed25519", "ES256", "PS256", "RS256")
#: The key type and curve each algorithm needs (RFC 7518 section 6, RFC 8037 section 2, RFC 9864
#: section 2.2); RSA has no curve. EdDSA with Ed448 is not supported.
KEY_TYPES: Mapping[str, tuple[str, str | None]] = MappingProxyType(
    {
        "EdDSA": ("OKP", "Ed25519"),
        "Ed25519": ("OKP", "Ed25519"),
        "ES256": ("EC", "P-256"),
        "PS256": ("RSA", None),
        "RS256": ("RSA", None),
    }
)
#: Each name of ALGORITHMS to the one the verifiers implement it as.
_CANONICAL: Mapping[str, str] = MappingProxyType({**{alg: alg for alg in ALGORITHMS}, "Ed25519": "EdDSA"})
#: Members only a private or symmetric JWK has (RFC 7518 section 6): "oth" is RSA's other-primes
#: list, "k" a symmetric key.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: RFC 7638 section 3.2: the required members of each key type, in lexicographic order.
_THUMBPRINT_MEMBERS = {"OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}


def canonical_algorithm(alg: object) -> str | None:
    """The algorithm `alg` names ("EdDSA" for "Ed25519"), or None when it is not one of ALGORITHMS."""
    return _CANONICAL.get(alg) if isinstance(alg, str) else None


def same_algorithm(first: object, second: object) -> bool:
    """Whether two names are one algorithm of ALGORITHMS ("EdDSA" and "Ed25519" are)."""
    canonical = canonical_algorithm(first)
    return canonical is not None and canonical == canonical_algorithm(second)


def key_fits(jwk: Mapping[str, Any], alg: str) -> bool:
    """Whether `jwk` is of the key type (and curve) that `alg` needs; False for any other `alg`."""
    needed = KEY_TYPES.get(alg)
    if needed is None:
        return False
    kty, crv = needed
    return jwk.get("kty") == kty and (crv is None or jwk.get("crv") == crv)


def has_private_members(jwk: Mapping[str, Any]) -> bool:
    """Whether `jwk` carries private or symmetric key material."""
    return not PRIVATE_MEMBERS.isdisjoint(jwk.keys())


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, base64url: a `kid`, or the value of `cnf.jkt`."""
    kty = jwk.get("kty")
    members = _THUMBPRINT_MEMBERS.get(kty) if isinstance(kty, str) else None
    if members is None:
        raise ValueError("unsupported kty for a thumbprint (OKP, EC or RSA)")
    required = {name: jwk.get(name) for name in members}
    if not all(isinstance(value, str) and value for value in required.values()):
        raise ValueError(f"a {kty} JWK needs the string members {', '.join(members)}")
    # Members in lexicographic order, no whitespace, UTF-8 (RFC 7638 section 3.3).
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())
