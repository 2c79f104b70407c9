"""Validation of the public keys agents register, and their use for verifying assertions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from discretion_wire import (
    ALGORITHMS,
    canonical_algorithm,
    has_private_members,
    jwk_thumbprint,
    key_fits,
    same_algorithm,
)
from nacl.bindings import crypto_core_ed25519_is_valid_point as is_valid_point

# Assertion algorithms accepted: asymmetric only. HS* is never accepted: a shared secret cannot be
# a registered public key (RFC 8725 section 3.1).
ALLOWED_ALGS = ALGORITHMS
# What a registered key keeps: the members that define it, each a string. Others (`key_ops`,
# `x5c`, `ext`, ...) are dropped: nothing here reads them, and a key of strings only is parsed
# once and remembered (`load_key_cached`) instead of at every assertion.
_KEPT_MEMBERS = ("kty", "crv", "x", "y", "n", "e", "kid", "alg", "use")
MAX_KEYS = 10


class JwkError(ValueError):
    """A registered JWK is unusable."""


def _alg_for(jwk: dict[str, Any]) -> str:
    declared = jwk.get("alg")
    fitting = [alg for alg in ALLOWED_ALGS if key_fits(jwk, alg)]
    if not fitting:
        raise JwkError("keys must be OKP Ed25519, EC P-256 or RSA")
    if declared is not None:
        # Kept as declared: "Ed25519" (RFC 9864) and "EdDSA" name one algorithm (find_key).
        if declared not in fitting:
            raise JwkError(f"key alg {declared!r} does not fit the key type")
        return str(declared)
    if len({canonical_algorithm(alg) for alg in fitting}) > 1:
        # An RSA key must pin its algorithm, so PS256 and RS256 cannot be swapped.
        raise JwkError("RSA keys must declare alg PS256 or RS256")
    return fitting[0]


def validate_jwks(jwks: Any) -> dict[str, list[dict[str, Any]]]:
    """Check a JWKS an admin registers: public keys only, unique kids, supported types; returns it
    with only the members that define each key."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise JwkError('jwks must be {"keys": [...]} with at least one key')
    if len(jwks["keys"]) > MAX_KEYS:
        raise JwkError(f"at most {MAX_KEYS} keys")
    seen: set[str] = set()
    keys: list[dict[str, Any]] = []
    for jwk in jwks["keys"]:
        if not isinstance(jwk, dict):
            raise JwkError("each key must be a JSON object")
        if has_private_members(jwk):
            raise JwkError("keys must be public: private key members are refused")
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= 128 or kid in seen:
            raise JwkError("each key needs a unique kid of at most 128 characters")
        if jwk.get("use", "sig") != "sig":
            raise JwkError("keys must be signing keys")
        alg = _alg_for(jwk)
        load_key(jwk, alg)
        kept = {name: jwk[name] for name in _KEPT_MEMBERS if name in jwk}
        if not all(isinstance(value, str) for value in kept.values()):
            raise JwkError(f"the members {', '.join(_KEPT_MEMBERS)} must be strings")
        seen.add(kid)
        keys.append({**kept, "alg": alg})
    return {"keys": keys}


