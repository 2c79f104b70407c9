"""The grant log's size budget: long strings and oversized values become digests, in a fixed order,
and an event that cannot fit is refused."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from broker.grantlog.budget import (
    MAX_EVENT_BYTES,
    MAX_STRING_CHARS,
    EventTooLarge,
    bounded,
    digest,
    is_digest,
)
from broker.grantlog.events import canonical_json


def _body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "seq": 1,
        "time_ms": 0,
        "type": "token.denied",
        "actors": ["travel-agent"],
        "subject": "u_1",
        "resource": "https://calendar.example/",
        "scopes_requested": ["calendar:read"],
        "scopes_granted": [],
        "decision": "deny",
        "reasons": ["no_grant"],
        "policy_version": "1",
        "jti": None,
        "kid": None,
        "details": {"inputs": {"requester": "travel-agent", "scopes": ["calendar:read"]}},
    }
    body.update(overrides)
    return body


def test_a_small_event_is_stored_as_it_is() -> None:
    body = _body()
    kept, data = bounded(body, canonical_json)
    assert kept is body
    assert data == canonical_json(body)


def test_a_string_over_the_limit_is_stored_as_its_digest() -> None:
    text = "x" * (MAX_STRING_CHARS + 1)
    kept, data = bounded(_body(details={"inputs": {"purpose": text}}), canonical_json)
    stored = kept["details"]["inputs"]["purpose"]
    assert stored == {
        "digest": "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:32],
        "length": len(text),
    }
    assert text.encode() not in data


def test_the_callers_event_is_not_changed() -> None:
    details = {"inputs": {"purpose": "x" * (MAX_STRING_CHARS + 1)}}
    bounded(_body(details=details), canonical_json)
    assert isinstance(details["inputs"]["purpose"], str)


def test_an_event_over_budget_gives_up_its_inputs_first() -> None:
    scopes = [f"area{i}.{'s' * 100}:read" for i in range(32)]
    body = _body(
        resource="https://calendar.example/" + "r" * 2000,
        scopes_requested=scopes,
        details={"inputs": {"scopes": scopes, "resource": "https://calendar.example/" + "r" * 2000}},
    )
    assert len(canonical_json(body)) > MAX_EVENT_BYTES
    kept, data = bounded(body, canonical_json)
    assert len(data) <= MAX_EVENT_BYTES
    assert is_digest(kept["details"]["inputs"]["scopes"])
    assert kept["scopes_requested"] == scopes  # the top-level copy stays readable
    assert kept["resource"] == body["resource"]


def test_fixed_members_are_never_replaced_and_an_event_that_cannot_fit_is_refused() -> None:
    with pytest.raises(EventTooLarge):
        bounded(_body(reasons=[f"reason_{i}" for i in range(2000)]), canonical_json)


def test_a_digest_of_a_list_covers_its_canonical_json() -> None:
    value = ["a", "b"]
    assert digest(value)["length"] == len(canonical_json(value))
