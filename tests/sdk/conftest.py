"""Fixtures of the SDK tests: a fake broker, a clock, an agent key, clients and verifiers."""

from __future__ import annotations

from collections.abc import Iterator

import discretion_sdk
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.sdk.fakes import AGENT_ID, ISSUER, RESOURCE, FakeBroker, FakeClock


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def broker(clock: FakeClock) -> FakeBroker:
    return FakeBroker(clock)


@pytest.fixture
def agent_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def client(
    broker: FakeBroker, agent_key: Ed25519PrivateKey, clock: FakeClock
) -> Iterator[discretion_sdk.BrokerClient]:
    with discretion_sdk.BrokerClient(
        issuer=ISSUER,
        client_id=AGENT_ID,
        private_key=agent_key,
        kid="agent-key-1",
        http_client=broker.client(),
        clock=clock,
    ) as client:
        yield client


@pytest.fixture
def verifier(broker: FakeBroker, clock: FakeClock) -> Iterator[discretion_sdk.TokenVerifier]:
    with discretion_sdk.TokenVerifier(
        issuer=ISSUER, audience=RESOURCE, http_client=broker.client(), clock=clock
    ) as verifier:
        yield verifier
