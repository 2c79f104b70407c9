"""Test agents: key pairs and client assertions, built the way a real agent would build them."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.oauth.signing_keys import public_jwk

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class TestAgent:
    """An agent identity: client id, Ed25519 key and the attributes an admin will attest."""

    __test__ = False  # not a test class, despite the name

    client_id: str
    organization: str
    locale: str
    resource_uris: list[str] = field(default_factory=list)
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate, repr=False)

    @property
    def kid(self) -> str:
        """The key id registered for this agent."""
        return f"{self.client_id}-key-1"

    def jwks(self) -> dict[str, Any]:
        """The public JWKS an admin registers."""
        jwk = public_jwk(self.key.public_key())
        return {"keys": [{**jwk, "kid": self.kid}]}

    def registration(self) -> dict[str, Any]:
        """The body of POST /v1/agents."""
        return {
            "client_id": self.client_id,
            "name": self.client_id.replace("-", " ").title(),
            "organization": self.organization,
            "locale": self.locale,
            "jwks": self.jwks(),
            "resource_uris": self.resource_uris,
        }

    def assertion(
        self,
        audience: str,
        *,
        now: float | None = None,
        headers: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        """A client assertion (RFC 7523); keyword overrides replace or (with None) drop claims."""
        issued = int(now if now is not None else time.time())
        claims: dict[str, Any] = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "jti": secrets.token_urlsafe(16),
            "iat": issued,
            "exp": issued + 60,
        }
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": self.kid, **(headers or {})})

    def dpop_proof(
        self,
        url: str,
        *,
        method: str = "POST",
        now: float | None = None,
        key: Any = None,
        headers: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        """A DPoP proof (RFC 9449 section 4.2) with this agent's key unless another is given;
        keyword overrides replace or (with None) drop claims."""
        signer = key or self.key
        issued = int(now if now is not None else time.time())
        claims: dict[str, Any] = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": url, "iat": issued}
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        jwk = {k: v for k, v in public_jwk(signer.public_key()).items() if k in ("kty", "crv", "x")}
        header = {"typ": "dpop+jwt", "jwk": jwk, **(headers or {})}
        return jwt.encode(claims, signer, algorithm="EdDSA", headers=header)

    def auth_form(self, audience: str, **overrides: Any) -> dict[str, str]:
        """The client-authentication parameters of a form request."""
        return {
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(audience, **overrides),
        }
