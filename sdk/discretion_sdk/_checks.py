"""The I/O-free heart of token verification, shared by TokenVerifier and AsyncTokenVerifier.

Why not `jwt.decode`: verifying a token is on every request a holder serves, and pyjwt's path
roughly doubled the cost of the raw signature check (docs/benchmarks.md, SDK verification). Here
each distinct header is parsed once, keys are imported once per JWKS download and scopes parsed
once. The algorithm stays pinned, and every check pyjwt would make is made below, plus RFC 9068's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidSignature
from discretion_wire import b64url_decode, scopes_cover
from discretion_wire.resource import normalize_resource

from ._dpop import DPoPNonceSource, ProofChecker
from ._errors import InsufficientScope, InvalidToken, VerifierUnavailable
from ._jose import SUPPORTED_ALGORITHMS, VerificationKey, load_jwks, split_compact_jws
from ._models import RevocationPage, VerifiedToken

__all__ = ["VerifierCore"]

#: RFC 9068 section 2.2 plus `client_id` and `scope`, which this broker always sets.
#: The broker's access-token algorithms (its `access_token_signing_alg` setting). Accepting all of
#: them is safe: each JWKS key verifies only the algorithm its own `kty`, curve and `alg` pin
#: (`load_jwks`; an RSA key must name RS256 or PS256), so a token cannot choose another.
DEFAULT_TOKEN_ALGORITHMS = ("EdDSA", "Ed25519", "ES256", "RS256")
REQUIRED_CLAIMS = ("iss", "sub", "aud", "client_id", "scope", "iat", "exp", "jti")
#: RFC 9068 section 4: `typ` is "at+jwt"; media types are compared case-insensitively and the
#: "application/" prefix may be present (RFC 7515 section 4.1.9).
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
#: An unknown `kid` triggers at most one JWKS download per this many seconds, so a stream of
#: tokens with made-up kids cannot turn the holder into a load generator against the broker.
JWKS_MIN_REFRESH_INTERVAL = 10.0
FEED_PAGE_LIMIT = 1000
FEED_MAX_PAGES = 50
MAX_TOKEN_LENGTH = 16384
_HEADER_CACHE_LIMIT = 64


@dataclass(frozen=True, slots=True)
class Header:
    """The parts of a checked JOSE header that verification uses."""

    alg: str
    kid: str


@dataclass(frozen=True, slots=True)
class Parsed:
    """A token split into what the signature check and the claims checks need."""

    header: Header
    signing_input: bytes
    signature: bytes
    payload: str


def _refuse_constant(name: str) -> Any:
    # json accepts NaN and Infinity, which would make `exp: Infinity` a token that never expires.
    raise ValueError(f"{name} is not JSON")


def _numeric_date(claims: Mapping[str, Any], name: str) -> float:
    value = claims[name]
    # RFC 7519 section 2 NumericDate: a number; booleans and non-finite floats are not.
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return value
    raise InvalidToken("malformed", f"{name} is not a NumericDate")


def _string(claims: Mapping[str, Any], name: str) -> str:
    value = claims[name]
    if not isinstance(value, str) or not value:
        raise InvalidToken("malformed", f"{name} is not a non-empty string")
    return value


def _optional(claims: Mapping[str, Any], name: str, kind: type) -> Any:
    value = claims.get(name)
    if value is not None and not isinstance(value, kind):
        raise InvalidToken("malformed", f"{name} has the wrong type")
    return value


#: Longer delegation chains than this are refused as malformed (the broker bounds them far lower).
MAX_ACT_DEPTH = 32


def _check_act(act: Mapping[str, Any]) -> None:
    # RFC 8693 section 4.1: each level names its actor in `sub` and the prior one in a nested `act`.
    level: Any = act
    for _ in range(MAX_ACT_DEPTH):
        if not isinstance(level, dict) or not isinstance(level.get("sub"), str) or not level["sub"]:
            raise InvalidToken("malformed", "act is not a chain of actors")
        level = level.get("act")
        if level is None:
            return
    raise InvalidToken("malformed", "act chain too long")


class VerifierCore:
    """Token checks and the JWKS and revocation state, with every network call left outside."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str | Iterable[str],
        leeway: float,
        algorithms: Iterable[str],
        has_feed: bool,
        revocation_poll_interval: float,
        revocation_max_staleness: float,
        jwks_max_age: float,
        dpop_algorithms: Iterable[str],
        dpop_max_age: float,
        dpop_nonce: DPoPNonceSource | None,
        dpop_replay_cache_size: int,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        audiences = (audience,) if isinstance(audience, str) else tuple(audience)
        if not audiences or not all(isinstance(a, str) and a for a in audiences):
            # Fail closed: no audience would mean accepting tokens meant for any holder.
            raise ValueError("audience must name at least one resource URI")
        # The broker names a resource in `aud` in its canonical form (discretion_wire.resource), so a
        # holder configured with another spelling of it ("HTTPS://Api.Example:443/x/") accepts it too.
        self.audiences = frozenset(audiences) | frozenset(_canonical(a) for a in audiences)
        pinned = (algorithms,) if isinstance(algorithms, str) else tuple(algorithms)
        unsupported = set(pinned) - SUPPORTED_ALGORITHMS
        if not pinned or unsupported:
            raise ValueError(f"algorithms must be among {sorted(SUPPORTED_ALGORITHMS)}")
        self.algorithms = frozenset(pinned)
        if leeway < 0 or revocation_poll_interval < 0 or jwks_max_age <= 0:
            raise ValueError("leeway, poll interval and JWKS max age must be positive")
        if revocation_max_staleness < revocation_poll_interval:
            raise ValueError("revocation_max_staleness must be at least the poll interval")
        self.leeway = float(leeway)
        self.has_feed = has_feed
        self.poll_interval = revocation_poll_interval
        self.max_staleness = revocation_max_staleness
        self.jwks_max_age = jwks_max_age
        self.dpop = ProofChecker(
            algorithms=(dpop_algorithms,) if isinstance(dpop_algorithms, str) else tuple(dpop_algorithms),
            max_age=dpop_max_age,
            leeway=self.leeway,
            nonces=dpop_nonce,
            replay_cache_size=dpop_replay_cache_size,
        )
        self._headers: dict[str, Header] = {}
        self._keys: dict[str, VerificationKey] = {}
        self._jwks_fetched_at: float | None = None
        self._jwks_attempted_at: float | None = None
        self._revoked: dict[str, float] = {}
        self.cursor: str | None = None
        self.feed_ok_at: float | None = None
        self._feed_attempted_at: float | None = None

    # -- parsing -----------------------------------------------------------------------------

    def _header(self, segment: str) -> Header:
        cached = self._headers.get(segment)
        if cached is not None:
            return cached
        try:
            header = json.loads(b64url_decode(segment).decode("utf-8"))
        except ValueError:
            raise InvalidToken("malformed", "header is not base64url JSON") from None
        if not isinstance(header, dict):
            raise InvalidToken("malformed", "header is not a JSON object")
        alg = header.get("alg")
        # Pinned algorithms only (RFC 8725 section 3.1): `none`, HS256 with the public key as
        # secret and any algorithm the holder did not choose are refused before any key is used.
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise InvalidToken("bad_algorithm", "algorithm not allowed")
        typ = header.get("typ")
        # Explicit typing (RFC 8725 section 3.11, RFC 9068 section 4): an ID token, a client
        # assertion or a DPoP proof signed by the same key is not an access token.
        if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
            raise InvalidToken("wrong_type", "typ is not at+jwt")
        if "crit" in header:
            # RFC 7515 section 4.1.11: we understand no extension, so any critical one is fatal.
            raise InvalidToken("malformed", "unsupported crit header")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("unknown_key", "no kid")
        # `jku`, `x5u`, `x5c` and `jwk` are never read: keys come from the configured JWKS only.
        parsed = Header(alg, kid)
        if len(self._headers) >= _HEADER_CACHE_LIMIT:
            self._headers.clear()
        self._headers[segment] = parsed
        return parsed

    def parse(self, token: str) -> Parsed:
        """Split a compact JWS and check its header (alg, typ, kid); no key is used yet."""
        if not isinstance(token, str):
            raise InvalidToken("malformed", "not a compact JWS")
        try:
            jws = split_compact_jws(token, MAX_TOKEN_LENGTH)
        except ValueError as exc:
            raise InvalidToken("malformed", str(exc)) from None
        header = self._header(jws.header_segment)
        return Parsed(header, jws.signing_input, jws.signature, jws.payload_segment)

    # -- keys --------------------------------------------------------------------------------

    def key_for(self, kid: str) -> VerificationKey | None:
        """The cached key named `kid`, if any."""
        return self._keys.get(kid)

    @property
    def has_keys(self) -> bool:
        """Whether any JWKS has been loaded."""
        return self._jwks_fetched_at is not None

    def jwks_stale(self, now: float) -> bool:
        """Whether the cached JWKS is missing or older than its maximum age."""
        fetched = self._jwks_fetched_at
        return fetched is None or now - fetched >= self.jwks_max_age

    def jwks_fetch_allowed(self, now: float) -> bool:
        """Whether a JWKS download may start now (the first one always may)."""
        last = self._jwks_attempted_at
        return last is None or now - last >= JWKS_MIN_REFRESH_INTERVAL

    def jwks_attempted(self, now: float) -> None:
        """Record that a JWKS download starts now."""
        self._jwks_attempted_at = now

    def install_jwks(self, document: Mapping[str, Any], now: float) -> None:
        """Replace the cached keys with those of `document`."""
        self._keys = load_jwks(document, self.algorithms)
        self._jwks_fetched_at = now

    # -- token checks ------------------------------------------------------------------------

    def check(self, parsed: Parsed, key: VerificationKey, now: float) -> dict[str, Any]:
        """Check the signature, then the claims; return the claims."""
        if parsed.header.alg not in key.algorithms:
            # The key's type decides the algorithm, never the token (RFC 8725 section 3.1).
            raise InvalidToken("bad_algorithm", "algorithm does not match the key")
        try:
            key.verify(parsed.signature, parsed.signing_input)
        except InvalidSignature:
            raise InvalidToken("bad_signature") from None
        try:
            text = b64url_decode(parsed.payload).decode("utf-8")
            claims = json.loads(text, parse_constant=_refuse_constant)
        except ValueError:
            raise InvalidToken("malformed", "payload is not base64url JSON") from None
        if not isinstance(claims, dict):
            raise InvalidToken("malformed", "payload is not a JSON object")
        missing = [name for name in REQUIRED_CLAIMS if name not in claims]
        if missing:
            raise InvalidToken("missing_claim", " ".join(missing))
        if claims["iss"] != self.issuer:
            raise InvalidToken("wrong_issuer")
        aud = claims["aud"]
        audiences = [aud] if isinstance(aud, str) else aud
        # RFC 7519 section 4.1.3 and RFC 8707: the token must be meant for this holder.
        if not isinstance(audiences, list) or self.audiences.isdisjoint(
            a for a in audiences if isinstance(a, str)
        ):
            raise InvalidToken("wrong_audience")
        exp, iat = _numeric_date(claims, "exp"), _numeric_date(claims, "iat")
        if now >= exp + self.leeway:
            raise InvalidToken("expired")
        if "nbf" in claims and now + self.leeway < _numeric_date(claims, "nbf"):
            raise InvalidToken("not_yet_valid")
        if now + self.leeway < iat:
            raise InvalidToken("not_yet_valid", "issued in the future")
        for name in ("sub", "client_id", "scope", "jti"):
            _string(claims, name)
        return claims

    @staticmethod
    def check_arguments(
        dpop_proof: str | Sequence[str] | None, http_method: str | None, http_url: str | None
    ) -> None:
        """Refuse a proof without the request it must be checked against (a caller's bug)."""
        if dpop_proof is not None and (not http_method or not http_url):
            raise ValueError("a DPoP proof is checked against the request: pass http_method and http_url")

    def finish(
        self,
        claims: dict[str, Any],
        now: float,
        required_scopes: str | Iterable[str],
        token: str,
        dpop_proof: str | Sequence[str] | None,
        http_method: str | None,
        http_url: str | None,
    ) -> VerifiedToken:
        """Apply revocation, sender-constraint and scope checks, and build the result."""
        jti: str = claims["jti"]
        if self.has_feed:
            ok_at = self.feed_ok_at
            # Fail closed once the feed has not been read for too long: a revoked token must
            # not keep working because the broker became unreachable.
            if ok_at is None or now - ok_at > self.max_staleness:
                raise VerifierUnavailable("revocations_unavailable")
            if jti in self._revoked:
                raise InvalidToken("revoked")
        cnf = _optional(claims, "cnf", dict)
        if cnf is not None or dpop_proof is not None:
            # Arguments checked by check_arguments: with a proof come the method and the URL.
            self._check_binding(cnf, token, dpop_proof, http_method or "", http_url or "", now)
        scopes = tuple(claims["scope"].split())
        required = (
            tuple(required_scopes.split()) if isinstance(required_scopes, str) else tuple(required_scopes)
        )
        if required and not scopes_cover(scopes, required):
            raise InsufficientScope(required, scopes)
        reveal = _optional(claims, "reveal", list) or []
        if not all(isinstance(item, str) for item in reveal):
            raise InvalidToken("malformed", "reveal is not a list of strings")
        aud = claims["aud"]
        act = _optional(claims, "act", dict)
        if act is not None:
            _check_act(act)
        return VerifiedToken(
            subject=claims["sub"],
            client_id=claims["client_id"],
            audience=(aud,) if isinstance(aud, str) else tuple(aud),
            scopes=scopes,
            jti=jti,
            grant_id=_optional(claims, "grant_id", str),
            reveal=tuple(reveal),
            expires_at=claims["exp"],
            purpose=_optional(claims, "purpose", str),
            act=None if act is None else MappingProxyType(act),
            cnf=None if cnf is None else MappingProxyType(cnf),
            claims=MappingProxyType(claims),
            access_token=token,
        )

    def _check_binding(
        self,
        cnf: Mapping[str, Any] | None,
        token: str,
        dpop_proof: str | Sequence[str] | None,
        http_method: str,
        http_url: str,
        now: float,
    ) -> None:
        if cnf is None:
            # A proof with an unbound token (the `DPoP` scheme on a Bearer token): the binding the
            # scheme claims is not there, so the proof's key cannot be matched (RFC 9449 7.1).
            raise InvalidToken("not_sender_constrained", "a DPoP proof came with a token bound to no key")
        jkt = cnf.get("jkt")
        if not isinstance(jkt, str) or not jkt:
            # Another confirmation method (mTLS `x5t#S256`...) this holder cannot check: refused.
            raise InvalidToken("sender_constrained", "unsupported confirmation method")
        if dpop_proof is None:
            # RFC 9449 section 7.1: a DPoP-bound token is only good with a proof of its key;
            # accepting it as a bearer token would undo the binding.
            raise InvalidToken(
                "sender_constrained", "token is bound to a key (cnf); a DPoP proof is required"
            )
        self.dpop.check(dpop_proof, method=http_method, url=http_url, access_token=token, jkt=jkt, now=now)

    # -- revocation feed ---------------------------------------------------------------------

    def feed_due(self, now: float) -> bool:
        """Whether the revocation feed should be polled now."""
        last = self._feed_attempted_at
        return self.has_feed and (last is None or now - last >= self.poll_interval)

    def poll_started(self, now: float) -> None:
        """Record that a poll of the feed starts now."""
        self._feed_attempted_at = now

    def apply_page(self, page: RevocationPage) -> bool:
        """Remember a page's revocations; return whether another page should be read now."""
        for item in page.items:
            self._revoked[item.jti] = item.exp
        progressed = page.cursor != self.cursor
        self.cursor = page.cursor
        return progressed and len(page.items) >= FEED_PAGE_LIMIT

    def poll_succeeded(self, now: float) -> None:
        """Record a complete poll and forget revocations that can no longer matter."""
        self.feed_ok_at = now
        # A token stays acceptable until exp + leeway, so its revocation is kept as long.
        leeway = self.leeway
        self._revoked = {j: e for j, e in self._revoked.items() if now < e + leeway}

    def is_revoked(self, jti: str) -> bool:
        """Whether the feed has listed `jti` (and it has not expired since)."""
        return jti in self._revoked


def _canonical(resource: str) -> str:
    try:
        return normalize_resource(resource)
    except ValueError:
        return resource
