"""Scope syntax and the covering rule of docs/api.md ("Scopes"); standard library only."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Scope", "scope_covers", "scopes_cover"]

WILDCARD = "*"
_PART = re.compile(r"[a-z0-9_-]+|\*")


@dataclass(frozen=True, slots=True)
class Scope:
    """A parsed `area:action` scope; `area` is one or more dot-separated segments."""

    area: tuple[str, ...]
    action: str

    @classmethod
    def parse(cls, text: str) -> Scope:
        """Parse `area:action`, raising ValueError on anything the grammar refuses."""
        area, sep, action = text.partition(":")
        if not sep or not _PART.fullmatch(action):
            raise ValueError(f"not a scope (area:action): {text!r}")
        segments = tuple(area.split("."))
        # fullmatch rather than match: a trailing newline must not slip through `$`.
        if not all(_PART.fullmatch(segment) for segment in segments):
            raise ValueError(f"bad area in scope: {text!r}")
        return cls(segments, action)

    def covers(self, requested: Scope) -> bool:
        """Whether this granted scope covers `requested`."""
        # The action matches when equal or when the grant's is `*`; a requested `*` action is
        # therefore covered only by a granted `*`.
        if self.action != WILDCARD and self.action != requested.action:
            return False
        # The grant's area is a prefix of the requested one, segment by segment, each equal or
        # `*`: `contacts:read` covers `contacts.email:read`, never the other way round.
        if len(self.area) > len(requested.area):
            return False
        return all(
            mine in (WILDCARD, theirs) for mine, theirs in zip(self.area, requested.area, strict=False)
        )

    def __str__(self) -> str:
        return f"{'.'.join(self.area)}:{self.action}"


# Holders check the same few scopes on every request; parsing each once keeps the regex work off
# the verification hot path. Bounded, so tokens with made-up scopes cannot grow it without limit.
@functools.lru_cache(maxsize=1024)
def _parse_or_none(text: str) -> Scope | None:
    if not isinstance(text, str):
        return None
    try:
        return Scope.parse(text)
    except ValueError:
        return None


def scope_covers(granted: str, requested: str) -> bool:
    """Whether the granted scope string covers the requested one; malformed scopes cover nothing."""
    mine, theirs = _parse_or_none(granted), _parse_or_none(requested)
    return mine is not None and theirs is not None and mine.covers(theirs)


def scopes_cover(granted: Iterable[str], requested: Iterable[str]) -> bool:
    """Whether every requested scope is covered by at least one granted scope."""
    grants = [scope for scope in map(_parse_or_none, granted) if scope is not None]
    for text in requested:
        wanted = _parse_or_none(text)
        # A malformed request is refused rather than skipped: skipping would let a typo in a
        # holder's requirement turn into "no requirement".
        if wanted is None or not any(grant.covers(wanted) for grant in grants):
            return False
    return True
