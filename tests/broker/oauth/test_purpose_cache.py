"""The token path's purpose vocabulary (broker/oauth/caches/purposes.py): read once and remembered,
forgotten on a change through this process, a miss reloading at most once per second, and a set
read before a change never stored after it."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from broker.oauth.caches import purposes as cache_module
from broker.oauth.caches.purposes import PurposeCache
from tests.conftest import Clock, World


class Vocabulary:
    """Stands in for the purposes table: counts the reads."""

    def __init__(self) -> None:
        self.live: set[str] = {"trip-planning"}
        self.reads = 0

    def __call__(self, _conn: object) -> frozenset[str]:
        self.reads += 1
        return frozenset(self.live)


@pytest.fixture
def vocabulary(monkeypatch: pytest.MonkeyPatch) -> Vocabulary:
    table = Vocabulary()
    monkeypatch.setattr(cache_module.purpose_store, "live_codes", table)
    return table


def test_the_vocabulary_is_read_once_for_many_requests(vocabulary: Vocabulary) -> None:
    clock = Clock()
    cache = PurposeCache(clock=clock)
    assert all(cache.live(None, "trip-planning") for _ in range(100))  # type: ignore[arg-type]
    assert vocabulary.reads == 1


def test_a_change_through_this_process_counts_at_once(vocabulary: Vocabulary) -> None:
    cache = PurposeCache(clock=Clock())
    assert cache.live(None, "trip-planning")  # type: ignore[arg-type]
    vocabulary.live.clear()  # retired
    cache.forget()
    assert not cache.live(None, "trip-planning")  # type: ignore[arg-type]


def test_a_change_elsewhere_counts_within_the_remember_time(vocabulary: Vocabulary) -> None:
    clock = Clock()
    cache = PurposeCache(ttl=5.0, clock=clock)
    assert cache.live(None, "trip-planning")  # type: ignore[arg-type]
    vocabulary.live.clear()  # retired through another replica: this one was not told
    clock.advance(4.9)
    assert cache.live(None, "trip-planning")  # type: ignore[arg-type]
    clock.advance(0.2)
    assert not cache.live(None, "trip-planning")  # type: ignore[arg-type]


def test_unknown_codes_reload_at_most_once_a_second(vocabulary: Vocabulary) -> None:
    clock = Clock()
    cache = PurposeCache(ttl=5.0, miss_reload=1.0, clock=clock)
    assert not cache.live(None, "new-purpose")  # type: ignore[arg-type]
    vocabulary.live.add("new-purpose")  # registered through another replica
    for i in range(50):
        assert not cache.live(None, f"probe-{i}")  # type: ignore[arg-type]
    assert vocabulary.reads == 1  # a flood of unknown codes costs no reads within the second
    clock.advance(1.1)
    assert cache.live(None, "new-purpose")  # type: ignore[arg-type]
    assert vocabulary.reads == 2


def test_a_set_read_before_a_change_is_not_stored_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = PurposeCache(clock=Clock())
    reads = 0

    def stale_read(_conn: object) -> frozenset[str]:
        # The retirement commits and forgets while this request is still reading the old set.
        nonlocal reads
        reads += 1
        if reads == 1:
            cache.forget()
            return frozenset({"trip-planning"})
        return frozenset()

    monkeypatch.setattr(cache_module.purpose_store, "live_codes", stale_read)
    assert cache.live(None, "trip-planning")  # type: ignore[arg-type]  # this request saw the old set
    assert not cache.live(None, "trip-planning")  # type: ignore[arg-type]  # the next one reads again
    assert reads == 2


def test_token_requests_naming_a_purpose_read_the_vocabulary_once(world: World) -> None:
    world.purpose("trip-planning")
    world.grant(purposes=["trip-planning"])
    engine = world.client.app.state.ctx.store.engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        for _ in range(5):
            assert world.token(world.travel, purpose="trip-planning").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    # Registering forgot the vocabulary; the first request reads it, the next four do not.
    assert sum("FROM purposes" in s for s in statements) == 1
