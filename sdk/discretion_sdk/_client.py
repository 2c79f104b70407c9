"""BrokerClient: the synchronous agent-side client of the broker's OAuth endpoints."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any

import httpx

from ._assertion import ClientAssertionSigner, PrivateKey
from ._auth import BrokerAuth
from ._dpop import ProofSigner, peek_claims
from ._errors import error_from_response
from ._models import AccessToken, Disclosure, RevocationPage, VerifiedToken
from ._wire import (
    ACCESS_TOKEN_TYPE_URN,
    TOKEN_EXCHANGE_GRANT,
    CacheKey,
    Endpoints,
    TokenCache,
    assertion_form,
    disclosure_body,
    metadata_url,
    normalize_issuer,
    normalize_reveal,
    normalize_scopes,
    parse_disclosure,
    parse_jwks,
    parse_metadata,
    parse_revocation_page,
    parse_token_response,
    read_json_object,
)

__all__ = ["BrokerClient", "ClientCore"]

DEFAULT_TIMEOUT = 10.0


def _check_lifetime(expires_in: int | None) -> None:
    if expires_in is not None and (
        isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0
    ):
        raise ValueError("expires_in must be a positive number of seconds")


def _token_value(token: str | AccessToken, name: str = "token") -> str:
    value = token.access_token if isinstance(token, AccessToken) else token
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be an access token (a non-empty string or an AccessToken)")
    return value


def _bound_jkt(token: str) -> str | None:
    # Unverified: the agent only looks at its own token to pick the Authorization scheme.
    claims = peek_claims(token)
    cnf = claims.get("cnf") if claims is not None else None
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    return jkt if isinstance(jkt, str) and jkt else None


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
        dpop_key: PrivateKey | None = None,
        retiring_keys: Sequence[PrivateKey] = (),
    ) -> None:
        self.issuer = normalize_issuer(issuer)
        self.client_id = client_id
        self._signer = ClientAssertionSigner(
            client_id=client_id, private_key=private_key, kid=kid, alg=alg, clock=clock
        )
        # The registered key by default (with the assertions' algorithm): tokens the broker binds to
        # this agent on delegation carry its current key's thumbprint, so proofs made with that
        # key fit both the tokens it asks for and those delegated to it.
        if dpop_key is None:
            self._dpop = ProofSigner(private_key, alg=alg, clock=clock)
        else:
            self._dpop = ProofSigner(dpop_key, clock=clock)
        # Keys a rotation retired, by thumbprint: they still present the live tokens bound to them.
        self._retiring = {
            signer.jkt: signer for signer in (ProofSigner(k, clock=clock) for k in retiring_keys)
        }
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

    @property
    def dpop_jkt(self) -> str:
        """The RFC 7638 thumbprint of the DPoP key: the `cnf.jkt` of tokens bound to this client."""
        return self._dpop.jkt

    def dpop_proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | AccessToken | None = None,
        nonce: str | None = None,
    ) -> str:
        """A fresh DPoP proof (RFC 9449 section 4.2) for one request, signed with the DPoP key.

        `htm` is `method` upper-cased, `htu` is `url` without query and fragment, `ath` the hash
        of `access_token` when given (required at holders, absent at the token endpoint), `nonce`
        a server nonce from a `DPoP-Nonce` answer header.
        """
        token = None if access_token is None else _token_value(access_token, "access_token")
        return self._dpop.sign(method, url, access_token=token, nonce=nonce)

    def authorization_headers(
        self, token: str | AccessToken, method: str, url: str, *, nonce: str | None = None
    ) -> dict[str, str]:
        """The headers that present `token` on a request to a holder: Bearer, or DPoP with a proof.

        A token is presented with DPoP when its token_type is DPoP or (for a token handed over as
        a string, such as one delegated to this agent) when it carries `cnf.jkt`; the proof is
        then fresh, for `method` and `url`. A token bound to another key than this client's DPoP
        key is refused with ValueError: only the agent holding that key can present it.
        """
        value = _token_value(token)
        jkt = _bound_jkt(value)
        if jkt is None and not (isinstance(token, AccessToken) and token.token_type == "DPoP"):
            return {"Authorization": f"Bearer {value}"}
        signer = self._dpop if jkt is None or jkt == self._dpop.jkt else self._retiring.get(jkt)
        if signer is None:
            raise ValueError(
                "this token is bound to another key (cnf.jkt); only that key's holder can use it"
            )
        proof = signer.sign(method, url, access_token=value, nonce=nonce)
        return {"Authorization": f"DPoP {value}", "DPoP": proof}

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
        dpop: bool = False,
    ) -> tuple[CacheKey, tuple[str, ...], dict[str, str]]:
        if not isinstance(subject, str) or not subject:
            raise ValueError("subject must be a non-empty user id")
        if not isinstance(resource, str) or not resource:
            raise ValueError("resource must be the holder's resource URI (RFC 8707)")
        if purpose is not None and (not isinstance(purpose, str) or not purpose):
            raise ValueError("purpose must be a non-empty string or None")
        _check_lifetime(expires_in)
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
        return TokenCache.key(subject, resource, requested, purpose, bool(dpop)), requested, params

    def _exchange_params(
        self,
        token: str | AccessToken,
        delegate: str,
        scopes: str | Iterable[str] | None,
        resource: str | None,
        expires_in: int | None,
        reveal: str | Iterable[str] | None,
    ) -> tuple[tuple[str, ...], dict[str, str]]:
        subject_token = _token_value(token)
        if not isinstance(delegate, str) or not delegate:
            raise ValueError("delegate must be the client id of the agent to delegate to")
        if resource is not None and (not isinstance(resource, str) or not resource):
            raise ValueError("resource must be the parent token's resource URI, or None")
        _check_lifetime(expires_in)
        params = {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": subject_token,
            "subject_token_type": ACCESS_TOKEN_TYPE_URN,
            "requested_actor": delegate,
        }
        if scopes is not None:
            requested = normalize_scopes(scopes)
            params["scope"] = " ".join(requested)
        elif isinstance(token, AccessToken):
            requested = token.scope
        else:
            # Only for an answer that omits `scope` (it then equals the parent's, RFC 8693 2.2.1).
            parent = peek_claims(subject_token) or {}
            requested = tuple(parent["scope"].split()) if isinstance(parent.get("scope"), str) else ()
        if resource is not None:
            params["resource"] = resource
        if expires_in is not None:
            params["expires_in"] = str(expires_in)
        if reveal is not None:
            # An empty list is sent as `reveal=` (reveal nothing), which differs from no parameter
            # (keep the parent's list).
            params["reveal"] = " ".join(normalize_reveal(reveal))
        return requested, params

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
    """Synchronous client for the broker: tokens (Bearer or DPoP), exchange, revocation and the feed.

    `private_key` is the agent's private key object (Ed25519, P-256 or RSA of 2048 bits or more,
    see `load_private_key`), and `kid` the key id its public half is registered under.

    Issued tokens are cached in memory until shortly before they expire; the cache drops a token
    the revocation feed lists or a holder refuses (see `token` and `auth`), and `token(...,
    fresh=True)` bypasses it.

    `dpop_key` signs DPoP proofs (RFC 9449); it defaults to `private_key`, and must be one of the
    agent's registered keys (the broker refuses proofs made with any other key). The broker binds
    tokens delegated to this agent to its current key (the one its admin made current, see
    docs/delegation.md), so an agent that wants to present them must hold that key (as
    `private_key` or as `dpop_key`).

    After a key rotation, configure the new key as `private_key` (and `kid`) and pass the old
    private keys as `retiring_keys`: tokens bound to them are still presented with proofs by
    their own key until they expire, and `renew` exchanges such a token for one bound to the
    current key.
    """

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
        url = self.endpoints().token
        sent_at = self._clock()
        form = assertion_form(self.client_assertion(), **params)
        headers = {"DPoP": self.dpop_proof("POST", url)} if dpop else None
        response = self._http.post(url, data=form, headers=headers, timeout=self._timeout)
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
    ) -> BrokerAuth:
        """An httpx auth flow that presents this agent's token for `subject` at `resource`.

        Use it on an httpx client that talks to that one holder::

            auth = broker.auth(subject="dana", resource="https://bank.example/api",
                               scopes=["accounts:read"])
            holder = httpx.Client(base_url="https://bank.example", auth=auth)

        Every request carries a token from `token()` (cached while fresh), with a fresh DPoP proof
        when `dpop=True`. If the holder answers 401 `invalid_token` (for example because the
        user blocked this agent and the token was revoked), the token is dropped from the cache
        and the request is retried ONCE with `token(fresh=True)`: the broker either issues a new
        token or refuses with AccessDenied, which the request then raises. A `use_dpop_nonce`
        answer is retried once with the holder's nonce.
        """
        return BrokerAuth(
            self,
            subject=subject,
            resource=resource,
            scopes=scopes,
            purpose=purpose,
            expires_in=expires_in,
            dpop=dpop,
        )

    def exchange(
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
        url = self.endpoints().token
        sent_at = self._clock()
        form = assertion_form(self.client_assertion(), **params)
        headers = {"DPoP": self.dpop_proof("POST", url)}
        response = self._http.post(url, data=form, headers=headers, timeout=self._timeout)
        return parse_token_response(response, requested, sent_at, exchange=True)

    def renew(self, token: str | AccessToken, *, expires_in: int | None = None) -> AccessToken:
        """Exchange a token delegated to us for the same access bound to our current DPoP key
        (after a key rotation, for a token bound to a retiring key); it expires no later than
        `token`, and adds no hop to its delegation chain."""
        return self.exchange(token, delegate=self.client_id, expires_in=expires_in)

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
        """Read one page of the revocation feed for our resource URIs, oldest first.

        Cached tokens that the page lists are dropped from this client's cache.
        """
        params = self._revocation_params(since, limit)
        url = self.endpoints().revocation_feed
        response = self._http.get(url, params=params, headers=self._bearer_headers(), timeout=self._timeout)
        page = parse_revocation_page(response)
        # A token the feed lists is revoked: never hand it out from the cache again.
        self._cache.discard_jtis(item.jti for item in page.items)
        return page

    def disclose(
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
        response = self._http.post(url, json=body, headers=self._bearer_headers(), timeout=self._timeout)
        return parse_disclosure(response)

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
