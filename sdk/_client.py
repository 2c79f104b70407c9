"""BrokerClient: the synchronous agent-side client of the broker's OAuth endpoints."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

import httpx

from ._assertion import ClientAssertionSigner, PrivateKey
from ._errors import error_from_response
from ._models import AccessToken, RevocationPage
from ._wire import (
    CacheKey,
    Endpoints,
    TokenCache,
    assertion_form,
    metadata_url,
    normalize_issuer,
    normalize_scopes,
    parse_jwks,
    parse_metadata,
    parse_revocation_page,
    parse_token_response,
    read_json_object,
)

__all__ = ["BrokerClient", "ClientCore"]

DEFAULT_TIMEOUT = 10.0


class ClientCore:
    """State and request building shared by BrokerClient and AsyncBrokerClient."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        private_key: PrivateKey,
        kid: str,
        alg: str | None,
        timeout: float,
        clock: Callable[[], float],
    ) -> None:
        self.issuer = normalize_issuer(issuer)
        self.client_id = client_id
        self._signer = ClientAssertionSigner(
            client_id=client_id, private_key=private_key, kid=kid, alg=alg, clock=clock
        )
        self._timeout = timeout
        self._clock = clock
        self._cache = TokenCache()
        self._endpoints: Endpoints | None = None

    @property
    def alg(self) -> str:
        """The JWS algorithm of this client's assertions."""
        return self._signer.alg

    def client_assertion(self, audience: str | None = None) -> str:
        """Sign a fresh client assertion; `aud` defaults to the issuer (RFC 7523bis)."""
        return self._signer.sign(audience if audience is not None else self.issuer)

    def forget(self, token: str | AccessToken) -> None:
        """Drop a token from the cache, e.g. after a holder refused it as revoked."""
        self._cache.discard(token if isinstance(token, str) else token.access_token)

    def _bearer_headers(self) -> dict[str, str]:
        # /v1 routes take the assertion as a bearer credential (docs/api.md), one per call.
        return {"Authorization": f"Bearer {self.client_assertion()}"}

    def _token_params(
        self,
        subject: str,
        resource: str,
        scopes: str | Iterable[str],
        purpose: str | None,
        expires_in: int | None,
    ) -> tuple[CacheKey, tuple[str, ...], dict[str, str]]:
        if not isinstance(subject, str) or not subject:
            raise ValueError("subject must be a non-empty user id")
        if not isinstance(resource, str) or not resource:
            raise ValueError("resource must be the holder's resource URI (RFC 8707)")
        if purpose is not None and (not isinstance(purpose, str) or not purpose):
            raise ValueError("purpose must be a non-empty string or None")
        if expires_in is not None and (
            isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0
        ):
            raise ValueError("expires_in must be a positive number of seconds")
        requested = normalize_scopes(scopes)
        params = {
            "grant_type": "client_credentials",
            "subject": subject,
            "resource": resource,
            "scope": " ".join(requested),
        }
        if purpose is not None:
            params["purpose"] = purpose
        if expires_in is not None:
            params["expires_in"] = str(expires_in)
        return TokenCache.key(subject, resource, requested, purpose), requested, params

    def _revocation_params(self, since: str | None, limit: int | None) -> dict[str, str]:
        params: dict[str, str] = {}
        if since is not None:
            params["since"] = since
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
                raise ValueError("limit must be a positive integer")
            params["limit"] = str(limit)
        return params

    def __repr__(self) -> str:
        # The private key and any cached token stay out of the repr.
        return (
            f"{type(self).__name__}(issuer={self.issuer!r}, client_id={self.client_id!r}, "
            f"kid={self._signer.kid!r}, alg={self._signer.alg!r})"
        )


class BrokerClient(ClientCore):
    """Synchronous client for the broker: tokens, introspection, revocation and the feed."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        private_key: PrivateKey,
        kid: str,
        alg: str | None = None,
        http_client: httpx.Client | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            issuer=issuer,
            client_id=client_id,
            private_key=private_key,
            kid=kid,
            alg=alg,
            timeout=timeout,
            clock=clock,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()

    def endpoints(self) -> Endpoints:
        """The broker's endpoints, discovered once from its RFC 8414 metadata."""
        if self._endpoints is None:
            response = self._http.get(metadata_url(self.issuer), timeout=self._timeout)
            self._endpoints = parse_metadata(self.issuer, response)
        return self._endpoints

    def token(
        self,
        *,
        subject: str,
        resource: str,
        scopes: str | Iterable[str],
        purpose: str | None = None,
        expires_in: int | None = None,
    ) -> AccessToken:
        """Get an access token for `subject`'s data at `resource`, from the cache while fresh."""
        key, requested, params = self._token_params(subject, resource, scopes, purpose, expires_in)
        cached = self._cache.get(key, self._clock())
        if cached is not None:
            return cached
        url = self.endpoints().token
        sent_at = self._clock()
        form = assertion_form(self.client_assertion(), **params)
        response = self._http.post(url, data=form, timeout=self._timeout)
        token = parse_token_response(response, requested, sent_at)
        self._cache.put(key, token, sent_at)
        return token

    def introspect(self, token: str) -> dict[str, Any]:
        """Ask the broker about a token addressed to us (RFC 7662); inactive is `{"active": False}`."""
        url = self.endpoints().introspection
        form = assertion_form(self.client_assertion(), token=token)
        return read_json_object(self._http.post(url, data=form, timeout=self._timeout))

    def revoke(self, token: str) -> None:
        """Revoke a token we requested or hold (RFC 7009), and drop it from the cache."""
        self._cache.discard(token)
        url = self.endpoints().revocation
        form = assertion_form(self.client_assertion(), token=token)
        response = self._http.post(url, data=form, timeout=self._timeout)
        # RFC 7009 section 2.2: 200 (any body) for revoked, invalid and unknown tokens alike.
        if response.is_error:
            raise error_from_response(response)

    def revocations(self, since: str | None = None, limit: int | None = None) -> RevocationPage:
        """Read one page of the revocation feed for our resource URIs, oldest first."""
        params = self._revocation_params(since, limit)
        url = self.endpoints().revocation_feed
        response = self._http.get(url, params=params, headers=self._bearer_headers(), timeout=self._timeout)
        return parse_revocation_page(response)

    def jwks(self) -> dict[str, Any]:
        """The broker's public signing keys (its `jwks_uri` document)."""
        response = self._http.get(self.endpoints().jwks, timeout=self._timeout)
        return parse_jwks(response)

    def close(self) -> None:
        """Close the HTTP client if this object created it, and forget cached tokens."""
        self._cache.clear()
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> BrokerClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
