"""Agents cannot choose the purpose text written into the permanent grant log: a purpose is a
registered value (an admin registers it with `POST /v1/purposes`), a token request naming anything
else is refused before the log is written, a retired purpose is refused for new tokens and grants,
and a registered purpose the grant does not list is the policy's refusal."""

from __future__ import annotations

import json

import jwt
import pytest
from sqlalchemy import select

from broker.oauth.client_credentials import UNREGISTERED_PURPOSE
from broker.storage.schema import grant_log
from tests.conftest import CALENDAR_URI, ISSUER, World, auth

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"


def _log(world: World) -> list[str]:
    """Every stored event, as the raw text kept for good."""
    store = world.client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.read() as conn:
        return list(conn.execute(select(grant_log.c.event).order_by(grant_log.c.seq)).scalars())


def _token_events(world: World) -> list[dict[str, object]]:
    events = [json.loads(e) for e in _log(world)]
    return [e for e in events if str(e["type"]).startswith("token.")]


def _refused_unregistered(response: object) -> None:
    assert response.status_code == 400, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["error"] == "invalid_request"
    assert body["error_description"] == UNREGISTERED_PURPOSE  # fixed: nothing of what was sent


def _grant_body(**extra: object) -> dict[str, object]:
    return {
        "agent": "travel-agent",
        "resource": CALENDAR_URI,
        "scopes": ["calendar:read"],
        "max_ttl_seconds": 600,
        **extra,
    }


def test_an_unregistered_purpose_is_refused_and_never_logged(world: World) -> None:
    world.grant()  # no purposes: any registered purpose, or none
    code = "exfiltrate-alice-calendar"  # a valid code, just not a registered one
    _refused_unregistered(world.token(world.travel, purpose=code))
    assert _token_events(world) == []
    assert not [e for e in _log(world) if code in e]
    # Registered, the same code is fine, and it is what the token and the log then carry.
    world.purpose(code, "Read the calendar")
    response = world.token(world.travel, purpose=code)
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["purpose"] == code
    (issued,) = _token_events(world)
    assert issued["details"]["inputs"]["purpose"] == code  # type: ignore[index]


@pytest.mark.parametrize(
    "purpose",
    [
        "a" * 2048,
        "trip\x00planning",
        "trip\u0007planning",
        "trip\nplanning",
        "trip\u200bplanning",  # zero-width space
        "trip-p\u0406anning",  # Cyrillic capital I for the l
        "\uff54rip-planning",  # full-width t
        "trip\u2010planning",  # Unicode hyphen
    ],
    ids=[
        "2kb",
        "nul",
        "bell",
        "newline",
        "zero-width",
        "cyrillic-confusable",
        "full-width",
        "unicode-hyphen",
    ],
)
def test_a_long_control_or_confusable_purpose_is_refused_and_not_logged(world: World, purpose: str) -> None:
    world.purpose("trip-planning", "Plan and book travel")
    world.grant(purposes=["trip-planning"])
    response = world.token(world.travel, purpose=purpose)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert purpose not in response.text
    # Not as a grant's purpose either: 422 naming the field, without echoing it.
    refused = world.client.post(
        "/v1/me/grants", json=_grant_body(purposes=[purpose]), headers=auth(world.alice_key)
    )
    assert refused.status_code == 422
    assert purpose not in refused.text
    # Nor as a purpose an admin registers.
    registered = world.client.post(
        "/v1/purposes", json={"code": purpose, "description": "x"}, headers=auth(world.admin_key)
    )
    assert registered.status_code == 422
    assert _token_events(world) == []
    escaped = json.dumps(purpose)[1:-1]  # as JSON would store it, control characters escaped
    assert not [e for e in _log(world) if purpose in e or escaped in e]


