"""Two broker replicas on one PostgreSQL database under concurrent load; one is killed with
SIGKILL mid-load. Afterwards every issued token has its grant-log record, the log's sequence is
contiguous, and no client assertion was accepted twice across the replicas."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import signal
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import create_engine, make_url, select

from broker.grantlog.merkle import MerkleTree, hash_leaf
from broker.storage.schema import checkpoints, grant_log
from examples.broker_process import BrokerProcess
from examples.demo import Agent

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
POSTGRES = (
    os.environ.get("DISCRETION_TEST_POSTGRES_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
RESOURCE = "https://calendar.example/api"
CONCURRENT = 240


@pytest.fixture
def database() -> Iterator[str]:
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    try:
        admin.connect().close()
    except Exception:  # any failure to reach the server means there is nothing to test
        pytest.skip("PostgreSQL is not reachable")
    name = f"discretion_replicas_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _form(agent: Agent, issuer: str, assertion: str | None = None) -> dict[str, str]:
    with agent.client(issuer) as client:
        signed = assertion or client.client_assertion()
    return {
        "grant_type": "client_credentials",
        "subject": "alice",
        "resource": RESOURCE,
        "scope": "calendar:read",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": signed,
    }


def _jti(token: str) -> str:
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"])


async def _fire(
    targets: list[str], forms: list[dict[str, str]], victim: BrokerProcess
) -> list[tuple[int, str, str]]:
    """Send every form, alternating replicas, 64 at a time; SIGKILL the victim once a third of
    the answers are in."""
    results: list[tuple[int, str, str]] = []
    gate = asyncio.Semaphore(64)
    third = asyncio.Event()

    async def one(index: int, form: dict[str, str], http: httpx.AsyncClient) -> None:
        async with gate:
            try:
                response = await http.post(f"{targets[index % 2]}/oauth2/token", data=form)
            except httpx.TransportError:
                results.append((0, form["client_assertion"], ""))
            else:
                token = response.json().get("access_token", "") if response.status_code == 200 else ""
                results.append((response.status_code, form["client_assertion"], token))
            if len(results) >= len(forms) // 3:
                third.set()

    async def killer() -> None:
        await third.wait()
        assert victim.process is not None
        os.killpg(victim.process.pid, signal.SIGKILL)

    async with httpx.AsyncClient(timeout=20) as http:
        await asyncio.gather(killer(), *(one(i, form, http) for i, form in enumerate(forms)))
    return results


def test_killing_a_replica_mid_load_loses_no_record_and_accepts_no_replay(database: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    kek = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    # Behind a load balancer the replicas share one issuer and one key-encryption key.
    issuer = "http://broker.internal"
    shared = {"DISCRETION_KEY_ENCRYPTION_KEY": kek, "DISCRETION_ISSUER": issuer}
    first = BrokerProcess(database_url=database, extra_env=shared).start()
    second = BrokerProcess(database_url=database, extra_env=shared).start()
    try:
        headers = {"Authorization": f"Bearer {first.create_admin_key()}"}
        with httpx.Client(base_url=first.url, headers=headers) as admin:
            holder, agent = Agent("holder", "Holder Co", "DE", [RESOURCE]), Agent("agent", "Agent Co", "FR")
            for each in (holder, agent):
                admin.post("/v1/agents", json=each.registration()).raise_for_status()
            key = admin.post("/v1/users", json={"user_id": "alice"}).raise_for_status().json()["api_key"]
        grant = {"agent": "agent", "resource": RESOURCE, "scopes": ["calendar:read"], "max_ttl_seconds": 300}
        httpx.post(
            f"{first.url}/v1/me/grants", json=grant, headers={"Authorization": f"Bearer {key}"}
        ).raise_for_status()
        forms = [_form(agent, issuer) for _ in range(CONCURRENT)]
        # Each of these is sent twice in a row, so one copy goes to each replica.
        replays = [form for form in (_form(agent, issuer) for _ in range(20)) for _ in range(2)]
        targets = [first.url, second.url]
        results = asyncio.run(_fire(targets, replays + forms, second))
    finally:
        first.stop()
        second.stop()

    issued = [token for status, _, token in results if status == 200]
    assert len(issued) > CONCURRENT // 2  # the surviving replica kept serving
    assert any(status == 0 for status, _, _ in results)  # and the victim really died mid-load
    # Each replayed assertion went to both replicas; nearly all pairs finish before the kill.
    assert sum(status == 401 for status, _, _ in results) >= 10
    accepted: dict[str, int] = {}
    for status, assertion, _ in results:
        if status == 200:
            accepted[assertion] = accepted.get(assertion, 0) + 1
    assert max(accepted.values()) == 1, "a client assertion was accepted twice"

    engine = create_engine(database)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                grant_log.c.seq,
                grant_log.c.jti,
                grant_log.c.event_type,
                grant_log.c.event,
                grant_log.c.leaf_hash,
            ).order_by(grant_log.c.seq)
        ).all()
        signed = conn.execute(select(checkpoints.c.tree_size, checkpoints.c.root_hash)).all()
    engine.dispose()
    # The tree verifies: every stored leaf hash is the hash of its event, and every checkpoint the
    # replicas signed (before, during and after the kill) is a root of this log.
    assert all(hash_leaf(row.event.encode()).hex() == row.leaf_hash for row in rows)
    tree = MerkleTree(bytes.fromhex(row.leaf_hash) for row in rows)
    assert signed, "no checkpoint was signed"
    for size, root in signed:
        assert tree.root(size).hex() == root, f"checkpoint at size {size} does not match the log"
    seqs = sorted(row.seq for row in rows)
    assert seqs == list(range(1, len(seqs) + 1)), "the log's sequence has a gap"
    logged = {row.jti for row in rows if row.event_type == "token.issued"}
    assert {_jti(token) for token in issued} <= logged, "a token was issued without its log record"
