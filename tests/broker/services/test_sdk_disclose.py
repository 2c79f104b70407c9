"""The holder's side through the SDK: `BrokerClient.disclose(data, token)`."""

from __future__ import annotations

import discretion_sdk
import pytest

from tests.agents import TestAgent
from tests.conftest import CALENDAR_URI, ISSUER, World

# Starlette's test transport warns that it ignores the per-request timeouts the SDK sets.
pytestmark = pytest.mark.filterwarnings("ignore:You should not use the 'timeout' argument")
RECORD = {"attendee": {"name": "Alice Martin", "email": "alice@example.org"}, "title": "Flight to Lisbon"}


def _client(world: World, agent: TestAgent) -> discretion_sdk.BrokerClient:
    # The test client is an httpx.Client on the ASGI app, so the SDK runs unchanged in process.
    return discretion_sdk.BrokerClient(
        issuer=ISSUER,
        client_id=agent.client_id,
        private_key=agent.key,
        kid=agent.kid,
        http_client=world.client,
    )


def test_holder_discloses_what_the_token_reveals(world: World) -> None:
    world.grant(reveal=["PERSON"])
    token = _client(world, world.travel).token(
        subject="alice", resource=CALENDAR_URI, scopes=["calendar:read"]
    )
    shared = _client(world, world.calendar).disclose(RECORD, token)
    assert shared.data["attendee"] == {"name": "Alice Martin", "email": "<EMAIL_ADDRESS>"}
    assert shared.data["title"] == "Flight to Lisbon"
    assert shared.report["counts"] == {"EMAIL_ADDRESS": 1}
    assert shared.receipt_id.isdigit()
    assert len(shared.output_sha256) == 64


def test_only_the_holder_the_token_is_for_may_disclose(world: World) -> None:
    world.grant()
    token = _client(world, world.travel).token(
        subject="alice", resource=CALENDAR_URI, scopes=["calendar:read"]
    )
    with pytest.raises(discretion_sdk.BrokerError):
        _client(world, world.ads).disclose(RECORD, token)
