"""The token path's set-wise write (broker/oauth/token_writes.py): a run of token writes leaves
the rows that writing them one by one would, and fails as a whole whenever any one of them would
fail, so that the batcher can write each alone."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError

from broker.grantlog import events
from broker.oauth import token_writes
from broker.oauth.client_auth import VerifiedAssertion
from broker.oauth.client_credentials import StaleDecision
from broker.oauth.token_writes import TokenWrite
from broker.storage import agents as agent_store
from broker.storage import principals, recheck
from broker.storage.batch import WriteBatcher
from broker.storage.db import Store
from broker.storage.recheck import Recheck
from broker.storage.schema import agents, assertion_jtis, grant_log, grant_log_terms, tokens, users
from broker.storage.token_group import NotTogether
from broker.storage.tokens import TokenRecord
from tests.conftest import CALENDAR_URI, World

PARTIES = ("calendar-holder", "travel-agent")

NOW = 1_800_000_000.0


def _store(world: World) -> Store:
    return world.client.app.state.ctx.store  # type: ignore[attr-defined,no-any-return]


def _write(
    world: World, *, issued: bool = True, jti: str | None = None, expires: float = NOW + 60
) -> TokenWrite:
    """A token write as the token endpoint builds it: travel-agent reading alice's calendar."""
    with _store(world).read() as conn:
        agent = agent_store.get_agent(conn, "travel-agent", with_resources=False)
        user = principals.get_user(conn, user_id="alice")
    assert agent is not None
    assert user is not None
    token_id = secrets.token_urlsafe(16)
    event = events.Event(
        type=events.EventType.TOKEN_ISSUED if issued else events.EventType.TOKEN_DENIED,
        actors=("travel-agent",),
        subject=user.ref,
        resource=CALENDAR_URI,
        decision="allow" if issued else "deny",
        reasons=[] if issued else ["no_grant"],
        jti=token_id if issued else None,
        details={"inputs": {"requester": "travel-agent", "holder": "calendar-holder"}},
    )
    token = TokenRecord(
        jti=token_id,
        user_ref=user.ref,
        grant_id="g-1",
        client_id="travel-agent",
        holder_id="calendar-holder",
        audience=CALENDAR_URI,
        parties=("travel-agent", "calendar-holder"),
        parent_jti=None,
        kid="k",
        issued_at=NOW,
        expires_at=NOW + 300,
    )
    return TokenWrite(
        verified=VerifiedAssertion(agent=agent, jti=jti or secrets.token_urlsafe(16), expires_at=expires),
        proof=None,
        now=NOW,
        skew=30,
        event=event,
        token=token if issued else None,
        recheck=Recheck(user.ref, user.policy_version, ("calendar-holder", "travel-agent"))
        if issued
        else None,
    )


