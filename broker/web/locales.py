"""Search ISO 3166 countries and subdivisions by name or code (pycountry's tables, offline)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

import pycountry

from policy import locales as policy_locales

MAX_RESULTS = 25


@dataclass(frozen=True, slots=True)
class Place:
    """A country or subdivision a user can block."""

    code: str
    name: str
    kind: str  # "Country", or the subdivision's type such as "State"
    country: str  # the country's name (itself for a country)


def fold(text: str) -> str:
    """Text as searched: accents, case and hyphens folded away."""
    # "Île-de-France" is found by "ile de france": accents and case do not matter when searching.
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join(
        "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().replace("-", " ").split()
    )


@cache
def _index() -> tuple[tuple[str, Place], ...]:
    countries = {c.alpha_2: getattr(c, "common_name", None) or c.name for c in pycountry.countries}
    places = [Place(code, name, "Country", name) for code, name in countries.items()]
    for sub in pycountry.subdivisions:
        places.append(Place(sub.code, sub.name, sub.type, countries.get(sub.country_code, sub.country_code)))
    # Groups of countries (EU, EEA, EU-ADEQUACY) can be blocked or allowed as one entry.
    places += [Place(g.code, g.name, "Group", g.name) for g in groups()]
    return tuple((fold(f"{p.name} {p.code} {p.country}"), p) for p in places)


@cache
def groups() -> tuple[Place, ...]:
    """The groups of countries an entry may name, by code (policy.locales, dated data files)."""
    return tuple(
        Place(g.code, g.name, "Group", g.name)
        for g in sorted(policy_locales.groups().values(), key=lambda g: g.code)
    )


@cache
def countries() -> tuple[Place, ...]:
    """Every country, by name."""
    return tuple(
        sorted((p for _, p in _index() if p.kind == "Country" and len(p.code) == 2), key=lambda p: p.name)
    )


def search(query: str, limit: int = MAX_RESULTS) -> list[Place]:
    """Countries and subdivisions whose name or code contains every word of the query; exact codes
    and countries first."""
    words = fold(query[:100]).split()
    if not words:
        return []
    upper = query.strip().upper()
    hits = [p for text, p in _index() if all(w in text for w in words)]
    hits.sort(
        key=lambda p: (
            p.code != upper,
            p.kind not in ("Country", "Group"),
            not fold(p.name).startswith(words[0]),
            p.name,
        )
    )
    return hits[:limit]


@cache
def _by_code() -> dict[str, Place]:
    return {p.code: p for _, p in _index()}


def describe(code: str) -> str:
    """A code with its name, e.g. 'US-CA (California, United States)'; the code alone if unknown."""
    place = _by_code().get(code)
    if place is None:
        return code
    suffix = "" if place.kind in ("Country", "Group") else f", {place.country}"
    return f"{code} ({place.name}{suffix})"
