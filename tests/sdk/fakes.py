"""A fake broker on httpx.MockTransport, a settable clock, and a minter of access tokens."""

from __future__ import annotations

import json
import secrets
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

ISSUER = "http://broker.test"
RESOURCE = "https://holder.test/api"
AGENT_ID = "agent-a"
HOLDER_ID = "holder-h"
T0 = 1_764_000_000.0


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def public_jwk(key: Ed25519PublicKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(key))
    return {**jwk, "kid": kid, "use": "sig", "alg": "EdDSA"}


class FakeBroker:
    """Serves the broker's endpoints from memory and records every request."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.key = Ed25519PrivateKey.generate()
        self.kid = "broker-key-1"
        self.jwks_keys: list[dict[str, Any]] = [public_jwk(self.key.public_key(), self.kid)]
        self.requests: list[httpx.Request] = []
        self.hits: Counter[str] = Counter()
        self.token_lifetime = 300
        self.error: tuple[int, Any] | None = None  # (status, JSON body or raw bytes) for POSTs
        self.feed: list[dict[str, Any]] = []
        self.feed_error: int | None = None
        self.jwks_error: int | None = None
        self.introspection: dict[str, Any] = {"active": False}
        self.metadata_issuer = ISSUER

    # -- tokens ------------------------------------------------------------------------------

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": "alice",
            "aud": RESOURCE,
            "client_id": AGENT_ID,
            "scope": "calendar:read contacts.email:read",
            "iat": now,
            "nbf": now,
            "exp": now + self.token_lifetime,
            "jti": secrets.token_urlsafe(16),
            "grant_id": "grant-1",
            "reveal": ["PERSON"],
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(
        self,
        *,
        key: Any = None,
        algorithm: str = "EdDSA",
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """An access token signed like the broker's, with overridable claims and header."""
        header = {"typ": "at+jwt", "kid": self.kid, **(headers or {})}
        header = {k: v for k, v in header.items() if v is not None}
        return jwt.encode(self.claims(**claims), key or self.key, algorithm=algorithm, headers=header)

    # -- transport ---------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=self.transport())

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport())

    def form(self, index: int = -1) -> dict[str, str]:
        """The form body of a recorded request (the last one by default)."""
        parsed = parse_qs(self.requests[index].content.decode(), strict_parsing=True)
        assert all(len(values) == 1 for values in parsed.values()), "a parameter was repeated"
        return {name: values[0] for name, values in parsed.items()}

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        self.hits[path] += 1
        if path == "/.well-known/oauth-authorization-server":
            return httpx.Response(200, json=self.metadata())
        if path == "/.well-known/jwks.json":
            if self.jwks_error is not None:
                return httpx.Response(self.jwks_error)
            return httpx.Response(200, json={"keys": self.jwks_keys})
        if path == "/v1/revocations":
            return self.revocations(request)
        if request.method == "POST" and self.error is not None:
            status, body = self.error
            if isinstance(body, bytes):
                return httpx.Response(status, content=body)
            return httpx.Response(status, json=body)
        if path == "/oauth2/token":
            return self.token(request)
        if path == "/oauth2/introspect":
            return httpx.Response(200, json=self.introspection)
        if path == "/oauth2/revoke":
            return httpx.Response(200)
        return httpx.Response(404, json={"error": "not_found"})

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.metadata_issuer,
            "token_endpoint": f"{ISSUER}/oauth2/token",
            "jwks_uri": f"{ISSUER}/.well-known/jwks.json",
            "introspection_endpoint": f"{ISSUER}/oauth2/introspect",
            "revocation_endpoint": f"{ISSUER}/oauth2/revoke",
            "revocation_feed_endpoint": f"{ISSUER}/v1/revocations",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        }

    def token(self, request: httpx.Request) -> httpx.Response:
        form = self.form()
        lifetime = int(form.get("expires_in", self.token_lifetime))
        token = self.mint(sub=form["subject"], aud=form["resource"], scope=form["scope"])
        body = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": form["scope"],
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        }
        return httpx.Response(200, json=body)

    def revoke_in_feed(self, jti: str, exp: float) -> None:
        self.feed.append({"jti": jti, "exp": int(exp), "revoked_at": int(self.clock())})

    def revocations(self, request: httpx.Request) -> httpx.Response:
        if self.feed_error is not None:
            return httpx.Response(
                self.feed_error,
                json={"type": "about:blank", "title": "x", "status": self.feed_error, "error": "unavailable"},
                headers={"content-type": "application/problem+json"},
            )
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return httpx.Response(401, json={"error": "unauthorized"})
        since = int(request.url.params.get("since", "0"))
        limit = int(request.url.params.get("limit", "500"))
        items = self.feed[since : since + limit]
        return httpx.Response(200, json={"revocations": items, "cursor": str(since + len(items))})
