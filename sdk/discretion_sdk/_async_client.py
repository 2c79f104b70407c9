"""AsyncBrokerClient: the asynchronous twin of BrokerClient, on httpx.AsyncClient."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any

import httpx

from ._assertion import PrivateKey
from ._auth import AsyncBrokerAuth
from ._client import DEFAULT_TIMEOUT, ClientCore
from ._errors import error_from_response
from ._models import AccessToken, Disclosure, RevocationPage, VerifiedToken
from ._wire import (
    Endpoints,
    assertion_form,
    disclosure_body,
    metadata_url,
    parse_disclosure,
    parse_jwks,
    parse_metadata,
    parse_revocation_page,
    parse_token_response,
    read_json_object,
)

__all__ = ["AsyncBrokerClient"]


class AsyncBrokerClient(ClientCore):
    """Asynchronous client for the broker: tokens (Bearer or DPoP), exchange, revocation and the feed.

    `private_key` is the agent's private key object (Ed25519, P-256 or RSA of 2048 bits or more,
    see `load_private_key`), and `kid` the key id its public half is registered under.

    Issued tokens are cached in memory until shortly before they expire; the cache drops a token
    the revocation feed lists or a holder refuses (see `token` and `auth`), and `token(...,
    fresh=True)` bypasses it.

    `dpop_key` signs DPoP proofs (RFC 9449); it defaults to `private_key`, and must be one of the
    agent's registered keys (the broker refuses proofs made with any other key). The broker binds
    tokens delegated to this agent to its current key, so an agent that wants to present them
    must hold that key (as `private_key` or as `dpop_key`). After a key rotation, pass the old
    private keys as `retiring_keys` (see BrokerClient).
    """

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
        dpop_key: PrivateKey | None = None,
        retiring_keys: Sequence[PrivateKey] = (),
    ) -> None:
        super().__init__(
            issuer=issuer,
            client_id=client_id,
            private_key=private_key,
            kid=kid,
            alg=alg,
            timeout=timeout,
            clock=clock,
            dpop_key=dpop_key,
            retiring_keys=retiring_keys,
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
        dpop: bool = False,
        fresh: bool = False,
    ) -> AccessToken:
        """Get an access token for `subject`'s data at `resource`, from the cache while fresh.

        Tokens are cached per (subject, resource, scopes, purpose, DPoP) until shortly before they
        expire. A cached token is dropped when this client reads the revocation feed and finds
        it listed, when `forget` is called (a holder refused it), and when `auth()` sees a
        holder answer `invalid_token`. `fresh=True` skips the cache and asks the broker, which
        then applies the user's current grants and blocklist (the answer replaces the cached one).

        With `dpop=True` the request carries a DPoP proof made with the DPoP key (RFC 9449
        section 5) and the token comes back bound to it (`token_type` DPoP); present it with
        `authorization_headers`. Bearer and DPoP tokens are cached apart.
        """
        key, requested, params = self._token_params(subject, resource, scopes, purpose, expires_in, dpop)
        cached = None if fresh else self._cache.get(key, self._clock())
        if cached is not None:
            return cached
        url = (await self.endpoints()).token
        sent_at = self._clock()
        form = assertion_form(self.client_assertion(), **params)
        headers = {"DPoP": self.dpop_proof("POST", url)} if dpop else None
        response = await self._http.post(url, data=form, headers=headers, timeout=self._timeout)
        token = parse_token_response(response, requested, sent_at, expect_dpop=dpop)
        self._cache.put(key, token, sent_at)
        return token

    def auth(
        self,
        *,
        subject: str,
        resource: str,
        scopes: str | Iterable[str],
        purpose: str | None = None,
        expires_in: int | None = None,
        dpop: bool = False,
    ) -> AsyncBrokerAuth:
        """An httpx auth flow that presents this agent's token for `subject` at `resource`.

        Use it on an httpx client that talks to that one holder::

            auth = broker.auth(subject="dana", resource="https://bank.example/api",
                               scopes=["accounts:read"])
            holder = httpx.AsyncClient(base_url="https://bank.example", auth=auth)

        Every request carries a token from `token()` (cached while fresh), with a fresh DPoP proof
        when `dpop=True`. If the holder answers 401 `invalid_token` (for example because the
        user blocked this agent and the token was revoked), the token is dropped from the cache
        and the request is retried ONCE with `token(fresh=True)`: the broker either issues a new
        token or refuses with AccessDenied, which the request then raises. A `use_dpop_nonce`
        answer is retried once with the holder's nonce.
        """
        return AsyncBrokerAuth(
            self,
            subject=subject,
            resource=resource,
            scopes=scopes,
            purpose=purpose,
            expires_in=expires_in,
            dpop=dpop,
        )

    async def exchange(
        self,
        token: str | AccessToken,
        *,
        delegate: str,
        scopes: str | Iterable[str] | None = None,
        resource: str | None = None,
        expires_in: int | None = None,
        reveal: str | Iterable[str] | None = None,
    ) -> AccessToken:
        """Exchange our access token for a narrower one for agent `delegate` (RFC 8693).

        `scopes`, `resource`, `expires_in` and `reveal` may only narrow the parent's (None keeps
        the parent's; an empty `reveal` asks that nothing be revealed); widening is refused with
        InvalidScope, InvalidTarget or InvalidRequest, a policy refusal is AccessDenied and a bad,
        revoked or expired `token` is InvalidGrant. The new token names `delegate` as its client,
        nests us in `act`, and is bound to the delegate's registered key: hand it to the delegate,
        we cannot present it ourselves.

        The request carries a DPoP proof made with our DPoP key, which the broker requires when
        `token` is itself bound (for example one delegated to us). Exchanged tokens are never
        cached: each hand-off is its own token (its own `jti`, audit record and revocation).
        """
        requested, params = self._exchange_params(token, delegate, scopes, resource, expires_in, reveal)
        url = (await self.endpoints()).token
        sent_at = self._clock()
        form = assertion_form(self.client_assertion(), **params)
        headers = {"DPoP": self.dpop_proof("POST", url)}
        response = await self._http.post(url, data=form, headers=headers, timeout=self._timeout)
        return parse_token_response(response, requested, sent_at, exchange=True)

    async def renew(self, token: str | AccessToken, *, expires_in: int | None = None) -> AccessToken:
        """Exchange a token delegated to us for the same access bound to our current DPoP key
        (see BrokerClient.renew)."""
        return await self.exchange(token, delegate=self.client_id, expires_in=expires_in)

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

    async def disclose(
        self, data: Any, token: str | AccessToken | VerifiedToken, *, operator: str | None = None
    ) -> Disclosure:
        """As the holder, share `data` with the bearer of `token`, redacted by the broker to what
        the token reveals (POST /v1/disclose).

        `token` is the recipient's access token: the VerifiedToken that `require_scope` or
        `TokenVerifier.verify` returned (it carries the raw token), or the token string. The
        broker checks it again (a token revoked since is refused with InvalidGrant) and logs
        the disclosure; the answer's `data` is what may be sent back.
        """
        url = self.issuer + "/v1/disclose"
        body = disclosure_body(data, token, operator)
        response = await self._http.post(
            url, json=body, headers=self._bearer_headers(), timeout=self._timeout
        )
        return parse_disclosure(response)

    async def revocations(self, since: str | None = None, limit: int | None = None) -> RevocationPage:
        """Read one page of the revocation feed for our resource URIs, oldest first.

        Cached tokens that the page lists are dropped from this client's cache.
        """
        params = self._revocation_params(since, limit)
        url = (await self.endpoints()).revocation_feed
        response = await self._http.get(
            url, params=params, headers=self._bearer_headers(), timeout=self._timeout
        )
        page = parse_revocation_page(response)
        # A token the feed lists is revoked: never hand it out from the cache again.
        self._cache.discard_jtis(item.jti for item in page.items)
        return page

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
