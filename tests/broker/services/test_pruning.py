"""Pruning expired tokens and revocation-feed entries (broker/services/housekeeping.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jwt
from sqlalchemy import func, select, update

from broker.oauth.endpoint import FEED_EXPIRY_GRACE
from broker.services.housekeeping import Pruner, prune
from broker.storage.schema import revocations, tokens
from tests.conftest import ISSUER, World

SKEW = 30  # the test settings' clock skew (the default)
# After this long from its issue any token has expired and is past the feed's grace.
LONGEST = 3600 + FEED_EXPIRY_GRACE + SKEW  # max_token_lifetime (the default) + grace + skew


def _ctx(world: World) -> Any:
    return world.client.app.state.ctx  # type: ignore[attr-defined]


def _count(world: World, table: Any) -> int:
    with _ctx(world).store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _jti(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


def _jtis(world: World) -> set[str]:
    with _ctx(world).store.read() as conn:
        return set(conn.execute(select(tokens.c.jti)).scalars())


def _issue(world: World, lifetime: int) -> str:
    response = world.token(world.travel, expires_in=str(lifetime))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _revoke(world: World, token: str) -> None:
    form = {"token": token, **world.travel.auth_form(ISSUER, now=world.clock.now)}
    assert world.client.post("/oauth2/revoke", data=form).status_code == 200


def test_tokens_go_once_the_longest_lifetime_and_the_grace_have_passed(world: World) -> None:
    world.grant()
    old = [_issue(world, 60) for _ in range(3)]
    world.clock.advance(LONGEST - 5)
    assert prune(_ctx(world)) == (0, 0)
    fresh = _issue(world, 600)
    world.clock.advance(10)
    assert prune(_ctx(world)) == (3, 0)
    assert _jtis(world) == {_jti(fresh)}
    assert not {_jti(token) for token in old} & _jtis(world)
    assert prune(_ctx(world)) == (0, 0)


def test_feed_entries_go_once_the_grace_has_passed_and_the_newest_stays(world: World) -> None:
    world.grant()
    short = [_issue(world, 60) for _ in range(3)]
    _revoke(world, short[0])
    _revoke(world, short[1])
    world.clock.advance(60 + FEED_EXPIRY_GRACE + SKEW - 5)
    assert prune(_ctx(world)) == (0, 0)
    world.clock.advance(10)
    # The newest feed entry always stays (SQLite's feed sequence is the rowid).
    assert prune(_ctx(world)) == (0, 1)
    assert _count(world, revocations) == 1


def test_a_token_still_live_when_the_walk_passes_it_is_kept(world: World) -> None:
    # A lifetime over today's max_token_lifetime (the setting was lowered since): never deleted early.
    world.grant()
    token = _issue(world, 60)
    with _ctx(world).store.write() as conn:
        conn.execute(update(tokens).values(expires_at=world.clock.now + 10 * LONGEST))
    world.clock.advance(LONGEST + 1)
    assert prune(_ctx(world)) == (0, 0)
    assert _jtis(world) == {_jti(token)}


def test_a_pruned_token_answers_as_an_expired_one(world: World) -> None:
    world.grant()
    token = _issue(world, 60)
    world.clock.advance(LONGEST + 1)
    assert prune(_ctx(world)) == (1, 0)
    assert world.introspect(token) == {"active": False}
    _revoke(world, token)  # a no-op, as for any unknown token
    assert _count(world, revocations) == 0


def test_the_feed_cursor_keeps_rising_after_pruning(world: World) -> None:
    world.grant()
    for token in [_issue(world, 60) for _ in range(3)]:
        _revoke(world, token)
    cursor = world.feed()["cursor"]
    world.clock.advance(LONGEST + 1)
    assert prune(_ctx(world)) == (3, 2)
    _revoke(world, _issue(world, 600))
    feed = world.feed(since=cursor)
    assert len(feed["revocations"]) == 1  # the new entry is numbered after the old cursor
    assert int(feed["cursor"]) > int(cursor)


def test_prune_works_in_batches(world: World) -> None:
    world.grant()
    for _ in range(5):
        _issue(world, 60)
    world.clock.advance(LONGEST + 1)
    assert prune(_ctx(world), batch=2) == (5, 0)
    assert _count(world, tokens) == 0


def test_the_pruner_thread_prunes_on_its_own(world: World) -> None:
    world.grant()
    _issue(world, 60)
    world.clock.advance(LONGEST + 1)
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
        [sys.executable, "-m", "broker.process.cli", "prune"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pruned 0 expired tokens and 0 revocation-feed entries"
