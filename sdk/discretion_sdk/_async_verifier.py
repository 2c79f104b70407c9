"""AsyncTokenVerifier: TokenVerifier for async holders (JWKS and feed fetched without blocking)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Protocol

# anyio is httpx's own dependency (httpx.AsyncClient runs on it), so this adds nothing to install;
# its Lock works under asyncio and trio alike, where asyncio.Lock would tie holders to asyncio.
import anyio
import httpx

from ._checks import DEFAULT_TOKEN_ALGORITHMS, FEED_MAX_PAGES, FEED_PAGE_LIMIT, VerifierCore
from ._dpop import DEFAULT_DPOP_ALGORITHMS, DEFAULT_DPOP_MAX_AGE, DEFAULT_REPLAY_CACHE_SIZE, DPoPNonceSource
from ._errors import InvalidToken, VerifierUnavailable
from ._models import RevocationPage, VerifiedToken
from ._verifier import (
    DEFAULT_JWKS_MAX_AGE,
    DEFAULT_LEEWAY,
    DEFAULT_MAX_STALENESS,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TIMEOUT,
    FETCH_ERRORS,
    default_jwks_uri,
)
from ._wire import parse_jwks

__all__ = ["AsyncRevocationSource", "AsyncTokenVerifier"]

logger = logging.getLogger("discretion_sdk")


class AsyncRevocationSource(Protocol):
    """Anything that reads the revocation feed asynchronously; an AsyncBrokerClient is one."""

    async def revocations(self, since: str | None = None, limit: int | None = None) -> RevocationPage:
        """One page of the feed after cursor `since`."""
        ...


class AsyncTokenVerifier:
    """Verifies access tokens offline like TokenVerifier, fetching keys and the feed with await.

    DPoP (RFC 9449): `dpop_algorithms` are the proof algorithms accepted (asymmetric only; default
    EdDSA under both its names and ES256); a proof is accepted from `dpop_max_age` seconds (default 60) plus
    `leeway` in the past to `leeway` in the future; each proof's `jti` is remembered for as long,
    in memory, up to `dpop_replay_cache_size` entries (full means VerifierUnavailable, never
    forgetting early); `dpop_nonce` (for example DPoPNonces) makes proofs carry a server nonce.
    Several processes behind one load balancer each have their own replay cache.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str | Iterable[str],
        jwks_uri: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        leeway: float = DEFAULT_LEEWAY,
        algorithms: Iterable[str] = DEFAULT_TOKEN_ALGORITHMS,
        revocation_source: AsyncRevocationSource | None = None,
        revocation_poll_interval: float = DEFAULT_POLL_INTERVAL,
        revocation_max_staleness: float = DEFAULT_MAX_STALENESS,
        jwks_max_age: float = DEFAULT_JWKS_MAX_AGE,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
        dpop_algorithms: Iterable[str] = DEFAULT_DPOP_ALGORITHMS,
        dpop_max_age: float = DEFAULT_DPOP_MAX_AGE,
        dpop_nonce: DPoPNonceSource | None = None,
        dpop_replay_cache_size: int = DEFAULT_REPLAY_CACHE_SIZE,
    ) -> None:
        self._core = VerifierCore(
            issuer=issuer,
            audience=audience,
            leeway=leeway,
            algorithms=algorithms,
            has_feed=revocation_source is not None,
            revocation_poll_interval=revocation_poll_interval,
            revocation_max_staleness=revocation_max_staleness,
            jwks_max_age=jwks_max_age,
            dpop_algorithms=dpop_algorithms,
            dpop_max_age=dpop_max_age,
            dpop_nonce=dpop_nonce,
            dpop_replay_cache_size=dpop_replay_cache_size,
        )
        self.jwks_uri = jwks_uri if jwks_uri is not None else default_jwks_uri(issuer)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()
        self._timeout = timeout
        self._source = revocation_source
        self._clock = clock
        self._jwks_lock = anyio.Lock()
        self._feed_lock = anyio.Lock()

    @property
    def issuer(self) -> str:
        """The issuer that tokens must name in `iss`."""
        return self._core.issuer

    @property
    def audiences(self) -> frozenset[str]:
        """The resource URIs accepted in `aud`."""
        return self._core.audiences

    @property
    def dpop_algorithms(self) -> tuple[str, ...]:
        """The algorithms accepted for DPoP proofs (the `algs` of a DPoP challenge)."""
        return self._core.dpop.algorithm_list

    async def verify(
        self,
        token: str,
        *,
        required_scopes: str | Iterable[str] = (),
        dpop_proof: str | Sequence[str] | None = None,
        http_method: str | None = None,
        http_url: str | None = None,
    ) -> VerifiedToken:
        """Check `token` and return its content, or raise InvalidToken / InvalidDPoPProof / InsufficientScope.

        A token bound to a key (`cnf.jkt`, RFC 9449) needs `dpop_proof`: the request's `DPoP`
        header value (or the list of all its `DPoP` header values, so that several are refused),
        checked against `http_method` and `http_url` (the request's full URL; query and fragment
        are ignored), the token's hash (`ath`) and its `cnf.jkt`. Without a proof such a token is
        refused as `InvalidToken("sender_constrained")`: there is no way to accept a bound token as
        a bearer token (the former `allow_sender_constrained=True` did that and is gone). A proof
        with a token bound to no key is refused as `InvalidToken("not_sender_constrained")`.
        Problems with the proof itself raise InvalidDPoPProof (UseDPoPNonce when this verifier
        has a `dpop_nonce` source and the proof lacks a current nonce), with a `reason`.
        """
        core = self._core
        core.check_arguments(dpop_proof, http_method, http_url)
        now = self._clock()
        parsed = core.parse(token)
        kid = parsed.header.kid
        key = core.key_for(kid)
        if key is None or core.jwks_stale(now):
            await self._load_keys(kid, now)
            key = core.key_for(kid)
            if key is None:
                raise InvalidToken("unknown_key", "kid not in the JWKS")
        claims = core.check(parsed, key, now)
        if core.feed_due(now):
            await self._poll(now)
        return core.finish(claims, now, required_scopes, token, dpop_proof, http_method, http_url)

    async def refresh_jwks(self) -> None:
        """Download the JWKS now (for example at start-up), whatever the cache holds."""
        now = self._clock()
        async with self._jwks_lock:
            self._core.jwks_attempted(now)
            self._core.install_jwks(await self._fetch_jwks(), now)

    async def poll_revocations(self) -> None:
        """Read the revocation feed now (for example at start-up)."""
        if self._source is None:
            raise ValueError("this verifier has no revocation_source")
        now = self._clock()
        async with self._feed_lock:
            await self._poll_locked(now, raise_errors=True)

    async def _fetch_jwks(self) -> dict[str, object]:
        response = await self._http.get(self.jwks_uri, timeout=self._timeout)
        return parse_jwks(response)

    async def _load_keys(self, kid: str, now: float) -> None:
        core = self._core
        async with self._jwks_lock:
            # Another task may have downloaded the keys while this one waited.
            if core.key_for(kid) is not None and not core.jwks_stale(now):
                return
            if not core.jwks_fetch_allowed(now):
                if not core.has_keys:
                    raise VerifierUnavailable("jwks_unavailable")
                return
            # The first download is not a refresh: only refreshes (and failed first downloads)
            # count against the rate limit, so a key rotated just after start-up is still found.
            if core.has_keys:
                core.jwks_attempted(now)
            try:
                document = await self._fetch_jwks()
            except FETCH_ERRORS as exc:
                logger.warning("JWKS download from %s failed: %s", self.jwks_uri, type(exc).__name__)
                if not core.has_keys:
                    core.jwks_attempted(now)
                    raise VerifierUnavailable("jwks_unavailable") from None
                return
            core.install_jwks(document, now)

    async def _poll(self, now: float) -> None:
        core = self._core
        # Once the feed has been read, a task that finds a poll under way goes on with what is
        # known (staleness is bounded by finish()); before that, it waits for the first poll.
        if core.feed_ok_at is not None and self._feed_lock.locked():
            return
        async with self._feed_lock:
            if core.feed_due(now):
                await self._poll_locked(now, raise_errors=False)

    async def _poll_locked(self, now: float, *, raise_errors: bool) -> None:
        core, source = self._core, self._source
        if source is None:
            return
        core.poll_started(now)
        try:
            for _ in range(FEED_MAX_PAGES):
                page = await source.revocations(since=core.cursor, limit=FEED_PAGE_LIMIT)
                if not core.apply_page(page):
                    break
        except FETCH_ERRORS as exc:
            logger.warning("revocation feed poll failed: %s", type(exc).__name__)
            if raise_errors:
                raise
            return
        core.poll_succeeded(now)

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncTokenVerifier:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"AsyncTokenVerifier(issuer={self.issuer!r}, audience={sorted(self.audiences)!r}, "
            f"algorithms={sorted(self._core.algorithms)!r})"
        )
