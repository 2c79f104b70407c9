"""The scope covering rule of docs/api.md, table-driven and as properties."""

from __future__ import annotations

import pytest
from discretion_sdk import Scope, scope_covers, scopes_cover
from hypothesis import given
from hypothesis import strategies as st

COVERS = [
    ("calendar:read", "calendar:read", True),
    ("calendar:*", "calendar:read", True),
    ("calendar:*", "calendar:*", True),
    ("calendar:read", "calendar:*", False),
    ("calendar:read", "calendar:write", False),
    ("contacts:read", "contacts.email:read", True),
    ("contacts.email:read", "contacts:read", False),
    ("contacts.email:read", "contacts.phone:read", False),
    ("*:read", "calendar:read", True),
    ("*:read", "contacts.email:read", True),
    ("*:read", "calendar:write", False),
    ("*:*", "anything.at.all:write", True),
    ("contacts.*:read", "contacts.email:read", True),
    ("contacts.*:read", "contacts:read", False),
    ("calendar:read", "*:read", False),
    ("calendar:*", "calendar.events:delete", True),
    ("calendars:read", "calendar:read", False),
    ("calendar:read", "calendars:read", False),
    ("cal:read", "calendar:read", False),
]


@pytest.mark.parametrize(("granted", "requested", "expected"), COVERS)
def test_covering_table(granted: str, requested: str, expected: bool) -> None:
    assert scope_covers(granted, requested) is expected


MALFORMED = [
    "",
    "calendar",
    ":read",
    "calendar:",
    "calendar:read:extra",
    "Calendar:read",
    "calendar:READ",
    "calendar..events:read",
    ".calendar:read",
    "calendar.:read",
    "cal*:read",
    "calendar:re ad",
    "calendar:read\n",
    "kalender\u00e9:read",
]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed_scopes_are_refused_and_cover_nothing(text: str) -> None:
    with pytest.raises(ValueError, match="scope"):
        Scope.parse(text)
    assert not scope_covers(text, "calendar:read")
    assert not scope_covers("*:*", text)


def test_scopes_cover_needs_every_requested_scope() -> None:
    assert scopes_cover(["calendar:read", "contacts:*"], ["calendar:read", "contacts.email:write"])
    assert not scopes_cover(["calendar:read"], ["calendar:read", "mail:read"])
    assert not scopes_cover(["*:*"], ["calendar:read", "bad scope"])
    assert scopes_cover(["calendar:read"], [])


def test_scope_round_trips_to_text() -> None:
    assert str(Scope.parse("contacts.email:read")) == "contacts.email:read"


segment = st.one_of(st.from_regex(r"[a-z0-9_-]{1,6}", fullmatch=True), st.just("*"))
scopes = st.builds(
    lambda area, action: f"{'.'.join(area)}:{action}",
    st.lists(segment, min_size=1, max_size=4),
    segment,
)


@given(scopes)
def test_a_scope_always_covers_itself(scope: str) -> None:
    assert scope_covers(scope, scope)


@given(scopes, st.from_regex(r"[a-z0-9_-]{1,6}", fullmatch=True))
def test_a_wildcard_action_covers_any_action(scope: str, action: str) -> None:
    area = scope.rpartition(":")[0]
    assert scope_covers(f"{area}:*", f"{area}:{action}")


@given(scopes, scopes)
def test_a_wildcard_request_is_covered_only_by_a_wildcard_grant(granted: str, requested: str) -> None:
    if requested.endswith(":*") and not granted.endswith(":*"):
        assert not scope_covers(granted, requested)


@given(scopes, scopes, scopes)
def test_covering_is_transitive(a: str, b: str, c: str) -> None:
    if scope_covers(a, b) and scope_covers(b, c):
        assert scope_covers(a, c)


@given(scopes, st.lists(st.from_regex(r"[a-z0-9_-]{1,6}", fullmatch=True), max_size=3))
def test_a_grant_covers_every_narrower_area(scope: str, extra: list[str]) -> None:
    area, _, action = scope.rpartition(":")
    narrower = ".".join([area, *extra]) + ":" + action
    assert scope_covers(scope, narrower)
