"""No token without its grant-log record: a failed log write fails the whole action."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from broker.grantlog import events
from broker.storage.schema import grant_log, tokens
from tests.conftest import World


def test_failed_log_write_issues_no_token(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.grant()

    def broken(*_args: object, **_kwargs: object) -> list[int]:
        raise OperationalError("INSERT INTO grant_log", {}, Exception("disk full"))

    # Every log write, alone or set-wise, is built by event_rows.
    monkeypatch.setattr(events, "event_rows", broken)
    response = world.token(world.travel)
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert "access_token" not in response.text
    store = world.client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(tokens)).scalar_one() == 0


def test_failed_log_write_leaves_blocklist_unchanged(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> list[int]:
        raise OperationalError("INSERT INTO grant_log", {}, Exception("disk full"))

    # Every log write, alone or set-wise, is built by event_rows.
    monkeypatch.setattr(events, "event_rows", broken)
    response = world.client.post(
        "/v1/me/blocklist",
        json={"kind": "agent", "value": "ad-agent"},
        headers={"Authorization": f"Bearer {world.alice_key}"},
    )
    assert response.status_code == 503
    monkeypatch.undo()
    listing = world.client.get("/v1/me/blocklist", headers={"Authorization": f"Bearer {world.alice_key}"})
    assert listing.json()["entries"] == []


def test_requests_committed_together_each_get_their_own_record(world: World) -> None:
    world.grant()
    forms = [world.token_form(world.travel) for _ in range(12)] + [
        world.token_form(world.ads) for _ in range(4)
    ]
    responses = world.post_at_once("/oauth2/token", forms)
    assert sorted(r.status_code for r in responses) == [200] * 12 + [403] * 4
    issued = {
        jwt.decode(r.json()["access_token"], options={"verify_signature": False})["jti"]
        for r in responses
        if r.status_code == 200
    }
    store = world.client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.read() as conn:
        rows = conn.execute(select(grant_log.c.seq, grant_log.c.jti, grant_log.c.event_type)).all()
        stored = set(conn.execute(select(tokens.c.jti)).scalars())
    seqs = sorted(row.seq for row in rows)
    assert seqs == list(range(1, len(seqs) + 1))  # contiguous, no holes from rolled-back jobs
    assert issued == stored == {row.jti for row in rows if row.jti}
    refusals = [row for row in rows if row.event_type == "token.denied"]
    assert len(refusals) == 4


def test_a_log_write_that_fails_within_a_group_fails_only_its_own_request(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.grant()
    seen: list[str] = []
    real_event_rows = events.event_rows

    def fails_for_the_third_token(events: list[tuple[events.Event, float]], *, last: int) -> Any:
        for event, _ in events:
            if event.jti not in seen:
                seen.append(str(event.jti))
        if len(seen) > 2 and any(event.jti == seen[2] for event, _ in events):
            raise OperationalError("INSERT INTO grant_log", {}, Exception("disk full"))
        return real_event_rows(events, last=last)

    monkeypatch.setattr(events, "event_rows", fails_for_the_third_token)
    responses = world.post_at_once("/oauth2/token", [world.token_form(world.travel) for _ in range(5)])
    # The group is rolled back and each request written alone: only the failing one fails (503).
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 503]
    store = world.client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(tokens)).scalar_one() == 4
        seqs = sorted(conn.execute(select(grant_log.c.seq)).scalars())
    assert seqs == list(range(1, len(seqs) + 1))


def test_a_log_write_the_database_refuses_is_a_503_not_a_server_error(world: World) -> None:
    # A real error from the database (not a lost connection) on the token path's plain driver
    # statements: raised as SQLAlchemy's, so the API fails closed with 503.
    world.grant()
    store = world.client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.write() as conn:
        if store.is_sqlite:
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON grant_log BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON grant_log FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
    response = world.token(world.travel)
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "temporarily_unavailable"
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(tokens)).scalar_one() == 0
