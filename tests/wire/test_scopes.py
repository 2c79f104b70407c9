"""The scope grammar and its covering rule, on parsed scopes and on scope strings.

Merged from the policy's and the SDK's scope tests: both now use discretion_wire's one grammar.
"""

from __future__ import annotations

import pytest
from discretion_wire import (
    MAX_SCOPE_LENGTH,
    MAX_SCOPES,
    Scope,
    ScopeError,
    all_covered,
    parse_scope_string,
    parse_scopes,
    scope_covers,
    scopes_cover,
)
from hypothesis import given
from hypothesis import strategies as st

from tests.wire.strategies import scope_strings, scopes

# -- parsed scopes ------------------------------------------------------------------------------


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


def test_a_scope_of_the_maximum_length_parses_and_one_more_character_does_not() -> None:
    longest = "a" * (MAX_SCOPE_LENGTH - 5) + ":read"
    assert str(Scope.parse(longest)) == longest
    with pytest.raises(ScopeError):
        Scope.parse("a" + longest)


def test_parse_scopes_drops_duplicates_keeps_order_and_caps_the_count() -> None:
    assert [str(s) for s in parse_scopes(["b:read", "a:read", "b:read"])] == ["b:read", "a:read"]
    with pytest.raises(ScopeError, match="at most"):
        parse_scopes(f"s{i}:read" for i in range(MAX_SCOPES + 1))


def test_a_scope_parameter_is_split_on_spaces_only() -> None:
    # RFC 6749 section 3.3: scope-tokens are delimited by %x20; a tab is no delimiter.
    parsed = parse_scope_string(" calendar:read  mail:send ")
    assert [str(s) for s in parsed] == ["calendar:read", "mail:send"]
    with pytest.raises(ScopeError):
        parse_scope_string("calendar:read\tmail:send")


# -- scope strings, as holders check them -------------------------------------------------------


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
def test_covering_table_on_scope_strings(granted: str, requested: str, expected: bool) -> None:
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


@given(scope_strings)
def test_a_scope_always_covers_itself(scope: str) -> None:
    assert scope_covers(scope, scope)


@given(scope_strings, st.from_regex(r"[a-z0-9_-]{1,6}", fullmatch=True))
def test_a_wildcard_action_covers_any_action(scope: str, action: str) -> None:
    area = scope.rpartition(":")[0]
    assert scope_covers(f"{area}:*", f"{area}:{action}")


@given(scope_strings, scope_strings)
def test_a_wildcard_request_is_covered_only_by_a_wildcard_grant(granted: str, requested: str) -> None:
    if requested.endswith(":*") and not granted.endswith(":*"):
        assert not scope_covers(granted, requested)


@given(scope_strings, scope_strings, scope_strings)
def test_covering_of_scope_strings_is_transitive(a: str, b: str, c: str) -> None:
    if scope_covers(a, b) and scope_covers(b, c):
        assert scope_covers(a, c)


@given(scope_strings, st.lists(st.from_regex(r"[a-z0-9_-]{1,6}", fullmatch=True), max_size=3))
def test_a_grant_covers_every_narrower_area(scope: str, extra: list[str]) -> None:
    area, _, action = scope.rpartition(":")
    narrower = ".".join([area, *extra]) + ":" + action
    assert scope_covers(scope, narrower)
