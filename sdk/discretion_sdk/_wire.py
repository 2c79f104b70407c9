"""Sans-I/O halves of the broker calls, shared by the sync and async clients."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeGuard
from urllib.parse import urlsplit, urlunsplit

import httpx

from ._assertion import ASSERTION_TYPE
from ._dpop import peek_claims
from ._errors import UnknownBrokerError, error_from_response
from ._models import AccessToken, Disclosure, Revocation, RevocationPage, VerifiedToken

__all__ = [
    "ACCESS_TOKEN_TYPE_URN",
    "TOKEN_EXCHANGE_GRANT",
    "Endpoints",
    "TokenCache",
    "assertion_form",
    "metadata_url",
    "normalize_issuer",
    "normalize_reveal",
    "normalize_scopes",
    "parse_jwks",
    "parse_metadata",
    "parse_revocation_page",
    "parse_token_response",
    "read_json_object",
]

METADATA_SUFFIX = "/.well-known/oauth-authorization-server"
#: A cached token is renewed this long before it expires, or 10 % of its life if that is less.
REFRESH_MARGIN = 30.0
REFRESH_FRACTION = 0.1
CACHE_LIMIT = 1024
#: RFC 8693 section 2.1 and 3.
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE_URN = "urn:ietf:params:oauth:token-type:access_token"
#: RFC 6749 section 7.1: token types compare case-insensitively; these are the spellings kept.
_TOKEN_TYPES = {"bearer": "Bearer", "dpop": "DPoP"}


def normalize_issuer(issuer: str) -> str:
    """Check the issuer URL and drop a trailing slash (RFC 8414 section 2: no query, no fragment)."""
    parts = urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError(f"issuer must be an absolute http(s) URL, not {issuer!r}")
    if parts.query or parts.fragment:
        raise ValueError("issuer must not have a query or a fragment (RFC 8414 section 2)")
    return issuer.rstrip("/")


def metadata_url(issuer: str) -> str:
    """The RFC 8414 metadata URL of `issuer` (section 3.1: the suffix goes before any path)."""
    parts = urlsplit(issuer)
    path = METADATA_SUFFIX + parts.path if parts.path not in ("", "/") else METADATA_SUFFIX
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The broker endpoints an agent calls, discovered from its RFC 8414 metadata."""

    token: str
    introspection: str
    revocation: str
    jwks: str
    revocation_feed: str


def read_json_object(response: httpx.Response) -> dict[str, Any]:
    """Raise the mapped BrokerError for an error status, else return the JSON object body."""
    if response.is_error:
        raise error_from_response(response)
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise UnknownBrokerError(
            "invalid_response", "the body is not a JSON object", status_code=response.status_code
        )
    return body


def _invalid(what: str, response: httpx.Response) -> UnknownBrokerError:
    return UnknownBrokerError("invalid_response", what, status_code=response.status_code)


def parse_metadata(issuer: str, response: httpx.Response) -> Endpoints:
    """Read the metadata document, refusing one that names another issuer."""
    body = read_json_object(response)
    # RFC 8414 section 3.3: the issuer in the document MUST be identical to the one we asked;
    # otherwise an attacker-controlled document could send our assertions elsewhere (mix-up).
    if body.get("issuer") != issuer:
        raise _invalid("metadata issuer does not match the configured issuer", response)
    urls: dict[str, str] = {}
    defaults = {
        "token_endpoint": None,
        "jwks_uri": None,
        "introspection_endpoint": issuer + "/oauth2/introspect",
        "revocation_endpoint": issuer + "/oauth2/revoke",
        "revocation_feed_endpoint": issuer + "/v1/revocations",
    }
    for name, default in defaults.items():
        value = body.get(name, default)
        if not isinstance(value, str) or not value:
            raise _invalid(f"metadata lacks {name}", response)
        urls[name] = value
    return Endpoints(
        token=urls["token_endpoint"],
        introspection=urls["introspection_endpoint"],
        revocation=urls["revocation_endpoint"],
        jwks=urls["jwks_uri"],
        revocation_feed=urls["revocation_feed_endpoint"],
    )


def assertion_form(assertion: str, **params: str) -> dict[str, str]:
    """A form body carrying `private_key_jwt` client authentication (RFC 7523 section 2.2)."""
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion, **params}


def normalize_scopes(scopes: str | Iterable[str]) -> tuple[str, ...]:
    """Turn a space-separated string or an iterable into a tuple without duplicates."""
    # A bare string is split rather than iterated: iterating would ask for one scope per letter.
    items = scopes.split() if isinstance(scopes, str) else list(scopes)
    if not items or not all(isinstance(s, str) and s and " " not in s for s in items):
        raise ValueError("scopes must be one or more non-empty scope strings")
    return tuple(dict.fromkeys(items))


def normalize_reveal(reveal: str | Iterable[str]) -> tuple[str, ...]:
    """Entity types from a space-separated string or an iterable, without duplicates; may be empty."""
    items = reveal.split() if isinstance(reveal, str) else list(reveal)
    if not all(isinstance(t, str) and t and not any(c.isspace() for c in t) for t in items):
        raise ValueError("reveal must be entity type names (non-empty, without spaces)")
    return tuple(dict.fromkeys(items))


