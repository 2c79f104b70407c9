"""Grant budgets against an agent that tries to get past them."""

from __future__ import annotations

from tests.conftest import World


def test_concurrent_token_requests_cannot_overspend_a_grants_hourly_budget(world: World) -> None:
    world.grant(tokens_per_hour=2)
    forms = [world.token_form(world.travel) for _ in range(6)]
    codes = [r.status_code for r in world.post_at_once("/oauth2/token", forms)]
    assert codes.count(200) == 2
    assert codes.count(429) == 4


def test_a_refused_budget_request_does_not_say_how_much_was_used_or_by_whom(world: World) -> None:
    world.grant(tokens_per_hour=1)
    assert world.token(world.travel).status_code == 200
    refused = world.token(world.travel)
    assert refused.status_code == 429
    body = refused.json()
    assert set(body) <= {"error", "error_description"}
    assert body["error"] == "slow_down"
    assert "1" not in body.get("error_description", "")


def test_an_agent_cannot_lift_its_own_budget_with_its_credentials(world: World) -> None:
    """Only the user (its key) can lift or raise a budget; the agent's credentials cannot."""
    grant = world.grant(tokens_per_hour=1)
    headers = {"Authorization": f"Bearer {world.travel.assertion('http://testserver', now=world.clock.now)}"}
    response = world.client.put(
        f"/v1/me/grants/{grant['grant_id']}/budget", json={"tokens_per_hour": None}, headers=headers
    )
    assert response.status_code == 401
