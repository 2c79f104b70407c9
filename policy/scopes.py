"""Scope syntax and the covering relation (`calendar:*` covers `calendar:read`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# fullmatch, not match with $: "$" would accept a trailing newline.
_SEGMENT = re.compile(r"[a-z0-9_-]+|\*")
MAX_SCOPE_LENGTH = 128
MAX_SCOPES = 32
# Repeats are dropped, not refused, but only so many: past this, the list is refused unread.
_MAX_ITEMS = 4 * MAX_SCOPES


class ScopeError(ValueError):
    """A scope string is malformed."""


@dataclass(frozen=True, slots=True)
class Scope:
    """A parsed `area:action` scope; area segments and action may be `*`."""

    area: tuple[str, ...]
    action: str

    @classmethod
    def parse(cls, text: str) -> Scope:
        """Parse one scope, raising ScopeError on bad syntax."""
        if not text or len(text) > MAX_SCOPE_LENGTH:
            raise ScopeError("scope must be 1 to 128 characters")
        area, sep, action = text.partition(":")
        if not sep or ":" in action:
            raise ScopeError("scope must look like area:action")
        segments = tuple(area.split("."))
        for part in (*segments, action):
            if not _SEGMENT.fullmatch(part):
                raise ScopeError("scope segments are [a-z0-9_-]+ or *")
        return cls(area=segments, action=action)

    def __str__(self) -> str:
        return ".".join(self.area) + ":" + self.action

    def covers(self, other: Scope) -> bool:
        """True when everything `other` allows is also allowed by self.

        A wildcard only covers a wildcard, never the reverse, so covering is a preorder and
        attenuation through it can only narrow.
        """
        if self.action != "*" and self.action != other.action:
            return False
        # A shorter granted area is a prefix that covers sub-areas; zip stops at its end.
        if len(self.area) > len(other.area):
            return False
        return all(mine == "*" or mine == theirs for mine, theirs in zip(self.area, other.area, strict=False))


def parse_scopes(items: Iterable[str]) -> tuple[Scope, ...]:
    """Parse a collection of scopes, dropping duplicates and keeping order."""
    seen: dict[str, Scope] = {}
    for count, item in enumerate(items, start=1):
        # Counted as they come, so a huge list costs no more than the cap before it is refused.
        if count > _MAX_ITEMS:
            raise ScopeError(f"at most {MAX_SCOPES} scopes")
        scope = Scope.parse(item)
        seen.setdefault(str(scope), scope)
        if len(seen) > MAX_SCOPES:
            raise ScopeError(f"at most {MAX_SCOPES} scopes")
    if not seen:
        raise ScopeError("at least one scope is required")
    return tuple(seen.values())


def parse_scope_string(text: str) -> tuple[Scope, ...]:
    """Parse an OAuth `scope` parameter (space-delimited, RFC 6749 section 3.3)."""
    if len(text) > _MAX_ITEMS * (MAX_SCOPE_LENGTH + 1):
        raise ScopeError(f"at most {MAX_SCOPES} scopes")
    return parse_scopes(part for part in text.split(" ") if part)


def all_covered(granted: Iterable[Scope], requested: Iterable[Scope]) -> bool:
    """True when each requested scope is covered by some granted scope.

    An empty request is not "covered": callers must never issue a token with no scope.
    """
    granted = tuple(granted)
    requested = tuple(requested)
    if not requested:
        return False
    return all(any(g.covers(r) for g in granted) for r in requested)
