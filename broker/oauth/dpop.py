"""DPoP proofs at the token endpoint (RFC 9449 section 4.3), and key thumbprints for `cnf.jkt`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt
from discretion_wire import (
    ALGORITHMS,
    access_token_hash,
    canonical_algorithm,
    has_private_members,
    jwk_thumbprint,
    key_fits,
    same_htu,
)

from broker.errors import BrokerError
from broker.oauth.agent_keys import JwkError, accepted_keys, load_key_cached
from broker.oauth.jose import parse_compact, verify_signature

# Asymmetric algorithms only (RFC 9449 section 4.3 item 5); never "none" or HS*.
DPOP_ALGS = ALGORITHMS
PROOF_TYPE = "dpop+jwt"
MAX_PROOF_LENGTH = 8192


class InvalidDPoPProof(BrokerError):
    """The DPoP proof is missing a part, malformed, replayed or does not match (RFC 9449 section 5)."""

    error = "invalid_dpop_proof"
    status_code = 400
    default_description = "the DPoP proof is invalid"


def registered_thumbprints(jwks: dict[str, Any], now: float) -> frozenset[str]:
    """The RFC 7638 thumbprints of an agent's accepted keys, active and retiring
    (agent_keys.accepted_keys): the only keys its DPoP proofs may use."""
    return _thumbprints(tuple(tuple(sorted(jwk.items())) for jwk in accepted_keys(jwks, now)))


def active_thumbprints(jwks: dict[str, Any]) -> frozenset[str]:
    """The thumbprints of an agent's active keys: the only keys a new token may be bound to."""
    return _thumbprints(tuple(tuple(sorted(jwk.items())) for jwk in jwks.get("keys", ())))


@lru_cache(maxsize=1024)
def _thumbprints(keys: tuple[tuple[tuple[str, Any], ...], ...]) -> frozenset[str]:
    # Keyed by the keys' members, so a changed JWKS is a different entry.
    return frozenset(jwk_thumbprint(dict(members)) for members in keys)


def check_registered(proof: VerifiedProof, jwks: dict[str, Any], *, now: float) -> None:
    """Refuse a proof made with a key the agent did not register (or no longer accepts). A token
    bound to a key nobody vetted would let an agent's stolen assertions mint tokens usable with a
    key the thief made up; bound to a registered key, the thief needs that private key too
    (docs/threat-model.md)."""
    if proof.jkt not in registered_thumbprints(jwks, now):
        raise InvalidDPoPProof("the DPoP proof's key is not one of the client's registered keys")


def check_bindable(proof: VerifiedProof, jwks: dict[str, Any]) -> None:
    """Refuse to bind a new token to a retiring key: a retiring key is accepted only until the
    tokens bound to it before its rotation have expired."""
    if proof.jkt not in active_thumbprints(jwks):
        raise InvalidDPoPProof("the DPoP proof's key is retiring; new tokens are bound to active keys")


@dataclass(frozen=True, slots=True)
class VerifiedProof:
    """A proof that checked out; its jti is spent separately, inside the write transaction."""

    jkt: str
    jti: str
    iat: float


def verify_proof(
    proof: str,
    *,
    method: str,
    url: str,
    now: float,
    window: int,
    skew: int,
    access_token: str | None = None,
) -> VerifiedProof:
    """Check every item of RFC 9449 section 4.3 except jti replay, which needs the store."""
    if len(proof) > MAX_PROOF_LENGTH:
        raise InvalidDPoPProof("the DPoP proof is not a JWT")
    try:
        compact = parse_compact(proof)
    except jwt.DecodeError as exc:
        raise InvalidDPoPProof("the DPoP proof is not a JWT") from exc
    header = compact.header
    if header.get("typ") != PROOF_TYPE:
        raise InvalidDPoPProof("the DPoP proof must have typ dpop+jwt")
    alg = header.get("alg")
    if alg not in DPOP_ALGS:
        raise InvalidDPoPProof("the DPoP proof's alg is not supported")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise InvalidDPoPProof("the DPoP proof must carry its public key in jwk")
    if has_private_members(jwk):
        raise InvalidDPoPProof("the DPoP proof's jwk must not contain a private key")
    if not key_fits(jwk, alg):
        raise InvalidDPoPProof("the DPoP proof's alg does not fit its key")
    try:
        key = load_key_cached({k: v for k, v in jwk.items() if k != "alg"}, canonical_algorithm(alg) or alg)
    except JwkError as exc:
        raise InvalidDPoPProof(f"the DPoP proof's key is refused: {exc}") from exc
    claims = compact.claims
    if not verify_signature(compact, key, alg) or any(
        claims.get(name) is None for name in ("jti", "htm", "htu", "iat")
    ):
        raise InvalidDPoPProof("the DPoP proof's signature or claims are invalid")
    if claims["htm"] != method:
        raise InvalidDPoPProof("the DPoP proof's htm does not match the request method")
    if not isinstance(claims["htu"], str) or not same_htu(claims["htu"], url):
        raise InvalidDPoPProof("the DPoP proof's htu does not match the request URL")
    iat = claims["iat"]
    if (
        not isinstance(iat, int | float)
        or isinstance(iat, bool)
        or not now - window - skew <= iat <= now + skew
    ):
        raise InvalidDPoPProof("the DPoP proof's iat is outside the accepted window")
    jti = claims["jti"]
    if not isinstance(jti, str) or not 0 < len(jti) <= 256 or not jti.isprintable():  # as assertions' jti
        raise InvalidDPoPProof("the DPoP proof's jti is invalid")
    if access_token is not None:
        try:
            expected = access_token_hash(access_token)
        except ValueError as exc:  # not ASCII, so not a token this broker issued
            raise InvalidDPoPProof("the DPoP proof's ath does not match the access token") from exc
        if claims.get("ath") != expected:
            raise InvalidDPoPProof("the DPoP proof's ath does not match the access token")
    return VerifiedProof(jkt=jwk_thumbprint(jwk), jti=jti, iat=float(iat))
