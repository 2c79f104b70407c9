"""The scope grammar and its covering rule (`calendar:*` covers `calendar:read`).

A scope is `area:action`, the area one or more dot-separated segments, each segment and the action
`[a-z0-9_-]+` or `*`: a subset of RFC 6749 section 3.3's scope-token, so a scope never needs quoting
in a space-delimited `scope` parameter.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "MAX_SCOPES",
    "MAX_SCOPE_LENGTH",
    "Scope",
    "ScopeError",
    "all_covered",
    "parse_scope_string",
    "parse_scopes",
    "scope_covers",
    "scopes_cover",
]

WILDCARD = "*"
MAX_SCOPE_LENGTH = 128
MAX_SCOPES = 32
# Repeats are dropped, not refused, but only so many: past this, the list is refused unread.
_MAX_ITEMS = 4 * MAX_SCOPES
# fullmatch, not match with $: "$" would accept a trailing newline.
_SEGMENT = re.compile(r"[a-z0-9_-]+|\*")


class ScopeError(ValueError):
    """A scope string is malformed."""


@dataclass(frozen=True, slots=True)
class Scope:
    """A parsed `area:action` scope; area segments and action may be `*`."""

    area: tuple[str, ...]
    action: str

    @classmethod
    def parse(cls, text: str) -> Scope:
        """Parse one scope, raising ScopeError (a ValueError) on anything the grammar refuses."""
        if not text or len(text) > MAX_SCOPE_LENGTH:
            raise ScopeError(f"scope must be 1 to {MAX_SCOPE_LENGTH} characters")
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
        """Whether everything `other` allows is also allowed by this scope.

        A wildcard only covers a wildcard, never the reverse, so covering is a preorder and
        attenuation through it can only narrow.
        """
        if self.action != WILDCARD and self.action != other.action:
            return False
        # The granted area is a prefix of the other, segment by segment, each equal or `*`:
        # `contacts:read` covers `contacts.email:read`, never the other way round.
        if len(self.area) > len(other.area):
            return False
        return all(mine in (WILDCARD, theirs) for mine, theirs in zip(self.area, other.area, strict=False))


def parse_scopes(items: Iterable[str]) -> tuple[Scope, ...]:
    """Parse one to MAX_SCOPES scopes, dropping duplicates and keeping order."""
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
    """Whether each requested scope is covered by some granted scope.

    An empty request is not "covered": callers must never issue a token with no scope.
    """
    granted = tuple(granted)
    requested = tuple(requested)
    if not requested:
        return False
    return all(any(g.covers(r) for g in granted) for r in requested)


# Holders check the same few scopes on every request; parsing each once keeps the regex work off
# the verification hot path. Bounded, so tokens with made-up scopes cannot grow it without limit.
@functools.lru_cache(maxsize=1024)
def _parse_or_none(text: str) -> Scope | None:
    if not isinstance(text, str):
        return None
    try:
        return Scope.parse(text)
    except ScopeError:
        return None


def scope_covers(granted: str, requested: str) -> bool:
    """Whether the granted scope string covers the requested one; malformed scopes cover nothing."""
    mine, theirs = _parse_or_none(granted), _parse_or_none(requested)
    return mine is not None and theirs is not None and mine.covers(theirs)


def scopes_cover(granted: Iterable[str], requested: Iterable[str]) -> bool:
    """Whether every requested scope string is covered by at least one granted one.

    Unlike `all_covered`, an empty request is covered: a holder route may ask for no scope.
    """
    grants = [scope for scope in map(_parse_or_none, granted) if scope is not None]
    for text in requested:
        wanted = _parse_or_none(text)
        # A malformed request is refused rather than skipped: skipping would let a typo in a
        # holder's requirement turn into "no requirement".
        if wanted is None or not any(grant.covers(wanted) for grant in grants):
            return False
    return True
