"""The verifier's use of the revocation feed: revoked tokens refused, polling, forgetting, failing closed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import discretion_sdk
import pytest

from tests.sdk.fakes import HOLDER_ID, ISSUER, RESOURCE, FakeBroker, FakeClock


@pytest.fixture
def holder_client(
    broker: FakeBroker, agent_key: Any, clock: FakeClock
) -> Iterator[discretion_sdk.BrokerClient]:
    with discretion_sdk.BrokerClient(
        issuer=ISSUER,
        client_id=HOLDER_ID,
        private_key=agent_key,
        kid="holder-key",
        http_client=broker.client(),
        clock=clock,
    ) as client:
        yield client


@pytest.fixture
def fed_verifier(
    broker: FakeBroker, clock: FakeClock, holder_client: discretion_sdk.BrokerClient
) -> Iterator[discretion_sdk.TokenVerifier]:
    with discretion_sdk.TokenVerifier(
        issuer=ISSUER,
        audience=RESOURCE,
        http_client=broker.client(),
        clock=clock,
        revocation_source=holder_client,
    ) as verifier:
        yield verifier


def feed_polls(broker: FakeBroker) -> int:
    return broker.hits["/v1/revocations"]


def test_revoked_via_feed(
    fed_verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, clock: FakeClock
) -> None:
    token = broker.mint(jti="to-revoke")
    assert fed_verifier.verify(token).jti == "to-revoke"
    broker.revoke_in_feed("to-revoke", clock.now + 300)
    clock.advance(1)
    with pytest.raises(discretion_sdk.InvalidToken) as caught:
        fed_verifier.verify(token)
    assert caught.value.reason == "revoked"


def test_a_revoked_token_is_refused_before_its_scopes_are_looked_at(
    fed_verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, clock: FakeClock
) -> None:
    broker.revoke_in_feed("r", clock.now + 300)
    with pytest.raises(discretion_sdk.InvalidToken, match="revoked"):
        fed_verifier.verify(broker.mint(jti="r"), required_scopes=["mail:send"])


def test_the_feed_is_polled_at_most_once_per_interval(
    fed_verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, clock: FakeClock
) -> None:
    for _ in range(10):
        fed_verifier.verify(broker.mint())
    assert feed_polls(broker) == 1
    clock.advance(0.5)
    fed_verifier.verify(broker.mint())
    assert feed_polls(broker) == 1
    clock.advance(0.5)
    fed_verifier.verify(broker.mint())
    assert feed_polls(broker) == 2


def test_the_cursor_is_passed_on_and_all_pages_are_read(
    fed_verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, clock: FakeClock
) -> None:
    for i in range(2500):
        broker.revoke_in_feed(f"old-{i}", clock.now + 300)
    fed_verifier.poll_revocations()
    feed = [r for r in broker.requests if r.url.path == "/v1/revocations"]
    assert [r.url.params.get("since") for r in feed] == [None, "1000", "2000"]
    assert all(r.url.params["limit"] == "1000" for r in feed)
    with pytest.raises(discretion_sdk.InvalidToken, match="revoked"):
        fed_verifier.verify(broker.mint(jti="old-2499"))
    broker.revoke_in_feed("new", clock.now + 300)
    clock.advance(1)
    with pytest.raises(discretion_sdk.InvalidToken, match="revoked"):
        fed_verifier.verify(broker.mint(jti="new"))
    assert broker.requests[-1].url.params["since"] == "2500"


def test_a_revocation_is_kept_until_the_token_could_no_longer_pass(
    fed_verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, clock: FakeClock
) -> None:
    token = broker.mint(jti="short")
    exp = clock.now + 300
    broker.revoke_in_feed("short", exp)
    fed_verifier.poll_revocations()
    # Past exp but inside the leeway, the token would verify if its revocation had been forgotten.
    clock.advance(300 + 29)
    with pytest.raises(discretion_sdk.InvalidToken, match="revoked"):
        fed_verifier.verify(token)
    clock.advance(1)
    with pytest.raises(discretion_sdk.InvalidToken, match="expired"):
        fed_verifier.verify(token)
    # The next poll forgets it.
    clock.advance(1)
    fed_verifier.verify(broker.mint())
    assert not fed_verifier._core.is_revoked("short")


def test_an_unreachable_feed_fails_closed_at_first(
    fed_verifier: discretion_sdk.TokenVerifier, broker: FakeBroker
) -> None:
    broker.feed_error = 503
    with pytest.raises(discretion_sdk.VerifierUnavailable) as caught:
        fed_verifier.verify(broker.mint())
    assert caught.value.reason == "revocations_unavailable"


def test_a_feed_outage_is_tolerated_for_max_staleness_then_fails_closed(
    fed_verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, clock: FakeClock
) -> None:
    fed_verifier.verify(broker.mint())
    broker.feed_error = 503
    clock.advance(60)
    assert fed_verifier.verify(broker.mint()).subject == "alice"
    clock.advance(1)
    with pytest.raises(discretion_sdk.VerifierUnavailable):
        fed_verifier.verify(broker.mint())
    broker.feed_error = None
    clock.advance(1)
    assert fed_verifier.verify(broker.mint()).subject == "alice"


def test_poll_revocations_without_a_source_is_an_error(verifier: discretion_sdk.TokenVerifier) -> None:
    with pytest.raises(ValueError, match="revocation_source"):
        verifier.poll_revocations()


def test_a_verifier_without_a_feed_never_polls(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker
) -> None:
    verifier.verify(broker.mint())
    assert feed_polls(broker) == 0


def test_staleness_below_the_poll_interval_is_refused(holder_client: discretion_sdk.BrokerClient) -> None:
    with pytest.raises(ValueError, match="staleness"):
        discretion_sdk.TokenVerifier(
            issuer=ISSUER,
            audience=RESOURCE,
            revocation_source=holder_client,
            revocation_poll_interval=5,
            revocation_max_staleness=1,
        )
