"""Grant budgets: tokens per hour and disclosures per day, spent atomically through the database."""

from __future__ import annotations

import json
import threading
from typing import Any

from sqlalchemy import select

from broker.storage import budgets
from broker.storage.schema import grant_log
from tests.broker.web.helpers import sign_in
from tests.conftest import ISSUER, World, auth


def _events(world: World, kind: str) -> list[dict[str, Any]]:
    with world.client.app.state.ctx.store.read() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(select(grant_log.c.event).order_by(grant_log.c.seq)).all()
    return [e for e in (json.loads(r.event) for r in rows) if e["type"] == kind]


def _set_budget(world: World, grant_id: str, **body: Any) -> Any:
    return world.client.put(f"/v1/me/grants/{grant_id}/budget", json=body, headers=auth(world.alice_key))


def test_token_budget_refuses_past_the_hour_limit_with_429_and_logs_it(world: World) -> None:
    grant = world.grant(tokens_per_hour=2)
    assert grant["tokens_per_hour"] == 2
    assert [world.token(world.travel).status_code for _ in range(2)] == [200, 200]
    refused = world.token(world.travel)
    assert refused.status_code == 429
    assert refused.json()["error"] == "slow_down"
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    denied = [e for e in _events(world, "token.denied") if "budget_exhausted" in e["reasons"]]
    assert len(denied) == 1
    assert denied[0]["details"]["grant_id"] == grant["grant_id"]
    assert denied[0]["details"]["tokens_per_hour"] == 2
    # The next hour has a fresh budget.
    world.clock.advance(3600)
    assert world.token(world.travel).status_code == 200


def test_budget_set_later_applies_to_the_next_request_and_is_logged(world: World) -> None:
    grant = world.grant()
    for _ in range(3):
        assert world.token(world.travel).status_code == 200
    response = _set_budget(world, grant["grant_id"], tokens_per_hour=1, disclosures_per_day=5)
    assert response.status_code == 200, response.text
    assert response.json()["tokens_per_hour"] == 1
    assert _events(world, "grant.budget_set")[0]["details"]["tokens_per_hour"] == 1
    assert world.token(world.travel).status_code == 200
    assert world.token(world.travel).status_code == 429
    lifted = _set_budget(world, grant["grant_id"], tokens_per_hour=None)
    assert lifted.json()["tokens_per_hour"] is None
    assert world.token(world.travel).status_code == 200


def test_zero_budget_refuses_every_token(world: World) -> None:
    world.grant(tokens_per_hour=0)
    assert world.token(world.travel).status_code == 429


def test_budget_of_another_users_grant_cannot_be_set(world: World) -> None:
    grant = world.grant()
    bob = world.client.post("/v1/users", json={"user_id": "bob"}, headers=auth(world.admin_key)).json()
    response = world.client.put(
        f"/v1/me/grants/{grant['grant_id']}/budget",
        json={"tokens_per_hour": 100000},
        headers=auth(bob["api_key"]),
    )
    assert response.status_code == 404
    assert _set_budget(world, grant["grant_id"], tokens_per_hour=-1).status_code == 422


def test_concurrent_requests_in_one_commit_group_never_overspend(world: World) -> None:
    world.grant(tokens_per_hour=3)
    forms = [world.token_form(world.travel) for _ in range(8)]
    codes = sorted(r.status_code for r in world.post_at_once("/oauth2/token", forms))
    assert codes == [200, 200, 200, 429, 429, 429, 429, 429]


def test_concurrent_spends_on_separate_connections_never_overspend(world: World) -> None:
    """As two replicas would: each spend in its own transaction on its own connection."""
    grant = world.grant(tokens_per_hour=25)
    store = world.client.app.state.ctx.store  # type: ignore[attr-defined]
    now = world.clock.now
    results: list[int | None] = []
    lock = threading.Lock()

    def spend_many() -> None:
        for _ in range(20):
            with store.write() as conn:
                got = budgets.spend(conn, grant["grant_id"], budgets.TOKENS, now)
            with lock:
                results.append(got)

    threads = [threading.Thread(target=spend_many) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spent = sorted(r for r in results if r is not None)
    assert spent == list(range(1, 26))
    assert results.count(None) == 35
    with store.read() as conn:
        assert budgets.used(conn, grant["grant_id"], budgets.TOKENS, now) == 25
        assert budgets.purge(conn, now + 7200) == 1


def test_disclosure_budget_refuses_past_the_day_limit_and_logs_it(world: World) -> None:
    world.grant(disclosures_per_day=1)
    token = world.token(world.travel).json()["access_token"]

    def disclose() -> Any:
        headers = {
            "Authorization": f"Bearer {world.calendar.assertion(ISSUER, now=world.clock.now)}",
            "Content-Type": "application/json",
        }
        body = json.dumps({"token": token, "data": {"note": "hello"}}).encode()
        return world.client.post("/v1/disclose", content=body, headers=headers)

    assert disclose().status_code == 200
    refused = disclose()
    assert refused.status_code == 429, refused.text
    assert "Retry-After" in refused.headers
    exhausted = _events(world, "grant.budget_exhausted")
    assert len(exhausted) == 1
    assert exhausted[0]["details"]["disclosures_per_day"] == 1
    assert len(_events(world, "data.disclosed")) == 1


def test_a_user_sets_budgets_on_a_new_grant_in_the_console(world: World) -> None:
    csrf = sign_in(world.client, world.alice_key)
    page = world.client.post(
        "/console/grants",
        data={
            "csrf": csrf,
            "target": "agent",
            "agent": "travel-agent",
            "resource": "https://calendar.example/api",
            "scopes": "calendar:read",
            "max_ttl_seconds": "600",
            "max_delegation_depth": "0",
            "tokens_per_hour": "1",
            "disclosures_per_day": "",
        },
        follow_redirects=True,
    )
    assert page.status_code == 200, page.text
    assert "1 tokens/hour" in page.text
    (grant,) = world.client.get("/v1/me/grants", headers=auth(world.alice_key)).json()["grants"]
    assert (grant["tokens_per_hour"], grant["disclosures_per_day"]) == (1, None)
    assert world.token(world.travel).status_code == 200
    assert world.token(world.travel).status_code == 429
