"""Scope syntax and the covering relation."""

from __future__ import annotations

import pytest
from hypothesis import given

from policy import Scope, ScopeError, all_covered, parse_scope_string
from tests.policy.strategies import scopes


@pytest.mark.parametrize(
    ("granted", "requested", "covered"),
    [
        ("calendar:read", "calendar:read", True),
        ("calendar:*", "calendar:read", True),
        ("calendar:read", "calendar:*", False),
        ("calendar:read", "calendar:write", False),
        ("contacts:read", "contacts.email:read", True),
        ("contacts.email:read", "contacts:read", False),
        ("*:read", "calendar:read", True),
        ("*:read", "calendar.events:read", True),
        ("calendar.*:read", "calendar:read", False),
        ("calendar.*:read", "calendar.events:read", True),
        ("calendar:read", "calendarx:read", False),
    ],
)
def test_covering_table(granted: str, requested: str, covered: bool) -> None:
    assert Scope.parse(granted).covers(Scope.parse(requested)) is covered


@pytest.mark.parametrize(
    "text",
    [
        "",
        "calendar",
        ":read",
        "calendar:",
        "Calendar:read",
        "cal endar:read",
        "a:b:c",
        "a..b:read",
        "a:re?d",
        "x" * 200 + ":read",
        "calendar:read\n",
    ],
)
def test_malformed_scopes_are_rejected(text: str) -> None:
    with pytest.raises(ScopeError):
        Scope.parse(text)


def test_empty_scope_string_is_rejected() -> None:
    with pytest.raises(ScopeError):
        parse_scope_string("   ")


def test_nothing_requested_is_never_covered() -> None:
    assert not all_covered([Scope.parse("*:*")], [])


@given(scopes)
def test_every_scope_covers_itself(scope: Scope) -> None:
    assert scope.covers(scope)


@given(scopes, scopes, scopes)
def test_covering_is_transitive(a: Scope, b: Scope, c: Scope) -> None:
    if a.covers(b) and b.covers(c):
        assert a.covers(c)


@given(scopes, scopes)
def test_mutual_cover_means_equal(a: Scope, b: Scope) -> None:
    if a.covers(b) and b.covers(a):
        assert a == b


@given(scopes)
def test_round_trip_through_text(scope: Scope) -> None:
    assert Scope.parse(str(scope)) == scope
