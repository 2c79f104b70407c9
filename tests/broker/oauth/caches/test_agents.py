"""The token path's agent cache (broker/oauth/caches/agents.py): a remembered agent never gets a
token, or lends its holder's, after a suspension committed by any replica."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update

from broker.oauth.caches import agents as agent_cache
from broker.oauth.caches.agents import AgentCache
from broker.storage.agents import AgentRecord
from broker.storage.schema import agents, tokens
from tests.agents import TestAgent
from tests.broker.oauth.test_delegation import TOKEN_URL, _hop, exchange
from tests.conftest import CALENDAR_URI, ChainWorld, World, auth


def _set_status(world: World, client_id: str, status: str) -> None:
    """What another replica's suspension looks like from here: a committed row, no local call."""
    store = world.client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.write() as conn:
        conn.execute(update(agents).where(agents.c.client_id == client_id).values(status=status))


def _tokens_stored(world: World) -> int:
    store = world.client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(tokens)).scalar_one())


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    for name in ("get_agent", "holder_of"):
        real = getattr(agent_cache.agent_store, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            reads.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(agent_cache.agent_store, name, counted)
    return reads


def test_remembered_requester_suspended_elsewhere_gets_no_token(world: World) -> None:
    world.grant()
    assert world.token(world.travel).status_code == 200  # travel-agent is remembered now
    stored = _tokens_stored(world)
    _set_status(world, "travel-agent", "suspended")
    response = world.token(world.travel)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert _tokens_stored(world) == stored


def test_remembered_holder_suspended_elsewhere_lends_no_token(world: World) -> None:
    world.grant()
    assert world.token(world.travel).status_code == 200  # the calendar holder is remembered now
    stored = _tokens_stored(world)
    _set_status(world, "calendar-holder", "suspended")
    response = world.token(world.travel)
    assert response.status_code == 403
    assert _tokens_stored(world) == stored


def test_reinstated_and_new_agents_count_at_once(world: World) -> None:
    world.grant()
    _set_status(world, "travel-agent", "suspended")
    assert world.token(world.travel).status_code == 401  # a suspended record is not remembered
    _set_status(world, "travel-agent", "active")
    assert world.token(world.travel).status_code == 200

    newcomer = TestAgent("newcomer", "New Co", "FR")
    assert world.token(newcomer).status_code == 401  # an unknown client is not remembered either
    response = world.client.post("/v1/agents", json=newcomer.registration(), headers=auth(world.admin_key))
    assert response.status_code == 201
    world.grant(agent="newcomer")
    assert world.token(newcomer).status_code == 200


def test_agents_are_read_once_until_the_ttl(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.grant()
    assert world.token(world.travel).status_code == 200
    reads = _count_reads(monkeypatch)
    for _ in range(3):
        assert world.token(world.travel).status_code == 200
    assert reads == []
    now = [0.0]
    cache = AgentCache(ttl=5.0, clock=lambda: now[0])
    monkeypatch.setattr(world.client.app.state.oauth, "_agents", cache)  # type: ignore[attr-defined]
    assert world.token(world.travel).status_code == 200
    assert world.token(world.travel).status_code == 200
    assert sorted(reads) == ["get_agent", "holder_of"]
    now[0] = 5.0
    assert world.token(world.travel).status_code == 200
    assert sorted(reads) == ["get_agent", "get_agent", "holder_of", "holder_of"]


def _record(client_id: str, status: str = "active") -> AgentRecord:
    return AgentRecord(client_id, client_id, "org", "Org", "FR", {"keys": []}, status, (), 0.0)


def test_forget_drops_an_agent_by_id_and_as_holder(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []

    def get_agent(_: Any, client_id: str, **__: Any) -> AgentRecord:
        loads.append(client_id)
        return _record(client_id)

    def holder_of(_: Any, uri: str) -> AgentRecord:
        loads.append(uri)
        return _record("holder" if uri == CALENDAR_URI else "other")

    monkeypatch.setattr(agent_cache.agent_store, "get_agent", get_agent)
    monkeypatch.setattr(agent_cache.agent_store, "holder_of", holder_of)
    cache = AgentCache(clock=lambda: 0.0)
    conn: Any = None
    for _ in range(2):
        cache.agent(conn, "holder")
        cache.agent(conn, "requester")
        cache.holder_of(conn, CALENDAR_URI)
        cache.holder_of(conn, "https://other.example/")
    assert len(loads) == 4
    cache.forget("holder")
    cache.agent(conn, "holder")
    cache.agent(conn, "requester")
    cache.holder_of(conn, CALENDAR_URI)
    cache.holder_of(conn, "https://other.example/")
    assert loads[4:] == ["holder", CALENDAR_URI]


def _delegate(chain: ChainWorld, root: str) -> Any:
    return exchange(chain, chain.assistant, root, "travel-agent", scope="calendar:read")


@pytest.mark.parametrize("suspended", ["travel-agent", "calendar-holder"], ids=["delegate", "holder"])
def test_a_remembered_party_suspended_elsewhere_gets_no_delegated_token(
    chain: ChainWorld, suspended: str
) -> None:
    # Token exchange remembers agents too: the write's re-check of every party must catch it.
    root = chain.token(chain.assistant, scope="calendar:read", expires_in="600").json()["access_token"]
    assert _delegate(chain, root).status_code == 200  # the delegate and holder are remembered now
    stored = _tokens_stored(chain)
    _set_status(chain, suspended, "suspended")
    response = _delegate(chain, root)
    assert response.status_code == 400, response.text
    assert _tokens_stored(chain) == stored


def test_a_chain_agent_suspended_elsewhere_gets_no_delegated_token(chain: ChainWorld) -> None:
    # assistant -> travel-agent -> airline: at the second hop the assistant is an actor of the
    # chain, not the caller, and only the write's re-check can see its suspension.
    root = chain.token(chain.assistant, scope="calendar:read", expires_in="600").json()["access_token"]
    first = _hop(chain, chain.assistant, root, chain.travel)
    assert _hop(chain, chain.travel, first, chain.airline)  # the assistant is remembered now
    stored = _tokens_stored(chain)
    _set_status(chain, "assistant", "suspended")
    proof = chain.travel.dpop_proof(TOKEN_URL, now=chain.clock.now)
    response = exchange(chain, chain.travel, first, "airline", proof)
    assert response.status_code == 400, response.text
    assert _tokens_stored(chain) == stored
