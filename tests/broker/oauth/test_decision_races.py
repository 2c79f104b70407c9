"""A change that commits between a token's decision and its write is never bypassed: the write
re-checks what the decision read, after taking the log head's lock (docs/internals.md, "Why the
re-check is enough"). Each test commits the change at that exact moment, from inside the decision."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from broker.services.admin import AdminService
from broker.services.me import MeService
from broker.storage import principals
from broker.storage.schema import grant_log, tokens
from policy import Effect, EntryKind
from tests.broker.oauth.decisions import change_after_first_decision
from tests.conftest import World


def _ctx(world: World) -> Any:
    return world.client.app.state.ctx  # type: ignore[attr-defined]


def _alice(world: World) -> principals.UserRecord:
    with _ctx(world).store.read() as conn:
        user = principals.get_user(conn, user_id="alice")
    assert user is not None
    return user


def _log_types(world: World) -> list[str]:
    with _ctx(world).store.read() as conn:
        return list(conn.execute(select(grant_log.c.event_type).order_by(grant_log.c.seq)).scalars())


def _block(world: World, kind: EntryKind, value: str) -> Callable[[], None]:
    """alice's block of `value`, as a change to commit at the chosen moment."""
    user = _alice(world)

    def block() -> None:
        MeService(_ctx(world)).add_entry(user, kind=kind, value=value, effect=Effect.BLOCK, note=None)

    return block


def _tokens(world: World) -> int:
    with _ctx(world).store.read() as conn:
        return len(conn.execute(select(tokens.c.jti)).all())


def test_a_block_committed_after_the_decision_refuses_the_token(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.grant()
    change_after_first_decision(monkeypatch, _block(world, EntryKind.ORGANIZATION, "Wanderly Travel"))
    assert world.token(world.travel).status_code == 403
    assert _tokens(world) == 0
    assert _log_types(world)[-2:] == ["list.entry_added", "token.denied"]


def test_a_grant_revoked_after_the_decision_refuses_the_token(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    grant = world.grant()
    user = _alice(world)
    change_after_first_decision(
        monkeypatch, lambda: MeService(_ctx(world)).revoke_grant(user, grant["grant_id"])
    )
    assert world.token(world.travel).status_code == 403
    assert _tokens(world) == 0
    assert _log_types(world)[-2:] == ["grant.revoked", "token.denied"]


def test_an_agent_suspended_after_the_decision_gets_no_token(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.grant()
    admin = AdminService(_ctx(world))
    change_after_first_decision(monkeypatch, lambda: admin.set_suspended("travel-agent", True, admin="test"))
    # Decided again, the suspended agent no longer authenticates.
    assert world.token(world.travel).status_code == 401
    assert _tokens(world) == 0
    assert "token.issued" not in _log_types(world)


def test_requests_in_one_commit_group_all_see_the_change(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.grant()
    change_after_first_decision(monkeypatch, _block(world, EntryKind.AGENT, "travel-agent"))
    responses = world.post_at_once("/oauth2/token", [world.token_form(world.travel) for _ in range(6)])
    # Decided before the block or after it, none of them may be issued once it has committed.
    assert [r.status_code for r in responses] == [403] * 6
    assert _tokens(world) == 0
