"""DPoP proofs at the token endpoint (RFC 9449 section 4.3), and key thumbprints for `cnf.jkt`."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt

from broker.errors import BrokerError
from broker.oauth.agent_keys import JwkError, load_key_cached
from broker.oauth.jose import parse_compact, verify_signature
from broker.oauth.signing_keys import jwk_thumbprint

# Asymmetric algorithms only (RFC 9449 section 4.3 item 5); never "none" or HS*.
DPOP_ALGS = ("EdDSA", "ES256", "PS256", "RS256")
PROOF_TYPE = "dpop+jwt"
MAX_PROOF_LENGTH = 8192
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class InvalidDPoPProof(BrokerError):
    """The DPoP proof is missing a part, malformed, replayed or does not match (RFC 9449 section 5)."""

    error = "invalid_dpop_proof"
    status_code = 400
    default_description = "the DPoP proof is invalid"


@dataclass(frozen=True, slots=True)
class VerifiedProof:
    """A proof that checked out; its jti is spent separately, inside the write transaction."""

    jkt: str
    jti: str
    iat: float


def normalize_htu(url: str) -> str:
    """The URL a proof must name: scheme, host and path, without query and fragment (section 4.3)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", "", ""))


def _alg_matches_key(alg: str, jwk: dict[str, Any]) -> bool:
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if alg == "EdDSA":
        return kty == "OKP" and crv == "Ed25519"
    if alg == "ES256":
        return kty == "EC" and crv == "P-256"
    return kty == "RSA"


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
        raise InvalidDPoPProof("the DPoP proof must use an asymmetric algorithm")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise InvalidDPoPProof("the DPoP proof must carry its public key in jwk")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise InvalidDPoPProof("the DPoP proof's jwk must not contain a private key")
    if not _alg_matches_key(alg, jwk):
        raise InvalidDPoPProof("the DPoP proof's alg does not fit its key")
    try:
        key = load_key_cached({k: v for k, v in jwk.items() if k != "alg"}, alg)
    except JwkError as exc:
        raise InvalidDPoPProof(f"the DPoP proof's key is refused: {exc}") from exc
    claims = compact.claims
    if not verify_signature(compact, key, alg) or any(
        claims.get(name) is None for name in ("jti", "htm", "htu", "iat")
    ):
        raise InvalidDPoPProof("the DPoP proof's signature or claims are invalid")
    if claims["htm"] != method:
        raise InvalidDPoPProof("the DPoP proof's htm does not match the request method")
    if not isinstance(claims["htu"], str) or normalize_htu(claims["htu"]) != normalize_htu(url):
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
        expected = (
            base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()
        )
        if claims.get("ath") != expected:
            raise InvalidDPoPProof("the DPoP proof's ath does not match the access token")
    return VerifiedProof(jkt=jwk_thumbprint(jwk), jti=jti, iat=float(iat))
