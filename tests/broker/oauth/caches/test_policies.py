"""The token path's policy cache (broker/oauth/caches/policies.py): reused only while the user's
policy version stands, so every change is seen by the very next request."""

from __future__ import annotations

from typing import Any

import pytest

from broker.oauth import client_credentials
from broker.oauth.caches.policies import PolicyCache
from tests.conftest import World, auth


def test_every_kind_of_policy_change_is_seen_by_the_next_request(world: World) -> None:
    grant = world.grant()
    assert world.token(world.travel).status_code == 200
    assert world.token(world.travel).status_code == 200  # the second one from the cache

    entry = world.block("organization", "Calendar Co")
    assert world.token(world.travel).status_code == 403
    removed = world.client.delete(f"/v1/me/blocklist/{entry['entry_id']}", headers=auth(world.alice_key))
    assert removed.status_code == 200
    assert world.token(world.travel).status_code == 200

    mode = world.client.put(
        "/v1/me/blocklist/mode", json={"mode": "allowlist_only"}, headers=auth(world.alice_key)
    )
    assert mode.status_code == 200
    assert world.token(world.travel).status_code == 403
    world.client.put("/v1/me/blocklist/mode", json={"mode": "blocklist"}, headers=auth(world.alice_key))
    assert world.token(world.travel).status_code == 200

    world.client.delete(f"/v1/me/grants/{grant['grant_id']}", headers=auth(world.alice_key))
    assert world.token(world.travel).status_code == 403
    world.grant(scopes=["calendar:*"])
    assert world.token(world.travel, scope="calendar:write").status_code == 200


def test_an_unchanged_policy_is_read_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.grant()
    reads: list[str] = []
    real = client_credentials.grant_store.grants_for_request

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append("grants")
        return real(*args, **kwargs)

    monkeypatch.setattr(client_credentials.grant_store, "grants_for_request", counted)
    for _ in range(3):
        assert world.token(world.travel).status_code == 200
    assert reads == ["grants"]
    world.block("agent", "ad-agent")  # a change that does not affect this request still bumps
    assert world.token(world.travel).status_code == 200
    assert reads == ["grants", "grants"]


def test_the_cache_keeps_only_the_most_recently_used() -> None:
    cache = PolicyCache(size=2)
    loads: list[str] = []

    def loader(name: str) -> Any:
        def load() -> Any:
            loads.append(name)
            return ((), ())

        return load

    for name in ("a", "b", "a", "c", "a", "b"):
        cache.get((name, 0, "r", "x", "o"), loader(name))
    assert loads == ["a", "b", "c", "b"]  # "b" was evicted by "c"; "a" stayed in use