def parse_token_response(
    response: httpx.Response,
    requested: tuple[str, ...],
    sent_at: float,
    *,
    expect_dpop: bool = False,
    exchange: bool = False,
) -> AccessToken:
    """Build an AccessToken from a token endpoint answer (RFC 6749 section 5.1, RFC 8693 2.2.1)."""
    body = read_json_object(response)
    token, token_type = body.get("access_token"), body.get("token_type")
    expires_in, scope = body.get("expires_in"), body.get("scope")
    if not isinstance(token, str) or not token or not isinstance(token_type, str):
        raise _invalid("token answer lacks access_token or token_type", response)
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
        raise _invalid("token answer lacks a positive integer expires_in", response)
    token_type = _TOKEN_TYPES.get(token_type.lower(), token_type)
    if expect_dpop and token_type != "DPoP":
        # RFC 9449 section 5: a proof was sent, so a Bearer answer means the binding was dropped.
        raise _invalid(f"asked for a DPoP-bound token, got token_type {token_type!r}", response)
    if exchange and body.get("issued_token_type") != ACCESS_TOKEN_TYPE_URN:
        # RFC 8693 section 2.2.1: required, and an access token is what the agent can use.
        raise _invalid("token exchange answer lacks issued_token_type access_token", response)
    # RFC 6749 section 5.1: scope may be omitted when it is exactly what was asked.
    granted = tuple(scope.split()) if isinstance(scope, str) else requested
    # Counted from before the request was sent, so the local expiry is never later than the real one.
    return AccessToken(token, token_type, expires_in, granted, sent_at + expires_in)


def parse_revocation_page(response: httpx.Response) -> RevocationPage:
    """Build a RevocationPage from a revocation feed answer."""
    body = read_json_object(response)
    raw_items, cursor = body.get("revocations"), body.get("cursor")
    if not isinstance(raw_items, list) or not isinstance(cursor, (str, int)):
        raise _invalid("feed answer lacks revocations or cursor", response)
    items = []
    for item in raw_items:
        if not isinstance(item, dict):
            raise _invalid("feed entry is not an object", response)
        jti, exp, revoked_at = item.get("jti"), item.get("exp"), item.get("revoked_at")
        if not isinstance(jti, str) or not _is_int(exp) or not _is_int(revoked_at):
            raise _invalid("feed entry lacks jti, exp or revoked_at", response)
        items.append(Revocation(jti, exp, revoked_at))
    return RevocationPage(tuple(items), str(cursor))


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_jwks(response: httpx.Response) -> dict[str, Any]:
    """Return a JWK Set document (RFC 7517 section 5), checking only its shape."""
    body = read_json_object(response)
    if not isinstance(body.get("keys"), list):
        raise _invalid("JWKS lacks a keys list", response)
    return body


CacheKey: TypeAlias = tuple[str, str, tuple[str, ...], str | None, bool]


class TokenCache:
    """Issued tokens by (subject, resource, sorted scopes, purpose, DPoP), until shortly before expiry."""

    __slots__ = ("_entries", "_lock")

    def __init__(self) -> None:
        self._entries: dict[CacheKey, AccessToken] = {}
        # The sync client may be shared by threads; pruning iterates over the dict.
        self._lock = threading.Lock()

    @staticmethod
    def key(
        subject: str, resource: str, scopes: tuple[str, ...], purpose: str | None, dpop: bool = False
    ) -> CacheKey:
        """The cache key of a token request."""
        return (subject, resource, tuple(sorted(scopes)), purpose, dpop)

    @staticmethod
    def is_fresh(token: AccessToken, now: float) -> bool:
        """Whether `token` is still far enough from expiry to hand out."""
        margin = min(REFRESH_MARGIN, REFRESH_FRACTION * token.expires_in)
        return now < token.expires_at - margin

    def get(self, key: CacheKey, now: float) -> AccessToken | None:
        """The cached token for `key` if it is still fresh."""
        with self._lock:
            token = self._entries.get(key)
        return token if token is not None and self.is_fresh(token, now) else None

    def put(self, key: CacheKey, token: AccessToken, now: float) -> None:
        """Remember `token`, dropping stale entries when the cache grows large."""
        with self._lock:
            self._entries[key] = token
            if len(self._entries) > CACHE_LIMIT:
                for stale in [k for k, t in self._entries.items() if not self.is_fresh(t, now)]:
                    del self._entries[stale]
                while len(self._entries) > CACHE_LIMIT:
                    del self._entries[next(iter(self._entries))]

    def discard(self, access_token: str) -> None:
        """Forget every entry holding `access_token` (after it was revoked)."""
        with self._lock:
            for stale in [k for k, t in self._entries.items() if t.access_token == access_token]:
                del self._entries[stale]

    def discard_jtis(self, jtis: Iterable[str]) -> int:
        """Forget every entry whose token has one of these `jti`s (listed by the revocation feed);
        returns how many were dropped."""
        wanted = set(jtis)
        if not wanted:
            return 0
        with self._lock:
            stale = [k for k, t in self._entries.items() if _jti(t.access_token) in wanted]
            for key in stale:
                del self._entries[key]
        return len(stale)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _jti(token: str) -> str | None:
    # Unverified: the client only matches its own cached tokens against the feed's jti list.
    claims = peek_claims(token)
    jti = claims.get("jti") if claims is not None else None
    return jti if isinstance(jti, str) else None


def disclosure_body(
    data: Any, token: str | AccessToken | VerifiedToken, operator: str | None
) -> dict[str, Any]:
    """The JSON body of POST /v1/disclose."""
    value = token if isinstance(token, str) else token.access_token
    if not isinstance(value, str) or not value:
        raise ValueError("token must be the access token the recipient presented (or its VerifiedToken)")
    body: dict[str, Any] = {"token": value, "data": data}
    if operator is not None:
        body["operator"] = operator
    return body


def parse_disclosure(response: httpx.Response) -> Disclosure:
    """The broker's answer to a disclosure, or the wire error it carries."""
    body = read_json_object(response)
    try:
        return Disclosure(
            data=body["data"],
            report=dict(body["report"]),
            receipt_id=str(body["receipt_id"]),
            output_sha256=str(body["output_sha256"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UnknownBrokerError(
            "invalid_response", "the disclosure answer is malformed", status_code=response.status_code
        ) from exc
