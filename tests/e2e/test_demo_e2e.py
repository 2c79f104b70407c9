"""End to end over real HTTP: a `discretion serve` process on SQLite, agents using the SDK."""

from __future__ import annotations

from collections.abc import Iterator

import discretion_sdk
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from examples.broker_process import BrokerProcess
from examples.demo import Agent, run_demo
from examples.holder_service import CALENDAR_URI

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def two_worker_broker() -> Iterator[BrokerProcess]:
    """A broker with two worker processes sharing one SQLite store."""
    with BrokerProcess(workers=2) as broker:
        yield broker


def test_the_demo_runs_against_a_real_broker_process() -> None:
    with BrokerProcess() as broker:
        run_demo(broker)  # raises SystemExit when any step turns out differently


def test_replayed_assertion_is_refused_across_worker_processes(two_worker_broker: BrokerProcess) -> None:
    broker = two_worker_broker
    admin = httpx.Client(
        base_url=broker.issuer, headers={"Authorization": f"Bearer {broker.create_admin_key()}"}
    )
    holder = Agent("replay-holder", "Holder Co", "DE", ["https://replay.example/api"])
    agent = Agent("replay-agent", "Agent Co", "FR")
    for each in (holder, agent):
        admin.post("/v1/agents", json=each.registration()).raise_for_status()
    key = admin.post("/v1/users", json={"user_id": "replay-user"}).raise_for_status().json()["api_key"]
    httpx.post(
        f"{broker.issuer}/v1/me/grants",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "agent": "replay-agent",
            "resource": "https://replay.example/api",
            "scopes": ["x:read"],
            "max_ttl_seconds": 60,
        },
    ).raise_for_status()
    with agent.client(broker.issuer) as client:
        assertion = client.client_assertion()
    admin.close()
    form = {
        "grant_type": "client_credentials",
        "subject": "replay-user",
        "resource": "https://replay.example/api",
        "scope": "x:read",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }
    # New connections each time, so uvicorn hands them to whichever worker accepts first.
    answers = [httpx.post(f"{broker.issuer}/oauth2/token", data=form).status_code for _ in range(8)]
    assert answers.count(200) == 1
    assert answers.count(401) == 7


def test_unknown_agent_key_cannot_get_a_token_over_http(two_worker_broker: BrokerProcess) -> None:
    stranger = discretion_sdk.BrokerClient(
        issuer=two_worker_broker.issuer, client_id="nobody", private_key=Ed25519PrivateKey.generate(), kid="k"
    )
    with stranger, pytest.raises(discretion_sdk.InvalidClient):
        stranger.token(subject="alice", resource=CALENDAR_URI, scopes=["calendar:read"])


def test_the_three_hop_delegation_scenario_runs_against_a_real_broker_process() -> None:
    from examples.three_hop import run_three_hops

    with BrokerProcess() as broker:
        run_three_hops(broker)  # raises SystemExit when attenuation or the cascade does not hold
