"""httpx authentication flows that present a broker token to a holder and renew it when refused.

`BrokerClient.auth(...)` (or `AsyncBrokerClient.auth(...)`) returns one of these; pass it as the
`auth` of an httpx client that talks to ONE holder. Each request gets a token from the client's
cache (or the broker), Bearer or DPoP with a fresh proof. When the holder answers 401 with
`error="invalid_token"` (revoked, expired early, unknown key), the token is dropped from the cache
and the request is sent once more with a fresh token from the broker: the broker then applies the
user's current grants and blocklist, so a blocked agent gets AccessDenied instead of a second 401,
and an unblocked one gets a new token. A `use_dpop_nonce` challenge (RFC 9449 section 9) is
answered once with the nonce the holder sent.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Generator, Iterable
from typing import TYPE_CHECKING, Any

import httpx

from ._models import AccessToken

if TYPE_CHECKING:
    from ._async_client import AsyncBrokerClient
    from ._client import BrokerClient

__all__ = ["AsyncBrokerAuth", "BrokerAuth", "challenge_error"]

# An auth-param (RFC 9110 section 11.2): token = ( token / quoted-string ). Matching whole params
# left to right keeps an "error=" inside another param's quoted value from counting.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_AUTH_PARAM = re.compile(rf'({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|({_TOKEN}))')


def challenge_error(response: httpx.Response) -> str | None:
    """The `error` code of a 401's WWW-Authenticate challenge (RFC 6750 section 3), or None."""
    if response.status_code != 401:
        return None
    for header in response.headers.get_list("www-authenticate"):
        for match in _AUTH_PARAM.finditer(header):
            if match.group(1).lower() == "error":
                return match.group(2) if match.group(2) is not None else match.group(3)
    return None


class _Flow:
    """What the sync and async flows share: the token request and the headers of each attempt."""

    def __init__(
        self,
        client: BrokerClient | AsyncBrokerClient,
        *,
        subject: str,
        resource: str,
        scopes: str | Iterable[str],
        purpose: str | None,
        expires_in: int | None,
        dpop: bool,
    ) -> None:
        # Checked now, not at the first request: a mistake should fail where it is made.
        client._token_params(subject, resource, scopes, purpose, expires_in, dpop)
        self._core = client
        self.subject, self.resource = subject, resource
        self.scopes = scopes if isinstance(scopes, str) else tuple(scopes)
        self.purpose, self.expires_in, self.dpop = purpose, expires_in, dpop

    def _token_request(self, fresh: bool) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "resource": self.resource,
            "scopes": self.scopes,
            "purpose": self.purpose,
            "expires_in": self.expires_in,
            "dpop": self.dpop,
            "fresh": fresh,
        }

    def _present(self, request: httpx.Request, token: AccessToken, nonce: str | None) -> None:
        headers = self._core.authorization_headers(token, request.method, str(request.url), nonce=nonce)
        request.headers.pop("DPoP", None)
        request.headers.update(headers)

    def _after(
        self, response: httpx.Response, token: AccessToken, state: dict[str, bool]
    ) -> tuple[str, str | None]:
        """What to do after `response`: ("done", None), ("renew", None) or ("nonce", nonce)."""
        error = challenge_error(response)
        if error == "invalid_token":
            # Whatever happens next, this token is never handed out again.
            self._core.forget(token)
            if not state["renewed"]:
                state["renewed"] = True
                return "renew", None
        elif error == "use_dpop_nonce" and token.is_dpop and not state["nonce"]:
            nonce = response.headers.get("dpop-nonce")
            if nonce:
                state["nonce"] = True
                return "nonce", nonce
        return "done", None


class BrokerAuth(_Flow, httpx.Auth):
    """An httpx.Auth for a BrokerClient: see the module docstring."""

    def __init__(
        self,
        client: BrokerClient,
        *,
        subject: str,
        resource: str,
        scopes: str | Iterable[str],
        purpose: str | None = None,
        expires_in: int | None = None,
        dpop: bool = False,
    ) -> None:
        super().__init__(
            client,
            subject=subject,
            resource=resource,
            scopes=scopes,
            purpose=purpose,
            expires_in=expires_in,
            dpop=dpop,
        )
        self._client = client

    def _token(self, fresh: bool) -> AccessToken:
        return self._client.token(**self._token_request(fresh))

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Present a token; after invalid_token, once more with a fresh one."""
        token, nonce = self._token(False), None
        state = {"renewed": False, "nonce": False}
        while True:
            self._present(request, token, nonce)
            response = yield request
            action, new_nonce = self._after(response, token, state)
            if action == "done":
                return
            if action == "renew":
                token = self._token(True)
            else:
                nonce = new_nonce

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Refused: this flow belongs to a synchronous BrokerClient."""
        raise TypeError("use AsyncBrokerClient.auth() with an httpx.AsyncClient")
        yield request  # pragma: no cover - makes this an async generator


class AsyncBrokerAuth(_Flow, httpx.Auth):
    """An httpx.Auth for an AsyncBrokerClient: see the module docstring."""

    def __init__(
        self,
        client: AsyncBrokerClient,
        *,
        subject: str,
        resource: str,
        scopes: str | Iterable[str],
        purpose: str | None = None,
        expires_in: int | None = None,
        dpop: bool = False,
    ) -> None:
        super().__init__(
            client,
            subject=subject,
            resource=resource,
            scopes=scopes,
            purpose=purpose,
            expires_in=expires_in,
            dpop=dpop,
        )
        self._client = client

    async def _token(self, fresh: bool) -> AccessToken:
        return await self._client.token(**self._token_request(fresh))

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Refused: this flow belongs to an AsyncBrokerClient."""
        raise TypeError("use BrokerClient.auth() with a synchronous httpx.Client")
        yield request  # pragma: no cover - makes this a generator

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Present a token; after invalid_token, once more with a fresh one."""
        token, nonce = await self._token(False), None
        state = {"renewed": False, "nonce": False}
        while True:
            self._present(request, token, nonce)
            response = yield request
            action, new_nonce = self._after(response, token, state)
            if action == "done":
                return
            if action == "renew":
                token = await self._token(True)
            else:
                nonce = new_nonce
