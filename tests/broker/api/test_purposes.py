"""The purpose vocabulary over the API: listing, grants that list registered purposes (and the older
single `purpose` field), token claims, and replay of decisions made under purposes."""

from __future__ import annotations

import json

import jwt

from broker.grantlog.replay import replay_log
from broker.validation import MAX_GRANT_PURPOSES
from policy import Limits
from tests.broker.grantlog.helpers import auditor_key, export_lines
from tests.conftest import CALENDAR_URI, World, auth


def _post_grant(world: World, **extra: object) -> object:
    body = {
        "agent": "travel-agent",
        "resource": CALENDAR_URI,
        "scopes": ["calendar:read"],
        "max_ttl_seconds": 600,
        **extra,
    }
    return world.client.post("/v1/me/grants", json=body, headers=auth(world.alice_key))


def test_every_signed_in_role_lists_the_purposes_with_their_descriptions(world: World) -> None:
    world.purpose("trip-planning", "Plan and book travel")
    world.purpose("expenses", "File travel expenses")
    auditor = world.client.post("/v1/auditors", json={"name": "Ada"}, headers=auth(world.admin_key)).json()
    for key in (world.admin_key, world.alice_key, auditor["api_key"]):
        listed = world.client.get("/v1/purposes", headers=auth(key))
        assert listed.status_code == 200
        assert [(p["code"], p["description"], p["retired"]) for p in listed.json()["purposes"]] == [
            ("expenses", "File travel expenses", False),
            ("trip-planning", "Plan and book travel", False),
        ]
    assert world.client.get("/v1/purposes").status_code == 401


def test_a_description_is_kept_on_one_line(world: World) -> None:
    made = world.purpose("trip-planning", "  Plan and\n book   travel ")
    assert made["description"] == "Plan and book travel"


def test_a_grant_lists_registered_purposes_and_tokens_name_one_of_them(world: World) -> None:
    world.purpose("trip-planning")
    world.purpose("expenses")
    grant = world.grant(purposes=["trip-planning", "expenses", "trip-planning"])
    assert grant["purposes"] == ["trip-planning", "expenses"]  # duplicates collapse, order kept
    assert grant["purpose"] is None  # the older single field: only for a one-purpose grant
    (listed,) = world.client.get("/v1/me/grants", headers=auth(world.alice_key)).json()["grants"]
    assert listed["purposes"] == ["trip-planning", "expenses"]
    for purpose in ("trip-planning", "expenses"):
        response = world.token(world.travel, purpose=purpose)
        assert response.status_code == 200, response.text
        claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
        assert claims["purpose"] == purpose
    assert world.token(world.travel).status_code == 403


def test_the_older_single_purpose_field_is_a_one_element_list(world: World) -> None:
    world.purpose("trip-planning")
    grant = world.grant(purpose="trip-planning")
    assert (grant["purposes"], grant["purpose"]) == (["trip-planning"], "trip-planning")
    both = _post_grant(world, purpose="trip-planning", purposes=["trip-planning"])
    assert both.status_code == 422  # type: ignore[attr-defined]
    unknown = _post_grant(world, purpose="unknown-code")
    assert unknown.status_code == 422  # type: ignore[attr-defined]
    detail = unknown.json()["detail"]  # type: ignore[attr-defined]
    assert detail.startswith("purpose is not a registered, live purpose")
    assert "unknown-code" not in detail


def test_a_grant_names_at_most_a_bounded_number_of_purposes(world: World) -> None:
    codes = [f"p{i}" for i in range(MAX_GRANT_PURPOSES + 1)]
    for code in codes:
        world.purpose(code)
    assert _post_grant(world, purposes=codes).status_code == 422  # type: ignore[attr-defined]
    assert world.grant(purposes=codes[:MAX_GRANT_PURPOSES])["purposes"] == codes[:MAX_GRANT_PURPOSES]


def test_the_unregistered_purpose_is_named_by_its_position(world: World) -> None:
    world.purpose("trip-planning")
    refused = _post_grant(world, purposes=["trip-planning", "nope"])
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert refused.json()["detail"].startswith("purposes[1] is not a registered, live purpose")  # type: ignore[attr-defined]
    assert world.client.get("/v1/me/grants", headers=auth(world.alice_key)).json()["grants"] == []


def test_retiring_an_unknown_purpose_is_404_and_twice_is_harmless(world: World) -> None:
    assert world.client.delete("/v1/purposes/nope", headers=auth(world.admin_key)).status_code == 404
    long_code = "/v1/purposes/" + "a" * 500
    assert world.client.delete(long_code, headers=auth(world.admin_key)).status_code == 404
    world.purpose("billing/v2")  # a code may hold a slash
    first = world.client.delete("/v1/purposes/billing/v2", headers=auth(world.admin_key))
    assert first.status_code == 200
    again = world.client.delete("/v1/purposes/billing/v2", headers=auth(world.admin_key))
    assert again.json()["retired_at"] == first.json()["retired_at"]


def test_replay_reproduces_decisions_under_purposes(world: World) -> None:
    key = auditor_key(world)
    world.purpose("trip-planning")
    world.purpose("advertising")
    world.grant(purposes=["trip-planning"])
    assert world.token(world.travel, purpose="trip-planning").status_code == 200
    assert world.token(world.travel, purpose="advertising").status_code == 403
    assert world.token(world.travel).status_code == 403
    events = [json.loads(line)["event"] for line in export_lines(world.client, key)]
    results = replay_log(events, Limits())
    assert len(results) == 3
    assert all(r.same for r in results), [(r.logged, r.replayed) for r in results if not r.same]
