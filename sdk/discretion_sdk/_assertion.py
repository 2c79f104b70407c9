"""Client assertions for `private_key_jwt` (RFC 7523 section 2.2, RFC 7521 section 4.2)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeAlias

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import OKPAlgorithm

__all__ = ["ASSERTION_TYPE", "ClientAssertionSigner", "PrivateKey", "infer_algorithm"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Explicit typing of the assertion (RFC 8725 section 3.11, draft-ietf-oauth-rfc7523bis) so that
#: it can never be confused with an access token (`at+jwt`) or a DPoP proof.
ASSERTION_TYP = "client-authentication+jwt"
#: The broker accepts up to 300 s; a short life narrows the replay window if one leaks.
ASSERTION_LIFETIME = 60

PrivateKey: TypeAlias = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_MIN_RSA_BITS = 2048
# PyJWT's signer, which also knows RFC 9864's "Ed25519": EdDSA with an Ed25519 key under its
# fully-specified name (the same signature, another header).
_JWS = jwt.PyJWS()
_JWS.register_algorithm("Ed25519", OKPAlgorithm())


def sign_jws(claims: dict[str, Any], key: PrivateKey, alg: str, headers: dict[str, Any]) -> str:
    """A compact JWS of `claims` (compact JSON) signed with `alg`, which the caller has checked
    against the key (`infer_algorithm`)."""
    payload = json.dumps(claims, separators=(",", ":")).encode()
    return _JWS.encode(payload, key, algorithm=alg, headers=headers)


def infer_algorithm(key: PrivateKey, alg: str | None = None) -> str:
    """Return the JWS algorithm for `key`, checking an explicit `alg` against the key type."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        # "Ed25519" is RFC 9864's name for the same algorithm.
        allowed: tuple[str, ...] = ("EdDSA", "Ed25519")
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"only P-256 EC keys are supported, not {key.curve.name}")
        allowed = ("ES256",)
    elif isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < _MIN_RSA_BITS:
            raise ValueError(f"RSA keys must have at least {_MIN_RSA_BITS} bits")
        # PS256 first: RSASSA-PSS is the better of the two (RFC 8017 section 8).
        allowed = ("PS256", "RS256")
    else:
        raise TypeError(f"unsupported private key type: {type(key).__name__}")
    if alg is None:
        return allowed[0]
    if alg not in allowed:
        raise ValueError(f"alg {alg!r} does not match a {type(key).__name__}; use {allowed}")
    return alg


class ClientAssertionSigner:
    """Signs fresh, single-use client assertions with the agent's private key."""

    __slots__ = ("_alg", "_client_id", "_clock", "_key", "_kid")

    def __init__(
        self,
        *,
        client_id: str,
        private_key: PrivateKey,
        kid: str,
        alg: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not client_id:
            raise ValueError("client_id must not be empty")
        if not kid:
            # The broker picks the key from the agent's JWKS by `kid` (docs/api.md).
            raise ValueError("kid must not be empty")
        self._alg = infer_algorithm(private_key, alg)
        self._client_id = client_id
        self._key = private_key
        self._kid = kid
        self._clock = clock

    @property
    def alg(self) -> str:
        """The JWS algorithm used to sign."""
        return self._alg

    @property
    def kid(self) -> str:
        """The key id put in the JWS header."""
        return self._kid

    def sign(self, audience: str) -> str:
        """Return a new compact JWT assertion for `audience` (a fresh `jti` every time)."""
        now = int(self._clock())
        claims = {
            # RFC 7523 section 3: iss and sub are both the client id.
            "iss": self._client_id,
            "sub": self._client_id,
            "aud": audience,
            # 128 random bits: the broker refuses a replayed jti until exp (RFC 7523 section 3).
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        }
        headers = {"kid": self._kid, "typ": ASSERTION_TYP}
        return sign_jws(claims, self._key, self._alg, headers)

    def __repr__(self) -> str:
        # Never the key: only what identifies it.
        return f"ClientAssertionSigner(client_id={self._client_id!r}, kid={self._kid!r}, alg={self._alg!r})"
