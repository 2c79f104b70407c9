"""The re-check inside the write (broker/storage/recheck.py): read (`recheck.holds`) and required
unread in a commit group (`token_group.log_and_require`: on PostgreSQL statements that fail by
themselves), the two forms must agree on every chain and every change."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Connection, update

from broker.storage import agents as agent_store
from broker.storage import principals, recheck, token_group
from broker.storage import tokens as token_store
from broker.storage.db import Store
from broker.storage.recheck import Recheck
from broker.storage.schema import agents, tokens, users
from tests.conftest import CALENDAR_URI, World

PARTIES = ("calendar-holder", "travel-agent")


def _store(world: World) -> Store:
    return world.client.app.state.ctx.store  # type: ignore[attr-defined,no-any-return]


def _token(conn: Connection, user_ref: str, jti: str, parent: str | None) -> None:
    token_store.insert_token(
        conn,
        token_store.TokenRecord(
            jti=jti,
            user_ref=user_ref,
            grant_id="g-1",
            client_id="travel-agent",
            holder_id="calendar-holder",
            audience=CALENDAR_URI,
            parties=PARTIES,
            parent_jti=parent,
            kid="k",
            issued_at=1.0,
            expires_at=2e9,
        ),
    )


def _revoke(jti: str) -> Callable[[Connection, str], None]:
    return lambda conn, _ref: conn.execute(update(tokens).where(tokens.c.jti == jti).values(revoked_at=5.0))


def _vanish_root(conn: Connection, _ref: str) -> None:
    conn.execute(update(tokens).where(tokens.c.jti == "child").values(parent_jti="gone"))


def _cycle(conn: Connection, _ref: str) -> None:
    conn.execute(update(tokens).where(tokens.c.jti == "root").values(parent_jti="child"))


def _suspend(conn: Connection, _ref: str) -> None:
    conn.execute(update(agents).where(agents.c.client_id == "travel-agent").values(status="suspended"))


def _bump(conn: Connection, ref: str) -> None:
    conn.execute(update(users).where(users.c.ref == ref).values(policy_version=users.c.policy_version + 1))


CHANGES: dict[str, Callable[[Connection, str], None] | None] = {
    "nothing": None,
    "the parent revoked": _revoke("child"),
    "the root revoked": _revoke("root"),
    "an ancestor vanished": _vanish_root,
    "a cycle": _cycle,
    "a party suspended": _suspend,
    "the policy changed": _bump,
}


@pytest.mark.parametrize("change", CHANGES)
def test_the_recheck_read_and_required_agree(world: World, change: str) -> None:
    store = _store(world)
    with store.write() as conn:
        alice = principals.get_user(conn, user_id="alice")
        assert alice is not None
        _token(conn, alice.ref, "root", None)
        _token(conn, alice.ref, "child", "root")
        applied = CHANGES[change]
        if applied is not None:
            applied(conn, alice.ref)
    delegation = Recheck(alice.ref, alice.policy_version, PARTIES, "child")
    _agree(store, delegation, holds=change == "nothing")


PLAIN_CHANGES = {key: CHANGES[key] for key in ("nothing", "a party suspended", "the policy changed")}


@pytest.mark.parametrize("change", PLAIN_CHANGES)
def test_a_recheck_without_a_parent_read_and_required_agree(world: World, change: str) -> None:
    store = _store(world)
    with store.write() as conn:
        alice = principals.get_user(conn, user_id="alice")
        assert alice is not None
        applied = PLAIN_CHANGES[change]
        if applied is not None:
            applied(conn, alice.ref)
    _agree(store, Recheck(alice.ref, alice.policy_version, PARTIES), holds=change == "nothing")


def test_a_refusals_recheck_ignores_a_suspension(world: World) -> None:
    # A suspension cannot turn a refusal into a token, so it does not hold a refusal back.
    store = _store(world)
    with store.write() as conn:
        alice = principals.get_user(conn, user_id="alice")
        assert alice is not None
        _suspend(conn, alice.ref)
    _agree(store, Recheck(alice.ref, alice.policy_version), holds=True)


def test_a_batch_holds_only_when_every_recheck_does(world: World) -> None:
    store = _store(world)
    with store.read() as conn:
        alice = principals.get_user(conn, user_id="alice")
    assert alice is not None
    current = Recheck(alice.ref, alice.policy_version, ("travel-agent", "calendar-holder"))
    with store.read() as conn:
        assert recheck.holds(conn, [current, current])
        assert not recheck.holds(conn, [current, Recheck(alice.ref, 99, ("travel-agent", "ad-agent"))])
        assert not recheck.holds(conn, [current, Recheck("u-nobody", 0, ("travel-agent", "ad-agent"))])
        assert not recheck.holds(conn, [Recheck(alice.ref, 0, ("travel-agent", "no-such-agent"))])
    _agree(store, Recheck(alice.ref, 99), holds=False)


@pytest.mark.parametrize("parent", [None, "child"], ids=["plain", "delegation"])
@pytest.mark.parametrize("rotated", [False, True], ids=["same-keys", "keys-rotated"])
def test_a_key_rotation_since_the_decision_is_seen_by_both_forms(
    world: World, parent: str | None, rotated: bool
) -> None:
    # A decision that used an agent's keys names the updated_at it saw; a rotation changes it.
    store = _store(world)
    with store.write() as conn:
        alice = principals.get_user(conn, user_id="alice")
        travel = agent_store.get_agent(conn, "travel-agent")
        assert alice is not None
        assert travel is not None
        _token(conn, alice.ref, "root", None)
        _token(conn, alice.ref, "child", "root")
        if rotated:
            agent_store.set_jwks(conn, "travel-agent", travel.jwks, travel.updated_at + 0.001)
    stamps = (("travel-agent", travel.updated_at),)
    _agree(store, Recheck(alice.ref, alice.policy_version, PARTIES, parent, stamps), holds=not rotated)


def _agree(store: Store, checked: Recheck, *, holds: bool) -> None:
    with store.read() as conn:
        assert recheck.holds(conn, [checked]) is holds
    with store.write() as conn:
        if holds:
            token_group.log_and_require(conn, [], [], [checked])
        else:
            with pytest.raises(token_group.NotTogether):
                token_group.log_and_require(conn, [], [], [checked])
