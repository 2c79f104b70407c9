"""The token cache follows revocation: `fresh=True`, the feed drops listed tokens, and the httpx auth
flow drops a token a holder refuses as invalid_token and retries once with a fresh one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import discretion_sdk
import httpx
import jwt
import pytest

from tests.sdk.fakes import AGENT_ID, ISSUER, RESOURCE, FakeBroker, FakeClock

HOLDER = "https://holder.test"
INVALID = 'Bearer realm="x", error="invalid_token", error_description="the access token was revoked"'


def _token(client: Any, **kwargs: Any) -> Any:
    params: dict[str, Any] = {"subject": "alice", "resource": RESOURCE, "scopes": ["calendar:read"]}
    params.update(kwargs)
    return client.token(**params)


def _jti(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


class Holder:
    """A scripted holder: answers each request with the next response, records what it saw."""

    def __init__(self, *answers: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answers = list(answers)
        # Headers as sent: a retry re-sends the same Request object with new headers.
        self.seen: list[httpx.Headers] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(httpx.Headers(request.headers))
        answer = self.answers.pop(0) if self.answers else ok
        return answer(request)

    def tokens(self) -> list[str]:
        return [headers["authorization"].split(" ", 1)[1] for headers in self.seen]


def ok(_: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"ok": True})


def invalid_token(_: httpx.Request) -> httpx.Response:
    return httpx.Response(401, headers={"WWW-Authenticate": INVALID})


# -- the cache ----------------------------------------------------------------------------------


def test_fresh_skips_the_cache_and_replaces_the_entry(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    first = _token(client)
    second = _token(client, fresh=True)
    assert second.access_token != first.access_token
    assert broker.hits["/oauth2/token"] == 2
    assert _token(client) is second


def test_reading_the_feed_drops_cached_tokens_it_lists(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    revoked = _token(client)
    kept = _token(client, subject="bob")
    broker.revoke_in_feed(_jti(revoked.access_token), revoked.expires_at)
    broker.revoke_in_feed("someone-elses-token", revoked.expires_at)
    client.revocations()
    assert _token(client, subject="bob") is kept
    renewed = _token(client)
    assert renewed.access_token != revoked.access_token
    assert broker.hits["/oauth2/token"] == 3


@pytest.mark.anyio
async def test_async_fresh_and_feed_follow_revocation(
    broker: FakeBroker, agent_key: Any, clock: FakeClock
) -> None:
    async with discretion_sdk.AsyncBrokerClient(
        issuer=ISSUER,
        client_id=AGENT_ID,
        private_key=agent_key,
        kid="agent-key-1",
        http_client=broker.async_client(),
        clock=clock,
    ) as client:
        first = await _token(client)
        assert await _token(client) is first
        second = await _token(client, fresh=True)
        assert second is not first
        broker.revoke_in_feed(_jti(second.access_token), second.expires_at)
        await client.revocations()
        third = await _token(client)
        assert third.access_token not in (first.access_token, second.access_token)
        assert broker.hits["/oauth2/token"] == 3


# -- the auth flow ------------------------------------------------------------------------------


def _holder_client(holder: Holder, auth: httpx.Auth) -> httpx.Client:
    return httpx.Client(base_url=HOLDER, transport=httpx.MockTransport(holder.handle), auth=auth)


def _auth(client: Any, **kwargs: Any) -> Any:
    params: dict[str, Any] = {"subject": "alice", "resource": RESOURCE, "scopes": ["calendar:read"]}
    params.update(kwargs)
    return client.auth(**params)


def test_auth_presents_the_cached_token(client: discretion_sdk.BrokerClient, broker: FakeBroker) -> None:
    holder = Holder()
    with _holder_client(holder, _auth(client)) as http:
        assert http.get("/events").status_code == 200
        assert http.get("/events").status_code == 200
    first, second = holder.tokens()
    assert first == second
    assert holder.seen[0]["authorization"].startswith("Bearer ")
    assert broker.hits["/oauth2/token"] == 1


def test_invalid_token_drops_the_token_and_retries_once_with_a_fresh_one(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    holder = Holder(ok, invalid_token)
    with _holder_client(holder, _auth(client)) as http:
        assert http.get("/events").status_code == 200
        assert http.get("/events").status_code == 200
        assert http.get("/events").status_code == 200
    first, refused, retried, later = holder.tokens()
    assert refused == first
    assert retried != refused
    # The retry's token is the one cached from now on; the refused one is never sent again.
    assert later == retried
    assert broker.hits["/oauth2/token"] == 2
    assert _token(client).access_token == retried


def test_a_second_invalid_token_is_returned_not_retried_again(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    holder = Holder(invalid_token, invalid_token, invalid_token)
    with _holder_client(holder, _auth(client)) as http:
        response = http.get("/events")
    assert response.status_code == 401
    assert len(holder.seen) == 2
    assert broker.hits["/oauth2/token"] == 2
    # Neither refused token stays in the cache.
    assert _token(client).access_token not in holder.tokens()


def test_a_refused_renewal_raises_the_brokers_error(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    holder = Holder(ok, invalid_token)
    with _holder_client(holder, _auth(client)) as http:
        assert http.get("/events").status_code == 200
        broker.error = (400, {"error": "access_denied", "error_description": "blocked by the user"})
        with pytest.raises(discretion_sdk.AccessDenied):
            http.get("/events")
        # Unblocked: the next request gets a new token, never the revoked one.
        broker.error = None
        assert http.get("/events").status_code == 200
    first, refused, served = holder.tokens()
    assert refused == first
    assert served != first


@pytest.mark.parametrize(
    ("status", "challenge"),
    [
        (401, 'Bearer realm="x"'),
        (403, 'Bearer realm="x", error="insufficient_scope", scope="calendar:write"'),
        (401, 'Bearer realm="x", error="invalid_request"'),
        (500, ""),
    ],
)
def test_other_answers_are_returned_without_a_retry(
    client: discretion_sdk.BrokerClient, broker: FakeBroker, status: int, challenge: str
) -> None:
    headers = {"WWW-Authenticate": challenge} if challenge else {}
    holder = Holder(lambda _: httpx.Response(status, headers=headers))
    with _holder_client(holder, _auth(client)) as http:
        assert http.get("/events").status_code == status
    assert len(holder.seen) == 1
    assert broker.hits["/oauth2/token"] == 1
    assert _token(client).access_token == holder.tokens()[0]


def test_challenge_error_reads_quoted_and_token_forms() -> None:
    from discretion_sdk._auth import challenge_error

    def answer(value: str, status: int = 401) -> httpx.Response:
        return httpx.Response(status, headers={"WWW-Authenticate": value})

    assert challenge_error(answer('DPoP error="invalid_token", algs="EdDSA"')) == "invalid_token"
    assert challenge_error(answer("Bearer realm=x, error=invalid_token")) == "invalid_token"
    assert challenge_error(answer('Bearer realm="x", error_description="x error=invalid_token"')) is None
    assert challenge_error(answer('Bearer error="invalid_token"', status=403)) is None


def test_dpop_auth_signs_a_proof_per_request_and_answers_a_nonce_challenge(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    def nonce(_: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401,
            headers={"WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": "n-1"},
        )

    holder = Holder(nonce)
    with _holder_client(holder, _auth(client, dpop=True)) as http:
        assert http.get("/events?x=1").status_code == 200
    first, second = holder.seen
    assert first["authorization"].startswith("DPoP ")
    proofs = [jwt.decode(h["dpop"], options={"verify_signature": False}) for h in (first, second)]
    assert proofs[0]["htu"] == f"{HOLDER}/events"
    assert proofs[0]["htm"] == "GET"
    assert "nonce" not in proofs[0]
    assert proofs[1]["nonce"] == "n-1"
    assert proofs[0]["jti"] != proofs[1]["jti"]
    assert broker.hits["/oauth2/token"] == 1


def test_auth_checks_its_arguments_at_once(client: discretion_sdk.BrokerClient) -> None:
    with pytest.raises(ValueError, match="subject"):
        client.auth(subject="", resource=RESOURCE, scopes=["calendar:read"])
    with pytest.raises(ValueError, match="scopes"):
        client.auth(subject="alice", resource=RESOURCE, scopes=[])


@pytest.fixture
async def aclient(
    broker: FakeBroker, agent_key: Any, clock: FakeClock
) -> AsyncIterator[discretion_sdk.AsyncBrokerClient]:
    async with discretion_sdk.AsyncBrokerClient(
        issuer=ISSUER,
        client_id=AGENT_ID,
        private_key=agent_key,
        kid="agent-key-1",
        http_client=broker.async_client(),
        clock=clock,
    ) as client:
        yield client


@pytest.mark.anyio
async def test_async_auth_retries_once_with_a_fresh_token(
    aclient: discretion_sdk.AsyncBrokerClient, broker: FakeBroker
) -> None:
    holder = Holder(ok, invalid_token, invalid_token, invalid_token)
    transport = httpx.MockTransport(holder.handle)
    async with httpx.AsyncClient(base_url=HOLDER, transport=transport, auth=_auth(aclient)) as http:
        assert (await http.get("/events")).status_code == 200
        assert (await http.get("/events")).status_code == 401
    first, refused, retried = holder.tokens()
    assert refused == first
    assert retried != first
    assert broker.hits["/oauth2/token"] == 2


@pytest.mark.anyio
async def test_flows_refuse_the_wrong_kind_of_http_client(
    aclient: discretion_sdk.AsyncBrokerClient, client: discretion_sdk.BrokerClient
) -> None:
    holder = Holder()
    with _holder_client(holder, _auth(aclient)) as http, pytest.raises(TypeError, match="BrokerClient"):
        http.get("/events")
    transport = httpx.MockTransport(holder.handle)
    async with httpx.AsyncClient(base_url=HOLDER, transport=transport, auth=_auth(client)) as http:
        with pytest.raises(TypeError, match="AsyncBrokerClient"):
            await http.get("/events")
    assert holder.seen == []
