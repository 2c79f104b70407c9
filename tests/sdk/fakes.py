"""A fake broker on httpx.MockTransport, a settable clock, and a minter of access tokens."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, get_default_algorithms

ISSUER = "http://broker.test"
RESOURCE = "https://holder.test/api"
AGENT_ID = "agent-a"
HOLDER_ID = "holder-h"
T0 = 1_764_000_000.0
TOKEN_ENDPOINT = f"{ISSUER}/oauth2/token"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


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


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def any_public_jwk(key: Any) -> dict[str, Any]:
    """The public JWK of a private key, as pyjwt writes it (independent of the SDK's own code)."""
    public = key.public_key()
    if isinstance(public, Ed25519PublicKey):
        text = OKPAlgorithm.to_jwk(public)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        text = ECAlgorithm.to_jwk(public)
    else:
        text = RSAAlgorithm.to_jwk(public)
    return json.loads(text)  # type: ignore[no-any-return]


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638, written out again here so that tests do not check the SDK against itself."""
    members = {"OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}
    canonical = "{" + ",".join(f'"{m}":"{jwk[m]}"' for m in members[jwk["kty"]]) + "}"
    return b64(hashlib.sha256(canonical.encode()).digest())


def ath(token: str) -> str:
    return b64(hashlib.sha256(token.encode("ascii")).digest())


_ALGS = {Ed25519PrivateKey: "EdDSA", ec.EllipticCurvePrivateKey: "ES256", rsa.RSAPrivateKey: "PS256"}


def make_proof(
    key: Any,
    *,
    htm: str = "GET",
    htu: str = "https://holder.test/api/events",
    iat: float,
    token: str | None = None,
    alg: str | None = None,
    header: dict[str, Any] | None = None,
    claims: dict[str, Any] | None = None,
    sign_with: Any = None,
) -> str:
    """A DPoP proof built by hand, so that tests can make every kind of bad proof.

    `header` and `claims` override the defaults; a None value removes a member. `sign_with` signs
    with another key than the one in the header; alg "none" gives an empty signature.
    """
    if alg is None:
        alg = next(name for cls, name in _ALGS.items() if isinstance(key, cls))
    head: dict[str, Any] = {"typ": "dpop+jwt", "alg": alg, "jwk": any_public_jwk(key)}
    body: dict[str, Any] = {"jti": secrets.token_urlsafe(16), "htm": htm, "htu": htu, "iat": int(iat)}
    if token is not None:
        body["ath"] = ath(token)
    head.update(header or {})
    body.update(claims or {})
    head = {k: v for k, v in head.items() if v is not None}
    body = {k: v for k, v in body.items() if v is not None}
    signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(body).encode())}".encode()
    signer = sign_with if sign_with is not None else key
    if alg == "none":
        signature = b""
    elif alg.startswith("HS"):
        signature = get_default_algorithms()[alg].sign(signing_input, signer)
    else:
        algorithm = get_default_algorithms()[alg]
        signature = algorithm.sign(signing_input, signer)
    return f"{signing_input.decode()}.{b64(signature)}"


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
        #: The first registered public JWK of each agent, which delegated tokens are bound to.
        self.agent_jwks: dict[str, dict[str, Any]] = {}

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
        parsed = parse_qs(self.requests[index].content.decode(), keep_blank_values=True, strict_parsing=True)
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
        if form["grant_type"] == TOKEN_EXCHANGE:
            return self.exchange(form)
        lifetime = int(form.get("expires_in", self.token_lifetime))
        proof = request.headers.get("dpop")
        cnf = {"jkt": thumbprint(jwt.get_unverified_header(proof)["jwk"])} if proof else None
        token = self.mint(sub=form["subject"], aud=form["resource"], scope=form["scope"], cnf=cnf)
        body = {
            "access_token": token,
            "token_type": "DPoP" if proof else "Bearer",
            "expires_in": lifetime,
            "scope": form["scope"],
            "issued_token_type": ACCESS_TOKEN_TYPE,
        }
        return httpx.Response(200, json=body)

    def exchange(self, form: dict[str, str]) -> httpx.Response:
        """RFC 8693 as the broker does it: attenuated, `act` nested, bound to the delegate's key."""
        try:
            parent = jwt.decode(
                form["subject_token"],
                self.key.public_key(),
                algorithms=["EdDSA"],
                audience=RESOURCE,
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": "bad subject"})
        delegate = form["requested_actor"]
        scope = form.get("scope") or parent["scope"]
        if not set(scope.split()) <= set(parent["scope"].split()):
            return httpx.Response(400, json={"error": "invalid_scope"})
        reveal = form["reveal"].split() if "reveal" in form else parent.get("reveal", [])
        lifetime = min(int(form.get("expires_in", self.token_lifetime)), parent["exp"] - int(self.clock()))
        token = self.mint(
            sub=parent["sub"],
            aud=parent["aud"],
            client_id=delegate,
            scope=scope,
            reveal=reveal,
            exp=int(self.clock()) + lifetime,
            act={"sub": delegate, "act": parent.get("act") or {"sub": parent["client_id"]}},
            cnf={"jkt": thumbprint(self.agent_jwks[delegate])},
        )
        body = {
            "access_token": token,
            "token_type": "DPoP",
            "expires_in": lifetime,
            "scope": scope,
            "issued_token_type": ACCESS_TOKEN_TYPE,
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
