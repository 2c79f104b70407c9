"""The token path's user cache (broker/oauth/caches/users.py): a refusal decided on a remembered
user row is re-checked like a token, so a grant committed by any replica counts at once."""

from __future__ import annotations

from typing import Any

import pytest

from broker.oauth.caches import users
from broker.oauth.caches.users import UserCache
from broker.services.me import MeService
from broker.storage import fast, principals
from broker.storage.principals import UserRecord
from policy.parties import Effect, EntryKind, ListMode
from tests.broker.oauth.decisions import change_after_first_decision
from tests.broker.oauth.test_delegation import exchange
from tests.conftest import CALENDAR_URI, ChainWorld, World, auth

GRANT = {
    "agent": "travel-agent",
    "resource": CALENDAR_URI,
    "scopes": ["calendar:read"],
    "max_ttl_seconds": 600,
}


def _count_user_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    real = users.principals.get_user

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(kwargs.get("user_id") or "?")
        return real(*args, **kwargs)

    monkeypatch.setattr(users.principals, "get_user", counted)
    return reads


def _alice_elsewhere(world: World) -> tuple[MeService, UserRecord]:
    """Alice and a service to change her policy the way another replica would: nothing here is told."""
    ctx = world.client.app.state.ctx  # type: ignore[attr-defined]
    with ctx.store.read() as conn:
        alice = principals.get_user(conn, user_id="alice")
    assert alice is not None
    return MeService(ctx), alice


def _grant_for_alice(world: World) -> None:
    """Alice's grant, committed the way another replica would."""
    service, alice = _alice_elsewhere(world)
    service.create_grant(alice, dict(GRANT))


def test_a_grant_after_a_remembered_refusal_counts_at_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert world.token(world.travel).status_code == 403  # alice's row is remembered now
    _grant_for_alice(world)
    reads = _count_user_reads(monkeypatch)
    assert world.token(world.travel).status_code == 200
    assert reads == ["alice"]  # refused on the remembered row, found stale, decided again


def test_a_grant_committed_between_a_refusal_and_its_write_is_honoured(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    change_after_first_decision(monkeypatch, lambda: _grant_for_alice(world))
    # Six in one commit group, decided before the grant or after it: all see it.
    responses = world.post_at_once("/oauth2/token", [world.token_form(world.travel) for _ in range(6)])
    assert [r.status_code for r in responses] == [200] * 6


def test_an_unknown_subject_is_not_remembered(world: World) -> None:
    assert world.token(world.travel, subject="bob").status_code == 403
    created = world.client.post("/v1/users", json={"user_id": "bob"}, headers=auth(world.admin_key))
    assert created.status_code == 201
    granted = world.client.post("/v1/me/grants", json=GRANT, headers=auth(created.json()["api_key"]))
    assert granted.status_code == 201
    assert world.token(world.travel, subject="bob").status_code == 200


def test_users_are_read_once_until_the_ttl(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.grant()
    now = [0.0]
    monkeypatch.setattr(world.client.app.state.oauth, "_users", UserCache(ttl=5.0, clock=lambda: now[0]))  # type: ignore[attr-defined]
    reads = _count_user_reads(monkeypatch)
    for _ in range(3):
        assert world.token(world.travel).status_code == 200
    assert reads == ["alice"]
    now[0] = 5.0
    assert world.token(world.travel).status_code == 200
    assert reads == ["alice", "alice"]


def _delegate_then_block_elsewhere(chain: ChainWorld, organization: str) -> str:
    """Delegate once (alice is remembered now), then block `organization` for alice the way
    another replica would, nothing here told; returns the root token."""
    root = chain.token(chain.assistant, scope="calendar:read", expires_in="600").json()["access_token"]
    assert exchange(chain, chain.assistant, root, "travel-agent").status_code == 200
    service, alice = _alice_elsewhere(chain)
    service.add_entry(alice, kind=EntryKind.ORGANIZATION, value=organization, effect=Effect.BLOCK, note=None)
    return root


def test_a_policy_change_elsewhere_sends_a_delegation_back_to_a_fresh_user_row(
    chain: ChainWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Token exchange remembers the user too; the write's re-check of the policy version must
    # catch a change this process was not told of, and the request be decided again. The block
    # bumps alice's policy version and blocks no one here.
    root = _delegate_then_block_elsewhere(chain, "Elsewhere Inc.")
    reads = _count_user_reads(monkeypatch)
    response = exchange(chain, chain.assistant, root, "travel-agent")
    assert response.status_code == 200, response.text
    assert reads == ["alice"]  # decided on the remembered row, found stale, decided again


def test_a_block_committed_elsewhere_stops_a_delegation_on_the_remembered_user(chain: ChainWorld) -> None:
    root = _delegate_then_block_elsewhere(chain, chain.travel.organization)
    response = exchange(chain, chain.assistant, root, "travel-agent")
    assert response.status_code == 400, response.text


def test_an_exchange_reads_no_user_row_while_it_is_remembered(
    chain: ChainWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = chain.token(chain.assistant, scope="calendar:read", expires_in="600").json()["access_token"]
    sent: list[str] = []
    real = fast.send

    def recorded(conn: Any, statement: fast.Sql, params: Any) -> fast.Sent:
        sent.append(statement.sqlite)
        return real(conn, statement, params)

    monkeypatch.setattr(fast, "send", recorded)
    for _ in range(3):
        assert exchange(chain, chain.assistant, root, "travel-agent").status_code == 200
    assert sent  # the token row, the grant and the entries are read every time
    user_rows = [text for text in sent if text.startswith("SELECT ref, user_id")]
    assert user_rows == []  # alice is remembered (the write's re-check reads her version only)


def test_a_delegation_refused_on_a_remembered_user_is_decided_again_after_a_change_elsewhere(
    chain: ChainWorld,
) -> None:
    # Allowlist-only with the assistant and the calendar allowed: the root token is issued and a
    # delegation to the travel agent is refused, on alice's row, which is remembered from then on.
    for agent in ("assistant", "calendar-holder"):
        chain.block("agent", agent, effect="allow")
    switched = chain.client.put(
        "/v1/me/blocklist/mode", json={"mode": "allowlist_only"}, headers=auth(chain.alice_key)
    )
    assert switched.status_code == 200, switched.text
    root = chain.token(chain.assistant, scope="calendar:read", expires_in="600").json()["access_token"]
    assert exchange(chain, chain.assistant, root, "travel-agent").status_code == 400
    # Back to blocklist mode, committed as another replica would: it revokes nothing here.
    service, alice = _alice_elsewhere(chain)
    service.set_mode(alice, ListMode.BLOCKLIST)
    response = exchange(chain, chain.assistant, root, "travel-agent")
    assert response.status_code == 200, response.text  # the refusal's re-check found alice stale