def test_a_retired_purpose_is_refused_for_new_tokens_grants_and_delegations(world: World) -> None:
    world.purpose("trip-planning", "Plan and book travel")
    world.grant(purposes=["trip-planning"], max_delegation_depth=1)
    parent = world.token(world.travel, purpose="trip-planning")
    assert parent.status_code == 200, parent.text
    retired = world.client.delete("/v1/purposes/trip-planning", headers=auth(world.admin_key))
    assert retired.status_code == 200
    assert retired.json()["retired"] is True
    before = len(_token_events(world))
    # At once on this replica: the retirement forgets the token path's remembered vocabulary.
    _refused_unregistered(world.token(world.travel, purpose="trip-planning"))
    refused = world.client.post(
        "/v1/me/grants", json=_grant_body(purposes=["trip-planning"]), headers=auth(world.alice_key)
    )
    assert refused.status_code == 422
    assert "purposes[0]" in refused.json()["detail"]
    assert "GET /v1/purposes" in refused.json()["detail"]
    # A delegated token would inherit the retired purpose: refused too.
    exchange = {
        "grant_type": EXCHANGE,
        "subject_token": parent.json()["access_token"],
        "subject_token_type": ACCESS_TOKEN,
        "requested_actor": "ad-agent",
        **world.travel.auth_form(ISSUER, now=world.clock.now),
    }
    delegated = world.client.post("/oauth2/token", data=exchange)
    assert delegated.status_code == 400
    assert delegated.json()["error"] == "invalid_request"
    assert len(_token_events(world)) == before
    # It stays listed, for the log's sake, and its code cannot be registered again.
    listed = world.client.get("/v1/purposes", headers=auth(world.alice_key)).json()["purposes"]
    assert [(p["code"], p["retired"]) for p in listed] == [("trip-planning", True)]
    again = world.client.post(
        "/v1/purposes", json={"code": "trip-planning", "description": "New"}, headers=auth(world.admin_key)
    )
    assert again.status_code == 409


def test_a_registered_purpose_not_on_the_grant_is_the_policy_refusal(world: World) -> None:
    world.purpose("trip-planning")
    world.purpose("advertising")
    world.grant(purposes=["trip-planning"])
    response = world.token(world.travel, purpose="advertising")
    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"
    (denied,) = _token_events(world)
    assert denied["reasons"] == ["purpose_mismatch"]
    assert denied["details"]["inputs"]["purpose"] == "advertising"  # type: ignore[index]


def test_a_grant_with_purposes_refuses_a_request_that_names_none(world: World) -> None:
    world.purpose("trip-planning")
    world.grant(purposes=["trip-planning"])
    response = world.token(world.travel)
    assert response.status_code == 403
    (denied,) = _token_events(world)
    assert denied["reasons"] == ["purpose_mismatch"]
    assert denied["details"]["inputs"]["purpose"] is None  # type: ignore[index]


def test_only_an_admin_registers_or_retires_a_purpose_and_each_is_logged(world: World) -> None:
    body = {"code": "trip-planning", "description": "Plan and book travel"}
    assert world.client.post("/v1/purposes", json=body, headers=auth(world.alice_key)).status_code == 403
    assert world.client.post("/v1/purposes", json=body).status_code == 401
    assert world.client.post("/v1/purposes", json=body, headers=auth(world.admin_key)).status_code == 201
    path = "/v1/purposes/trip-planning"
    assert world.client.delete(path, headers=auth(world.alice_key)).status_code == 403
    assert world.client.delete(path, headers=auth(world.admin_key)).status_code == 200
    events = [json.loads(e) for e in _log(world)]
    kinds = [(e["type"], e["details"].get("code")) for e in events if e["type"].startswith("purpose.")]
    assert kinds == [("purpose.registered", "trip-planning"), ("purpose.retired", "trip-planning")]
    registered = next(e for e in events if e["type"] == "purpose.registered")
    assert registered["details"]["description"] == "Plan and book travel"


@pytest.mark.parametrize(
    "description",
    ["", "x" * 201, "Plan\x00travel", "Plan\u202etravel"],
    ids=["empty", "too-long", "nul", "bidi-override"],
)
def test_a_description_that_is_empty_too_long_or_not_printable_is_refused(
    world: World, description: str
) -> None:
    body = {"code": "trip-planning", "description": description}
    response = world.client.post("/v1/purposes", json=body, headers=auth(world.admin_key))
    assert response.status_code == 422
    assert world.client.get("/v1/purposes", headers=auth(world.admin_key)).json()["purposes"] == []
