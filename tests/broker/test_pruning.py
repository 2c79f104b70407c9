"""Pruning expired tokens and revocation-feed entries (broker/services/housekeeping.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jwt
from sqlalchemy import func, select

from broker.services.housekeeping import Pruner, prune
from broker.services.oauth import FEED_EXPIRY_GRACE
from broker.storage.schema import revocations, tokens
from tests.conftest import ISSUER, World

SKEW = 30  # the test settings' clock skew (the default)


def _ctx(world: World) -> Any:
    return world.client.app.state.ctx  # type: ignore[attr-defined]


def _count(world: World, table: Any) -> int:
    with _ctx(world).store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _issue(world: World, lifetime: int) -> str:
    response = world.token(world.travel, expires_in=str(lifetime))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _revoke(world: World, token: str) -> None:
    form = {"token": token, **world.travel.auth_form(ISSUER, now=world.clock.now)}
    assert world.client.post("/oauth2/revoke", data=form).status_code == 200


def test_expired_tokens_and_feed_entries_go_once_past_the_grace(world: World) -> None:
    world.grant()
    short = [_issue(world, 60) for _ in range(3)]
    long_lived = _issue(world, 600)
    _revoke(world, short[0])
    _revoke(world, short[1])
    assert (_count(world, tokens), _count(world, revocations)) == (4, 2)

    world.clock.advance(60 + FEED_EXPIRY_GRACE + SKEW - 5)  # expired, but still within the grace
    assert prune(_ctx(world)) == (0, 0)

    world.clock.advance(10)
    # The newest feed entry always stays (SQLite's feed sequence is the rowid).
    assert prune(_ctx(world)) == (3, 1)
    with _ctx(world).store.read() as conn:
        kept = set(conn.execute(select(tokens.c.jti)).scalars())
    assert kept == {jwt.decode(long_lived, options={"verify_signature": False})["jti"]}
    assert prune(_ctx(world)) == (0, 0)


def test_a_pruned_token_answers_as_an_expired_one(world: World) -> None:
    world.grant()
    token = _issue(world, 60)
    world.clock.advance(60 + FEED_EXPIRY_GRACE + SKEW + 1)
    assert prune(_ctx(world)) == (1, 0)
    assert world.introspect(token) == {"active": False}
    _revoke(world, token)  # a no-op, as for any unknown token
    assert _count(world, revocations) == 0


def test_the_feed_cursor_keeps_rising_after_pruning(world: World) -> None:
    world.grant()
    for token in [_issue(world, 60) for _ in range(3)]:
        _revoke(world, token)
    cursor = world.feed()["cursor"]
    world.clock.advance(60 + FEED_EXPIRY_GRACE + SKEW + 1)
    assert prune(_ctx(world)) == (3, 2)
    _revoke(world, _issue(world, 600))
    feed = world.feed(since=cursor)
    assert len(feed["revocations"]) == 1  # the new entry is numbered after the old cursor
    assert int(feed["cursor"]) > int(cursor)


def test_prune_works_in_batches(world: World) -> None:
    world.grant()
    for _ in range(5):
        _issue(world, 60)
    world.clock.advance(60 + FEED_EXPIRY_GRACE + SKEW + 1)
    assert prune(_ctx(world), batch=2) == (5, 0)
    assert _count(world, tokens) == 0


def test_the_pruner_thread_prunes_on_its_own(world: World) -> None:
    world.grant()
    _issue(world, 60)
    world.clock.advance(60 + FEED_EXPIRY_GRACE + SKEW + 1)
    pruner = Pruner(_ctx(world), 0.01)
    pruner.start()
    try:
        deadline = time.monotonic() + 10
        while _count(world, tokens) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        pruner.stop()
    assert _count(world, tokens) == 0


def test_discretion_prune_on_the_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "DISCRETION_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "broker.cli", "prune"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pruned 0 expired tokens and 0 revocation-feed entries"