def _count(world: World, table: Any) -> int:
    with _store(world).read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _watch_psycopg(
    monkeypatch: pytest.MonkeyPatch,
    *,
    execute: Callable[[Any, Any], None] | None = None,
    commit: Callable[[Any], None] | None = None,
) -> None:
    """Calls `execute(cursor, query)` before each statement psycopg runs and `commit(connection)`
    before each commit, until `monkeypatch.undo()`."""
    import psycopg

    if execute is not None:
        real_execute = psycopg.Cursor.execute

        def watched_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            execute(self, query)
            return real_execute(self, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", watched_execute)
    if commit is not None:
        real_commit = psycopg.Connection.commit

        def watched_commit(self: Any) -> None:
            commit(self)
            real_commit(self)

        monkeypatch.setattr(psycopg.Connection, "commit", watched_commit)


def test_writes_together_leave_the_rows_of_writes_one_by_one(world: World) -> None:
    store = _store(world)
    start = _count(world, grant_log)
    together = [_write(world), _write(world, issued=False), _write(world)]
    alone = [_write(world), _write(world, issued=False), _write(world)]
    with store.write() as conn:
        assert TokenWrite.run_together(conn, together) == [w.event for w in together]
    for write in alone:
        with store.write() as conn:
            assert write(conn) == write.event
    with store.read() as conn:
        rows = conn.execute(select(grant_log).where(grant_log.c.seq > start).order_by(grant_log.c.seq)).all()
        terms = conn.execute(select(grant_log_terms.c.seq, grant_log_terms.c.term)).all()
        stored = set(conn.execute(select(tokens.c.jti)).scalars())
        spent = set(conn.execute(select(assertion_jtis.c.jti)).scalars())
    assert [row.seq for row in rows] == list(range(start + 1, start + 7))
    bodies = [json.loads(row.event) for row in rows]
    # The same events in the same order, each with its own sequence number in its body and hash.
    assert [(b["type"], b["jti"]) for b in bodies] == [
        (str(w.event.type), w.event.jti) for w in together + alone
    ]
    assert [b["seq"] for b in bodies] == [row.seq for row in rows]
    assert [row.leaf_hash for row in rows] == [events.leaf_hash(row.event.encode()) for row in rows]
    for row, body in zip(rows, bodies, strict=True):
        assert {term for seq, term in terms if seq == row.seq} == set(events.index_terms(body))
    issued = {w.event.jti for w in together + alone if w.token is not None}
    assert len(issued) == 4
    assert issued <= stored
    assert {w.verified.jti for w in together + alone} <= spent


def test_an_assertion_already_spent_fails_the_whole_set(world: World) -> None:
    spent = _write(world)
    with _store(world).write() as conn:
        spent(conn)
    before = (_count(world, grant_log), _count(world, tokens))
    replay = _write(world, jti=spent.verified.jti)
    with pytest.raises(NotTogether), _store(world).write() as conn:
        TokenWrite.run_together(conn, [_write(world), replay, _write(world)])
    assert (_count(world, grant_log), _count(world, tokens)) == before  # rolled back


def test_whole_and_fractional_times_mix_in_one_set(world: World) -> None:
    # A client's exp may be a JSON integer or a fraction; PostgreSQL's arrays take one type.
    writes = [_write(world, expires=int(NOW) + 60), _write(world, expires=NOW + 60.5)]
    with _store(world).write() as conn:
        assert TokenWrite.run_together(conn, writes) == [w.event for w in writes]
    with _store(world).read() as conn:
        stored = sorted(conn.execute(select(assertion_jtis.c.expires_at)).scalars())
    assert stored == [int(NOW) + 60, NOW + 60.5]


def test_one_assertion_twice_in_the_same_set_fails_it(world: World) -> None:
    first = _write(world)
    with pytest.raises(NotTogether), _store(world).write() as conn:
        TokenWrite.run_together(conn, [first, _write(world, jti=first.verified.jti)])
    assert _count(world, tokens) == 0


def test_a_policy_change_after_the_decision_fails_the_whole_set(world: World) -> None:
    writes = [_write(world), _write(world)]
    with _store(world).write() as conn:
        conn.execute(update(users).values(policy_version=users.c.policy_version + 1))
    with pytest.raises(NotTogether), _store(world).write() as conn:
        TokenWrite.run_together(conn, writes)
    assert _count(world, tokens) == 0


def test_an_agent_suspended_after_the_decision_fails_the_whole_set(world: World) -> None:
    writes = [_write(world), _write(world)]
    with _store(world).write() as conn:
        conn.execute(update(agents).where(agents.c.client_id == "calendar-holder").values(status="suspended"))
    with pytest.raises(NotTogether), _store(world).write() as conn:
        TokenWrite.run_together(conn, writes)
    assert _count(world, tokens) == 0


def test_a_stale_refusal_is_still_logged(world: World) -> None:
    # A refusal stores no token, so a policy change after it does not hold it back.
    refusal = _write(world, issued=False)
    with _store(world).write() as conn:
        conn.execute(update(users).values(policy_version=users.c.policy_version + 1))
    with _store(world).write() as conn:
        assert TokenWrite.run_together(conn, [refusal]) == [refusal.event]
    assert _count(world, tokens) == 0


def test_requests_in_flight_together_are_written_as_one_set(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.grant()
    sizes: list[int] = []
    real = TokenWrite.run_together

    def counted(conn: Any, writes: list[TokenWrite]) -> list[events.Event]:
        sizes.append(len(writes))
        return real(conn, writes)

    monkeypatch.setattr(TokenWrite, "run_together", staticmethod(counted))
    responses = world.post_at_once("/oauth2/token", [world.token_form(world.travel) for _ in range(8)])
    assert [r.status_code for r in responses] == [200] * 8
    assert sum(sizes) == 8
    assert max(sizes) > 1, sizes


def _without_purges(monkeypatch: pytest.MonkeyPatch) -> None:
    # One spend in 256 also purges expired jtis: a statement more, which would fail a count.
    monkeypatch.setattr(token_writes, "purge_sometimes", lambda *_args, **_kwargs: None)


def test_a_set_is_two_statements_on_postgresql_whatever_its_size(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each statement costs the event loop a round trip and the driver's overhead (token_group.py).
    store = _store(world)
    if store.is_sqlite:
        pytest.skip("PostgreSQL only: on SQLite a statement is a function call")
    texts: list[str] = []
    writes = [_write(world), _write(world, issued=False), _write(world), _write(world)]
    _without_purges(monkeypatch)
    _watch_psycopg(monkeypatch, execute=lambda _cursor, query: texts.append(str(query)))
    with store.write() as conn:
        TokenWrite.run_together(conn, writes)
    monkeypatch.undo()
    assert len(texts) == 2, texts
    assert "UPDATE log_head" in texts[0]
    assert "INSERT INTO grant_log " in texts[1]
    assert "FROM users" in texts[1]  # the re-check, in the statement after the lock
    assert _count(world, tokens) == 3


def test_a_pipelined_set_sends_its_second_step_and_exchange_rechecks_with_the_commit(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # BEGIN goes with the first step, whose result is read; the second step and a token
    # exchange's re-check go unread with the COMMIT, so a group is two round trips and the log
    # head's lock is held over one. That needs the statements and the COMMIT in one pipeline.
    store = _store(world)
    if store.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite has no round trips")
    from psycopg.pq import PipelineStatus

    seen: list[tuple[str, PipelineStatus]] = []
    cursors: list[Any] = []
    answered: list[bool] = []

    def execute(cursor: Any, query: Any) -> None:
        seen.append((str(query)[:30], cursor.connection.pgconn.pipeline_status))
        cursors.append(cursor)

    parent = _write(world)
    with store.write() as conn:
        parent(conn)  # a live token to delegate from
    assert parent.token is not None
    delegated = _write(world)
    plain = delegated.recheck
    assert plain is not None
    delegated = dataclasses.replace(
        delegated, recheck=dataclasses.replace(plain, parent_jti=parent.token.jti)
    )
    writes = [_write(world), _write(world, issued=False), delegated]
    _without_purges(monkeypatch)

    async def write() -> list[events.Event]:
        async with store.write_from_loop(pipelined=True) as conn:
            events = TokenWrite.run_together(conn, writes)
            answered.extend(cursor.pgresult is not None for cursor in cursors)
            return events

    _watch_psycopg(
        monkeypatch,
        execute=execute,
        commit=lambda connection: seen.append(("COMMIT", connection.pgconn.pipeline_status)),
    )
    assert asyncio.run(write()) == [w.event for w in writes]
    monkeypatch.undo()
    assert [status for _, status in seen] == [PipelineStatus.ON] * 4, seen
    assert seen[-1][0] == "COMMIT"
    # Neither the second step nor the exchange's re-check is a round trip of its own.
    assert answered == [True, False, False]
    assert _count(world, tokens) == 3


def test_a_stale_decision_fails_a_pipelined_set_at_its_commit(world: World) -> None:
    # Nothing reads the re-check before the COMMIT: the statement itself must fail (migration
    # 0006), which aborts the transaction; the connection is then fit for the next one.
    store = _store(world)
    if store.is_sqlite:
        pytest.skip("PostgreSQL only: on SQLite the re-check is read at once")
    writes = [_write(world), _write(world)]
    with store.write() as conn:
        conn.execute(update(users).values(policy_version=users.c.policy_version + 1))
    before = (_count(world, grant_log), _count(world, tokens), _count(world, assertion_jtis))

    async def write(batch: list[TokenWrite]) -> list[events.Event]:
        async with store.write_from_loop(pipelined=True) as conn:
            return TokenWrite.run_together(conn, batch)

    with pytest.raises(DBAPIError) as failed:
        asyncio.run(write(writes))
    assert getattr(failed.value.orig, "sqlstate", None) == recheck.STALE_SQLSTATE
    assert (_count(world, grant_log), _count(world, tokens), _count(world, assertion_jtis)) == before
    fresh = [_write(world), _write(world)]
    assert asyncio.run(write(fresh)) == [w.event for w in fresh]
    assert _count(world, tokens) == before[1] + 2


def test_a_stale_write_in_a_batch_fails_alone(world: World) -> None:
    # The batch (pipelined on PostgreSQL) fails as a whole; each write is then written alone.
    store = _store(world)
    good = [_write(world), _write(world)]
    with store.read() as conn:
        alice = principals.get_user(conn, user_id="alice")
    assert alice is not None
    stale_recheck = Recheck(alice.ref, alice.policy_version - 1, ("travel-agent", "calendar-holder"))
    stale = dataclasses.replace(_write(world), recheck=stale_recheck)
    batcher = WriteBatcher(store)

    async def scenario() -> list[object]:
        return await asyncio.gather(
            batcher.run(good[0]), batcher.run(stale), batcher.run(good[1]), return_exceptions=True
        )

    first, refused, second = asyncio.run(scenario())
    assert isinstance(refused, StaleDecision)
    assert (first, second) == (good[0].event, good[1].event)
    with store.read() as conn:
        stored = set(conn.execute(select(tokens.c.jti)).scalars())
    assert stale.event.jti not in stored
    assert {good[0].event.jti, good[1].event.jti} <= stored


def test_the_batcher_commits_a_run_of_token_writes_in_its_pipeline(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(world)
    if store.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite has no pipeline")
    from psycopg.pq import PipelineStatus

    statuses: list[PipelineStatus] = []
    writes = [_write(world), _write(world), _write(world, issued=False)]
    batcher = WriteBatcher(store)

    async def scenario() -> list[events.Event]:
        return await asyncio.gather(*(batcher.run(w) for w in writes))

    _watch_psycopg(monkeypatch, commit=lambda connection: statuses.append(connection.pgconn.pipeline_status))
    assert asyncio.run(scenario()) == [w.event for w in writes]
    monkeypatch.undo()
    assert statuses == [PipelineStatus.ON]
