"""Locales as a hierarchy: which codes a block or an allow entry on a locale covers.

A locale is an ISO 3166-1 country (`US`), an ISO 3166-2 subdivision (`US-CA`, `GB-ENG`, `GB-LND`) or a
group of countries (`EU`, `EEA`, `EU-ADEQUACY`). An entry on a code covers:

- the code itself;
- every subdivision under it, along ISO 3166-2's parent relations (`GB` covers `GB-ENG`, which covers
  `GB-LND`);
- the dependent territories ISO 3166-2 lists under a country while ISO 3166-1 gives them their own
  code (`US` covers `PR`, `GU`, `VI`, `AS`, `MP`, `UM`; `FR` covers `PF`, `GP`, ...): the territory's
  own code and its ISO 3166-2 code under the country (`PR` and `US-PR`) name the same place;
- for a group, its member countries and everything each of them covers, except dependent
  territories that are not members themselves (`EU` covers `FR` and `GP`, not `PF`).

The data are `data/iso3166.json` (generated from the pycountry package's ISO 3166 tables; its header
names the version and date) and `data/group_*.json` (each with its source URL and date), read once on
first use from this package; nothing is downloaded.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from dataclasses import dataclass
from typing import Any

GROUP_FILES = ("group_eu.json", "group_eea.json", "group_eu_adequacy.json")

ACCEPTED_FORMS = (
    "an ISO 3166-1 alpha-2 or alpha-3 country code (FR, FRA), an ISO 3166-2 subdivision code "
    "(US-CA, GB-ENG) or a group (EU, EEA, EU-ADEQUACY)"
)

# Codes people type that ISO 3166 does not define, with the code they most likely mean.
_NOT_ISO = {"UK": "GB", "EL": "GR"}

_ALPHA2 = re.compile(r"[A-Z]{2}")
_ALPHA3 = re.compile(r"[A-Z]{3}")
_SUBDIVISION = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}")


class LocaleError(ValueError):
    """A code that names no locale, or more than one."""


@dataclass(frozen=True, slots=True)
class Group:
    """A named group of countries, from a dated data file."""

    code: str
    name: str
    source: str
    as_of: str
    members: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Tables:
    source: str
    date: str
    alpha3: dict[str, str]  # alpha-3 -> alpha-2
    countries: frozenset[str]
    names: dict[str, str]
    parents: dict[str, str]  # subdivision -> parent subdivision or ""
    sovereign: dict[str, str]  # dependent territory -> the ISO 3166-2 (or 3166-1) code under its country
    territory_of: dict[str, str]  # that ISO 3166-2 code -> the territory's own ISO 3166-1 code
    groups: dict[str, Group]


def _read(name: str) -> Any:
    return json.loads(importlib.resources.files("policy.data").joinpath(name).read_text("utf-8"))


@functools.cache
def _tables() -> _Tables:
    iso = _read("iso3166.json")
    groups = {}
    for file_name in GROUP_FILES:
        raw = _read(file_name)
        groups[raw["group"]] = Group(
            code=raw["group"],
            name=raw["name"],
            source=raw["source"],
            as_of=raw["as_of"],
            members=frozenset(raw["members"]),
        )
    sovereign = dict(iso["dependencies"])
    return _Tables(
        source=iso["source"],
        date=iso["date"],
        alpha3={a3: a2 for a2, a3 in iso["countries"].items()},
        countries=frozenset(iso["countries"]),
        names=dict(iso["country_names"]),
        parents=dict(iso["subdivisions"]),
        sovereign=sovereign,
        territory_of={code: t for t, code in sovereign.items() if "-" in code},
        groups=groups,
    )


def groups() -> dict[str, Group]:
    """The groups an entry may name, by code."""
    return dict(_tables().groups)


def data_source() -> tuple[str, str]:
    """Where the ISO 3166 tables came from, and their date."""
    tables = _tables()
    return tables.source, tables.date


def normalize(code: str, *, groups_allowed: bool = True) -> str:
    """The canonical form of a locale code; LocaleError naming the accepted forms otherwise.

    Alpha-3 country codes become alpha-2. Agents are attested in a country or subdivision, so
    `groups_allowed=False` refuses groups."""
    tables = _tables()
    upper = code.strip().upper()
    if upper in tables.groups:
        if not groups_allowed:
            raise LocaleError(
                f"{upper} is a group of countries; an agent's locale is one country or subdivision"
            )
        return upper
    if _ALPHA2.fullmatch(upper) and upper in tables.countries:
        return upper
    if _ALPHA3.fullmatch(upper) and upper in tables.alpha3:
        return tables.alpha3[upper]
    if _SUBDIVISION.fullmatch(upper) and upper in tables.parents:
        return upper
    shown = code if len(code) <= 20 else code[:20] + "..."
    if upper in _NOT_ISO:
        raise LocaleError(
            f"{shown!r} is not an ISO 3166 code (did you mean {_NOT_ISO[upper]}?); use {ACCEPTED_FORMS}"
        )
    raise LocaleError(f"{shown!r} is not a known locale; use {ACCEPTED_FORMS}")


@functools.lru_cache(maxsize=4096)
def covering(locale: str) -> frozenset[str]:
    """Every code whose entry covers a party attested in this (normalized) locale: the locale, its
    parent subdivisions and country, the country a dependent territory belongs to, and the groups
    its own country is a member of. Unknown codes cover only themselves."""
    tables = _tables()
    codes: set[str] = set()
    pending = [locale]
    while pending:
        code = pending.pop()
        if not code or code in codes:
            continue
        codes.add(code)
        if code in tables.parents:
            pending.append(tables.parents[code] or code.split("-", 1)[0])
        if code in tables.sovereign:  # PR -> US-PR (and so US)
            pending.append(tables.sovereign[code])
        if code in tables.territory_of:  # US-PR -> PR
            pending.append(tables.territory_of[code])
    # Groups go by the party's own country: a dependent territory is in a group only if it is a
    # member in its own right (GP is in the EU, PF is not, though both are under FR).
    own = _own_country(locale, tables)
    for group in tables.groups.values():
        if own in group.members:
            codes.add(group.code)
    return frozenset(codes)


def _own_country(locale: str, tables: _Tables) -> str:
    if locale in tables.territory_of:
        return tables.territory_of[locale]
    code = locale
    while code in tables.parents:
        parent = tables.parents[code]
        if not parent:
            break
        if parent in tables.territory_of:
            return tables.territory_of[parent]
        code = parent
    if code in tables.territory_of:
        return tables.territory_of[code]
    return locale.split("-", 1)[0]


def covers(entry: str, locale: str) -> bool:
    """True when an entry on `entry` applies to a party attested in `locale`."""
    return entry in covering(locale)


def country_name(alpha2: str) -> str | None:
    """A country's English name, or None."""
    return _tables().names.get(alpha2)