# RSA bounds, checked before any signature work: at least 2048 bits; at most 8192, because an
# unauthenticated caller chooses the key of a DPoP proof and verification cost grows with n; and
# FIPS 186-5's public exponent range 2**16 < e < 2**256, odd (a 3,070-bit e costs 5x per proof).
RSA_MIN_BITS, RSA_MAX_BITS = 2048, 8192
# Base64url characters of each member, checked before any decoding: P-256 and Ed25519 coordinates
# are 32 bytes (43 characters); the curve itself is checked by key_fits (P-256 only for EC) and the
# point by the parser (on the curve) and below (Ed25519 of prime order).
_MEMBER_LIMITS = {
    "RSA": {"n": (RSA_MAX_BITS + 5) // 6 + 1, "e": 43},
    "EC": {"x": 43, "y": 43},
    "OKP": {"x": 43},
}


def _check_members(jwk: dict[str, Any]) -> None:
    kty = jwk.get("kty")
    for name, limit in _MEMBER_LIMITS.get(kty if isinstance(kty, str) else "", {}).items():
        value = jwk.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise JwkError(f"the {kty} key is larger than this broker accepts")


def _check_rsa_key(key: rsa.RSAPublicKey) -> None:
    if not RSA_MIN_BITS <= key.key_size <= RSA_MAX_BITS:
        raise JwkError(f"RSA keys must have {RSA_MIN_BITS} to {RSA_MAX_BITS} bits")
    e = key.public_numbers().e
    if not (2**16 < e < 2**256 and e % 2 == 1):
        raise JwkError("the RSA public exponent must be odd and between 2**16 and 2**256")


def load_key(jwk: dict[str, Any], alg: str) -> Any:
    """A cryptography public key object from a JWK of the expected type, within the size bounds."""
    _check_members(jwk)
    alg = canonical_algorithm(alg) or alg
    try:
        key = jwt.PyJWK(jwk, algorithm=alg).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
        raise JwkError("the key cannot be parsed") from exc
    expected = {
        "EdDSA": ed25519.Ed25519PublicKey,
        "ES256": ec.EllipticCurvePublicKey,
        "PS256": rsa.RSAPublicKey,
        "RS256": rsa.RSAPublicKey,
    }[alg]
    if not isinstance(key, expected):
        raise JwkError("the key is not a public key of the declared type")
    if isinstance(key, rsa.RSAPublicKey):
        _check_rsa_key(key)
    # A small-order Ed25519 key has signatures anyone can make (OpenSSL accepts an all-identity
    # signature from the identity point for every message); libsodium's verification refuses
    # them, so such a key is refused outright rather than registered and never usable.
    if isinstance(key, ed25519.Ed25519PublicKey) and not is_valid_point(key.public_bytes_raw()):
        raise JwkError("the Ed25519 key is not a point of prime order")
    return key


@lru_cache(maxsize=4096)
def _cached_key(members: tuple[tuple[str, str], ...], alg: str) -> Any:
    # Keyed by the key's own members, so a re-registered or rotated key is a different entry.
    # A key that fails to load raises, and failures are not remembered.
    return load_key(dict(members), alg)


def load_key_cached(jwk: dict[str, Any], alg: str) -> Any:
    """`load_key`, remembered by the JWK's members: parsing a key and checking its point costs
    more than verifying a signature with it, and the same keys come back (registered keys, an
    agent's DPoP key). A JWK with any non-string member is loaded (and refused) afresh."""
    members = tuple(sorted(jwk.items()))
    if not all(isinstance(value, str) for _, value in members):
        return load_key(jwk, alg)
    return _cached_key(members, alg)


def find_key(jwks: dict[str, Any], kid: str, alg: str, *, now: float) -> Any | None:
    """The registered key with this kid, active or retiring (`accepted_keys`), if it may be used
    with this algorithm (under either of its names: a key registered as "EdDSA" verifies an
    "Ed25519" assertion, and back)."""
    for jwk in accepted_keys(jwks, now):
        if jwk.get("kid") == kid and same_algorithm(jwk.get("alg"), alg):
            return load_key_cached(jwk, canonical_algorithm(alg) or alg)
    return None


# -- key sets and their rotation -------------------------------------------------------------------
#
# An agent's stored key set is its JWKS with more members (docs/api.md, "Rotating an agent's
# keys"): `keys`, the active keys; `current`, the thumbprint of the active key that delegated
# tokens are bound to; `retiring`, keys a planned rotation removed, each with the time `until`
# which it is still accepted (every token bound to it has expired by then); `compromised`, the
# thumbprints of keys removed as compromised, never accepted again. A set stored before rotation
# existed has only `keys`: its current key is its first, as delegated tokens were bound then.

MAX_COMPROMISED = 100


def retiring_keys(jwks: dict[str, Any], now: float) -> list[dict[str, Any]]:
    """The keys a planned rotation removed that are still accepted at `now`."""
    return [
        entry["jwk"]
        for entry in jwks.get("retiring", ())
        if isinstance(entry, dict) and float(entry.get("until", 0)) > now
    ]


def accepted_keys(jwks: dict[str, Any], now: float) -> Sequence[dict[str, Any]]:
    """Every key the agent's assertions and DPoP proofs may use at `now`: active, then retiring."""
    active: Sequence[dict[str, Any]] = jwks.get("keys", ())
    if not jwks.get("retiring"):
        return active  # the token path's usual case: no copy
    return [*active, *retiring_keys(jwks, now)]


@lru_cache(maxsize=4096)
def _thumbprint(members: tuple[tuple[str, str], ...]) -> str:
    return jwk_thumbprint(dict(members))


def thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 thumbprint of a stored (string-valued) JWK, remembered."""
    return _thumbprint(tuple(sorted(jwk.items())))


def current_thumbprint(jwks: dict[str, Any]) -> str:
    """The thumbprint of the agent's current key: the one delegated tokens are bound to. Chosen
    deliberately (at registration the first key, then whichever key a rotation makes current),
    never by the keys' order in a later update."""
    current = jwks.get("current")
    if isinstance(current, str) and any(thumbprint(jwk) == current for jwk in jwks.get("keys", ())):
        return current
    return thumbprint(jwks["keys"][0])


def initial_key_set(keys: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The stored key set of a newly registered agent (keys from `validate_jwks`)."""
    return {"keys": keys["keys"], "current": thumbprint(keys["keys"][0])}


def current_kid(jwks: dict[str, Any]) -> str | None:
    """The kid of the agent's current key."""
    current = current_thumbprint(jwks)
    return next((str(jwk["kid"]) for jwk in jwks["keys"] if thumbprint(jwk) == current), None)


@dataclass(frozen=True, slots=True)
class Rotation:
    """A rotation's result: the new stored key set and what changed, by (kid, thumbprint)."""

    jwks: dict[str, Any]
    added: tuple[tuple[str, str], ...]
    retiring: tuple[tuple[str, str], ...]
    compromised: tuple[tuple[str, str], ...]
    current: tuple[str, str]

    @property
    def kept_thumbprints(self) -> frozenset[str]:
        """Keys still accepted after the rotation (active and retiring)."""
        keys = [*self.jwks["keys"], *(entry["jwk"] for entry in self.jwks.get("retiring", ()))]
        return frozenset(thumbprint(jwk) for jwk in keys)


def rotate(
    stored: dict[str, Any],
    new_jwks: Any,
    *,
    current_kid: str | None,
    compromised_kids: list[str],
    now: float,
    retire_for: float,
) -> Rotation:
    """Replace an agent's active keys with `new_jwks` (checked as at registration). Keys it drops
    retire for `retire_for` seconds, except those named in `compromised_kids`, which are dropped
    at once (active or retiring) and never accepted again. The current key is `current_kid` if
    given, else the one key the set adds, else the current key if it stays; otherwise the
    rotation must name it."""
    keys = validate_jwks(new_jwks)["keys"]
    new_by_jkt = {thumbprint(jwk): jwk for jwk in keys}
    old_active = {thumbprint(jwk): jwk for jwk in stored.get("keys", ())}
    old_retiring = {
        thumbprint(entry["jwk"]): entry
        for entry in stored.get("retiring", ())
        if float(entry.get("until", 0)) > now
    }
    known = {**{jkt: e["jwk"] for jkt, e in old_retiring.items()}, **old_active}
    burned = set(stored.get("compromised", ()))
    if len(set(compromised_kids)) != len(compromised_kids):
        raise JwkError("each compromised kid must be named once")
    compromised: list[tuple[str, str]] = []
    for kid in compromised_kids:
        match = [jkt for jkt, jwk in known.items() if jwk.get("kid") == kid]
        if not match:
            raise JwkError("a compromised kid must name one of the agent's active or retiring keys")
        if match[0] in new_by_jkt or any(jwk["kid"] == kid for jwk in keys):
            raise JwkError("a key marked compromised cannot stay in the key set")
        compromised.append((kid, match[0]))
    if any(jkt in burned for jkt in new_by_jkt):
        raise JwkError("a key once marked compromised is never accepted again")
    gone = {jkt for _, jkt in compromised}
    retiring = {
        jkt: entry for jkt, entry in old_retiring.items() if jkt not in gone and jkt not in new_by_jkt
    }
    newly_retiring = []
    for jkt, jwk in old_active.items():
        if jkt not in new_by_jkt and jkt not in gone:
            retiring[jkt] = {"jwk": jwk, "until": now + retire_for}
            newly_retiring.append((str(jwk["kid"]), jkt))
    # A kid names one key while it is accepted: assertions pick their key by kid.
    new_kids = {jwk["kid"] for jwk in keys}
    if any(entry["jwk"]["kid"] in new_kids for entry in retiring.values()):
        raise JwkError("a kid of a retiring key cannot name a new key; give the new key its own kid")
    if len(retiring) > MAX_KEYS:
        raise JwkError(f"at most {MAX_KEYS} retiring keys; mark some compromised or wait for them to end")
    added = [(str(jwk["kid"]), jkt) for jkt, jwk in new_by_jkt.items() if jkt not in old_active]
    old_current = current_thumbprint(stored) if stored.get("keys") else None
    if current_kid is not None:
        chosen = [jkt for jkt, jwk in new_by_jkt.items() if jwk["kid"] == current_kid]
        if not chosen:
            raise JwkError("the current kid must name a key of the new set")
        current = chosen[0]
    elif len(added) == 1:
        current = added[0][1]
    elif old_current in new_by_jkt:
        current = old_current
    elif len(keys) == 1:
        current = thumbprint(keys[0])
    else:
        raise JwkError("name the current key (current_kid): the rotation does not make it clear")
    document: dict[str, Any] = {"keys": keys, "current": current}
    if retiring:
        document["retiring"] = list(retiring.values())
    burned_now = [*stored.get("compromised", ()), *(jkt for _, jkt in compromised)]
    if burned_now:
        document["compromised"] = burned_now[-MAX_COMPROMISED:]
    return Rotation(
        jwks=document,
        added=tuple(added),
        retiring=tuple(newly_retiring),
        compromised=tuple(compromised),
        current=(str(new_by_jkt[current]["kid"]), current),
    )
