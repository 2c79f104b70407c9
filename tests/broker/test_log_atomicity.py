"""No token without its grant-log record: a failed log write fails the whole action."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from broker import audit
from broker.storage.schema import tokens
from tests.conftest import World


def test_failed_log_write_issues_no_token(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.grant()

    def broken(*_args: object, **_kwargs: object) -> int:
        raise OperationalError("INSERT INTO grant_log", {}, Exception("disk full"))

    monkeypatch.setattr(audit, "append", broken)
    response = world.token(world.travel)
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert "access_token" not in response.text
    store = world.client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(tokens)).scalar_one() == 0


def test_failed_log_write_leaves_blocklist_unchanged(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> int:
        raise OperationalError("INSERT INTO grant_log", {}, Exception("disk full"))

    monkeypatch.setattr(audit, "append", broken)
    response = world.client.post(
        "/v1/me/blocklist",
        json={"kind": "agent", "value": "ad-agent"},
        headers={"Authorization": f"Bearer {world.alice_key}"},
    )
    assert response.status_code == 503
    monkeypatch.undo()
    listing = world.client.get("/v1/me/blocklist", headers={"Authorization": f"Bearer {world.alice_key}"})
    assert listing.json()["entries"] == []
