"""The token path's user cache (broker/services/user_cache.py): a refusal decided on a remembered
user row is re-checked like a token, so a grant committed by any replica counts at once."""

from __future__ import annotations

from typing import Any

import pytest

from broker.services import user_cache
from broker.services.me import MeService
from broker.services.user_cache import UserCache
from broker.storage import principals
from tests.broker.decisions import change_after_first_decision
from tests.conftest import CALENDAR_URI, World, auth

GRANT = {
    "agent": "travel-agent",
    "resource": CALENDAR_URI,
    "scopes": ["calendar:read"],
    "max_ttl_seconds": 600,
}


def _count_user_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    real = user_cache.principals.get_user

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(kwargs.get("user_id") or "?")
        return real(*args, **kwargs)

    monkeypatch.setattr(user_cache.principals, "get_user", counted)
    return reads


def _grant_for_alice(world: World) -> None:
    """Alice's grant, committed the way another replica would: nothing here is told."""
    ctx = world.client.app.state.ctx  # type: ignore[attr-defined]
    with ctx.store.read() as conn:
        alice = principals.get_user(conn, user_id="alice")
    assert alice is not None
    MeService(ctx).create_grant(alice, dict(GRANT))


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
