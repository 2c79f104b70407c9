"""AsyncBrokerClient: the asynchronous twin of BrokerClient, on httpx.AsyncClient."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

import httpx

from ._assertion import PrivateKey
from ._client import DEFAULT_TIMEOUT, ClientCore
from ._errors import error_from_response
from ._models import AccessToken, RevocationPage
from ._wire import (
    Endpoints,
    assertion_form,
    metadata_url,
    parse_jwks,
    parse_metadata,
    parse_revocation_page,
    parse_token_response,
    read_json_object,
)

__all__ = ["AsyncBrokerClient"]


class AsyncBrokerClient(ClientCore):
    """Asynchronous client for the broker: tokens, introspection, revocation and the feed."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        private_key: PrivateKey,
        kid: str,
        alg: str | None = None,
        http_client: httpx.AsyncClient | None = None,
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
        self._http = http_client if http_client is not None else httpx.AsyncClient()

    async def endpoints(self) -> Endpoints:
        """The broker's endpoints, discovered once from its RFC 8414 metadata."""
        # Two concurrent first calls may both fetch the document: harmless, and no lock needed.
        if self._endpoints is None:
            response = await self._http.get(metadata_url(self.issuer), timeout=self._timeout)
            self._endpoints = parse_metadata(self.issuer, response)
        return self._endpoints

    async def token(
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
        url = (await self.endpoints()).token
        sent_at = self._clock()
        form = assertion_form(self.client_assertion(), **params)
        response = await self._http.post(url, data=form, timeout=self._timeout)
        token = parse_token_response(response, requested, sent_at)
        self._cache.put(key, token, sent_at)
        return token

    async def introspect(self, token: str) -> dict[str, Any]:
        """Ask the broker about a token addressed to us (RFC 7662); inactive is `{"active": False}`."""
        url = (await self.endpoints()).introspection
        form = assertion_form(self.client_assertion(), token=token)
        return read_json_object(await self._http.post(url, data=form, timeout=self._timeout))

    async def revoke(self, token: str) -> None:
        """Revoke a token we requested or hold (RFC 7009), and drop it from the cache."""
        self._cache.discard(token)
        url = (await self.endpoints()).revocation
        form = assertion_form(self.client_assertion(), token=token)
        response = await self._http.post(url, data=form, timeout=self._timeout)
        # RFC 7009 section 2.2: 200 (any body) for revoked, invalid and unknown tokens alike.
        if response.is_error:
            raise error_from_response(response)

    async def revocations(self, since: str | None = None, limit: int | None = None) -> RevocationPage:
        """Read one page of the revocation feed for our resource URIs, oldest first."""
        params = self._revocation_params(since, limit)
        url = (await self.endpoints()).revocation_feed
        response = await self._http.get(
            url, params=params, headers=self._bearer_headers(), timeout=self._timeout
        )
        return parse_revocation_page(response)

    async def jwks(self) -> dict[str, Any]:
        """The broker's public signing keys (its `jwks_uri` document)."""
        response = await self._http.get((await self.endpoints()).jwks, timeout=self._timeout)
        return parse_jwks(response)

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it, and forget cached tokens."""
        self._cache.clear()
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncBrokerClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
