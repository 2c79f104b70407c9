"""At start the broker recomputes the tree and refuses to serve a log that differs from what it signed."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, update

from broker.api import create_app
from broker.grantlog.log import LogIntegrityError
from broker.settings import Settings
from broker.storage.db import Store
from broker.storage.schema import grant_log, log_head
from tests.conftest import ISSUER, Clock, World


def _restart(settings: Settings, clock: Clock) -> None:
    with TestClient(create_app(settings, clock=clock), base_url=ISSUER):
        pass


def test_restart_with_an_intact_log_succeeds(world: World, settings: Settings, clock: Clock) -> None:
    world.grant()
    _restart(settings, clock)


def test_edited_event_stops_the_start(world: World, settings: Settings, clock: Clock) -> None:
    world.grant()
    world.client.post("/v1/audit/checkpoints")  # unauthenticated: ignored, the start signed one
    store = Store(settings.resolved_database_url)
    with store.write() as conn:
        row = conn.execute(grant_log.select().where(grant_log.c.seq == 2)).one()
        body = json.loads(row.event)
        body["actors"] = ["forged"]
        conn.execute(update(grant_log).where(grant_log.c.seq == 2).values(event=json.dumps(body)))
    store.dispose()
    with pytest.raises(LogIntegrityError, match="event 2 does not match its stored leaf hash"):
        _restart(settings, clock)


def test_truncated_log_stops_the_start(world: World, settings: Settings, clock: Clock) -> None:
    world.grant()
    with TestClient(create_app(settings, clock=clock), base_url=ISSUER):
        pass  # signs a checkpoint over everything
    store = Store(settings.resolved_database_url)
    with store.write() as conn:
        last = conn.execute(log_head.select()).one().size
        conn.execute(delete(grant_log).where(grant_log.c.seq == last))
        conn.execute(update(log_head).values(size=last - 1))
    store.dispose()
    with pytest.raises(LogIntegrityError, match="truncated"):
        _restart(settings, clock)


def test_a_gap_in_the_log_stops_the_running_tree(world: World, settings: Settings) -> None:
    """The tree folds in only new leaves while serving; a missing one is refused, not skipped."""
    audit_log = world.client.app.state.audit_log  # type: ignore[attr-defined]
    before = audit_log.tree_size()
    world.grant()
    world.grant()
    store = Store(settings.resolved_database_url)
    with store.write() as conn:
        conn.execute(delete(grant_log).where(grant_log.c.seq == before + 1))
    store.dispose()
    with pytest.raises(LogIntegrityError, match=f"event {before + 1} is missing"):
        audit_log.tree_size()
