"""AsyncBrokerClient and AsyncTokenVerifier, run on anyio's asyncio backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import discretion_sdk
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.sdk.fakes import AGENT_ID, HOLDER_ID, ISSUER, RESOURCE, FakeBroker, FakeClock, public_jwk

pytestmark = pytest.mark.anyio
NO_TIME: Any = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}


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


@pytest.fixture
async def averifier(broker: FakeBroker, clock: FakeClock) -> AsyncIterator[discretion_sdk.AsyncTokenVerifier]:
    async with discretion_sdk.AsyncTokenVerifier(
        issuer=ISSUER, audience=RESOURCE, http_client=broker.async_client(), clock=clock
    ) as verifier:
        yield verifier


async def test_async_token_request_and_cache(
    aclient: discretion_sdk.AsyncBrokerClient, broker: FakeBroker, clock: FakeClock, agent_key: Any
) -> None:
    first = await aclient.token(subject="alice", resource=RESOURCE, scopes=["calendar:read"])
    assert await aclient.token(subject="alice", resource=RESOURCE, scopes="calendar:read") is first
    form = broker.form()
    assert form["grant_type"] == "client_credentials"
    claims = jwt.decode(
        form["client_assertion"],
        agent_key.public_key(),
        algorithms=["EdDSA"],
        audience=ISSUER,
        options=NO_TIME,
    )
    assert claims["iss"] == AGENT_ID
    clock.advance(271)
    assert await aclient.token(subject="alice", resource=RESOURCE, scopes=["calendar:read"]) is not first
    assert broker.hits["/oauth2/token"] == 2
    assert broker.hits["/.well-known/oauth-authorization-server"] == 1


async def test_async_errors_map_to_the_same_classes(
    aclient: discretion_sdk.AsyncBrokerClient, broker: FakeBroker
) -> None:
    broker.error = (403, {"error": "access_denied", "error_description": "refused"})
    with pytest.raises(discretion_sdk.AccessDenied) as caught:
        await aclient.token(subject="alice", resource=RESOURCE, scopes=["calendar:read"])
    assert caught.value.status_code == 403


async def test_async_introspect_revoke_feed_and_jwks(
    aclient: discretion_sdk.AsyncBrokerClient, broker: FakeBroker
) -> None:
    broker.introspection = {"active": True, "jti": "x"}
    assert await aclient.introspect("t.o.k") == {"active": True, "jti": "x"}
    await aclient.revoke("t.o.k")
    assert broker.form()["token"] == "t.o.k"
    broker.revoke_in_feed("j1", 1_800_000_000)
    page = await aclient.revocations()
    assert [item.jti for item in page.items] == ["j1"]
    assert page.cursor == "1"
    assert (await aclient.jwks())["keys"] == broker.jwks_keys


async def test_async_verifier_accepts_a_good_token(
    averifier: discretion_sdk.AsyncTokenVerifier, broker: FakeBroker
) -> None:
    verified = await averifier.verify(broker.mint(), required_scopes=["calendar:read"])
    assert verified.subject == "alice"


async def test_async_verifier_rejects_alg_none(
    averifier: discretion_sdk.AsyncTokenVerifier, broker: FakeBroker
) -> None:
    token = jwt.encode(
        broker.claims(),
        None,  # type: ignore[arg-type]
        algorithm="none",
        headers={"typ": "at+jwt", "kid": broker.kid},
    )
    with pytest.raises(discretion_sdk.InvalidToken, match="bad_algorithm"):
        await averifier.verify(token)


async def test_concurrent_tokens_with_a_new_kid_share_one_jwks_refresh(
    averifier: discretion_sdk.AsyncTokenVerifier, broker: FakeBroker
) -> None:
    await averifier.verify(broker.mint())
    new_key = Ed25519PrivateKey.generate()
    broker.jwks_keys.append(public_jwk(new_key.public_key(), "broker-key-2"))
    tokens = [broker.mint(key=new_key, headers={"kid": "broker-key-2"}) for _ in range(20)]
    results: list[str] = []

    async def check(token: str) -> None:
        results.append((await averifier.verify(token)).subject)

    async with anyio.create_task_group() as group:
        for token in tokens:
            group.start_soon(check, token)
    assert results == ["alice"] * 20
    assert broker.hits["/.well-known/jwks.json"] == 2


async def test_async_verifier_refuses_a_token_revoked_via_feed(
    broker: FakeBroker, clock: FakeClock, agent_key: Any
) -> None:
    holder = discretion_sdk.AsyncBrokerClient(
        issuer=ISSUER,
        client_id=HOLDER_ID,
        private_key=agent_key,
        kid="holder-key",
        http_client=broker.async_client(),
        clock=clock,
    )
    verifier = discretion_sdk.AsyncTokenVerifier(
        issuer=ISSUER,
        audience=RESOURCE,
        http_client=broker.async_client(),
        clock=clock,
        revocation_source=holder,
    )
    token = broker.mint(jti="gone")
    assert (await verifier.verify(token)).jti == "gone"
    broker.revoke_in_feed("gone", clock.now + 300)
    clock.advance(1)
    with pytest.raises(discretion_sdk.InvalidToken, match="revoked"):
        await verifier.verify(token)
    broker.feed_error = 503
    clock.advance(61)
    with pytest.raises(discretion_sdk.VerifierUnavailable):
        await verifier.verify(broker.mint())
    await holder.aclose()
    await verifier.aclose()


async def test_async_refresh_and_poll_at_start_up(
    broker: FakeBroker, clock: FakeClock, agent_key: Any
) -> None:
    holder = discretion_sdk.AsyncBrokerClient(
        issuer=ISSUER, client_id=HOLDER_ID, private_key=agent_key, kid="h", http_client=broker.async_client()
    )
    verifier = discretion_sdk.AsyncTokenVerifier(
        issuer=ISSUER,
        audience=RESOURCE,
        http_client=broker.async_client(),
        clock=clock,
        revocation_source=holder,
    )
    await verifier.refresh_jwks()
    await verifier.poll_revocations()
    before = len(broker.requests)
    await verifier.verify(broker.mint())
    assert len(broker.requests) == before


async def test_async_verifier_fails_closed_without_keys(
    averifier: discretion_sdk.AsyncTokenVerifier, broker: FakeBroker
) -> None:
    broker.jwks_error = 502
    with pytest.raises(discretion_sdk.VerifierUnavailable, match="jwks_unavailable"):
        await averifier.verify(broker.mint())
    # Within 10 s of the failure, no new download is tried.
    with pytest.raises(discretion_sdk.VerifierUnavailable):
        await averifier.verify(broker.mint())
    assert broker.hits["/.well-known/jwks.json"] == 1


async def test_async_kid_spraying_refreshes_at_most_once_per_10_seconds(
    averifier: discretion_sdk.AsyncTokenVerifier, broker: FakeBroker, clock: FakeClock
) -> None:
    await averifier.verify(broker.mint())
    for i in range(10):
        with pytest.raises(discretion_sdk.InvalidToken, match="unknown_key"):
            await averifier.verify(broker.mint(headers={"kid": f"made-up-{i}"}))
    assert broker.hits["/.well-known/jwks.json"] == 2
    broker.jwks_error = 500
    clock.advance(301)
    # A stale JWKS is kept while the broker cannot be reached.
    assert (await averifier.verify(broker.mint())).subject == "alice"
