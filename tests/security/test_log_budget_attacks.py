"""Agents cannot grow the permanent grant log with text of their choosing: every event is at most
MAX_EVENT_BYTES of canonical JSON, an oversized value is logged as a digest (length and SHA-256
prefix), never as itself, and free text in a purpose is refused before anything is logged."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from broker.grantlog.budget import MAX_EVENT_BYTES, is_digest
from broker.grantlog.events import canonical_json
from tests.conftest import CALENDAR_URI, ISSUER, World, auth

# 32 scopes of 127 characters: the most the scope grammar lets through.
LONGEST_SCOPES = [f"s{i:02d}." + "a" * 118 + ":read" for i in range(32)]


def _events(world: World) -> list[dict[str, Any]]:
    key = world.client.post("/v1/auditors", json={"name": "Ada"}, headers=auth(world.admin_key)).json()
    export = world.client.get("/v1/audit/export", headers=auth(key["api_key"]))
    assert export.status_code == 200
    events = [json.loads(line)["event"] for line in export.text.splitlines()]
    assert events
    assert all(len(canonical_json(event)) <= MAX_EVENT_BYTES for event in events)
    return events


def test_the_longest_scope_list_does_not_write_an_event_over_budget(world: World) -> None:
    response = world.token(world.travel, scope=" ".join(LONGEST_SCOPES))
    assert response.status_code == 403
    assert response.json()["error"] == "access_denied"
    denied = [e for e in _events(world) if e["type"] == "token.denied"][-1]
    logged = denied["details"]["inputs"]["scopes"]
    assert is_digest(logged)
    text = json.dumps(LONGEST_SCOPES, sort_keys=True, separators=(",", ":")).encode()
    assert logged["digest"] == "sha256:" + hashlib.sha256(text).hexdigest()[:32]


def test_a_refused_delegation_with_every_parameter_at_its_limit_stays_in_budget(world: World) -> None:
    world.grant(max_delegation_depth=1)
    token = world.token(world.travel).json()["access_token"]
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "requested_actor": "ad-agent",
        "resource": CALENDAR_URI + "x" * (2048 - len(CALENDAR_URI)),
        "scope": " ".join(LONGEST_SCOPES),
        "reveal": " ".join(["EMAIL_ADDRESS", "PERSON", "PHONE_NUMBER", "LOCATION"] * 8),
        **world.travel.auth_form(ISSUER, now=world.clock.now),
    }
    response = world.client.post("/oauth2/token", data=form)
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_target", "invalid_scope", "access_denied")
    assert [e for e in _events(world) if e["type"] == "token.delegation_denied"]


@pytest.mark.parametrize(
    "purpose",
    ["book a trip for my wife's surgery", "x" * 65, "trip\nplanning", "é"],
    ids=["prose", "too-long", "newline", "non-ascii"],
)
def test_a_free_text_purpose_is_refused_and_never_logged(world: World, purpose: str) -> None:
    world.grant()
    response = world.token(world.travel, purpose=purpose)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert not [e for e in _events(world) if e["type"].startswith("token.")]
