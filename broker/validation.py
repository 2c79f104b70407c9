"""Checks on identifiers that admins, users and agents submit: locales, client ids, URIs, entity types,
purposes."""

from __future__ import annotations

import re

from discretion_wire.resource import MAX_RESOURCE_URI_LENGTH as MAX_RESOURCE_URI_LENGTH
from discretion_wire.resource import normalize_resource

from policy import locales

# Patterns are used with fullmatch: "$" would let a trailing newline through.
_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_ENTITY_TYPE = re.compile(r"[A-Z][A-Z0-9_]{0,39}")
_PURPOSE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")


def normalize_locale(code: str, *, groups_allowed: bool = False) -> str:
    """An agent's locale (a country or subdivision) or, with `groups_allowed`, a list entry's (also a
    group such as EU), in canonical form (policy.locales); ValueError naming the accepted forms."""
    return locales.normalize(code, groups_allowed=groups_allowed)


def check_client_id(client_id: str) -> str:
    """Client ids are short and plain so that they are safe in logs and token claims."""
    if not _CLIENT_ID.fullmatch(client_id):
        raise ValueError("client_id must be 1-128 characters of letters, digits and . _ : -")
    return client_id


def check_purpose(purpose: str) -> str:
    """A purpose is a code (`trip-planning`, `billing:v2`), not prose: it goes into tokens and into
    the grant log, which is kept for good, so it must have no room for personal data."""
    if not _PURPOSE.fullmatch(purpose):
        raise ValueError("purpose must be a code of 1-64 letters, digits and . _ : / -")
    return purpose


# A grant names at most this many registered purposes; a purpose's description is at most this long.
MAX_GRANT_PURPOSES = 16
MAX_PURPOSE_DESCRIPTION = 200


def check_purpose_description(text: str) -> str:
    """A registered purpose's human description (`Plan and book travel`): admin-written prose, shown
    in the console and logged when the purpose is registered, so one line of printable text."""
    description = " ".join(text.split())
    if not 0 < len(description) <= MAX_PURPOSE_DESCRIPTION:
        raise ValueError(f"description must be 1-{MAX_PURPOSE_DESCRIPTION} characters")
    if not description.isprintable():
        raise ValueError("description must be printable text")
    return description


MAX_ENTITY_TYPES = 32


def check_resource_uri(uri: str) -> str:
    """A resource indicator (RFC 8707 section 2) in its canonical form (RFC 3986 section 6,
    discretion_wire.resource): two spellings of one resource are one resource."""
    return normalize_resource(uri)


def check_entity_type(name: str) -> str:
    """Entity types are Presidio-style names such as EMAIL_ADDRESS, and only those the redactor
    reports: a name it never reports would reveal nothing, silently."""
    if not _ENTITY_TYPE.fullmatch(name):
        shown = name if len(name) <= 40 else name[:40] + "..."  # never echo a megabyte back
        raise ValueError(f"{shown!r} is not an entity type (upper case, digits and _)")
    from broker.redaction import entities  # the redaction package loads Presidio: import on use

    return entities.check(name)


def parse_entity_types(text: str) -> tuple[str, ...]:
    """A space-separated `reveal` list: at most MAX_ENTITY_TYPES names, refused unsplit when longer
    than that many could be."""
    if len(text) > MAX_ENTITY_TYPES * 41:
        raise ValueError(f"at most {MAX_ENTITY_TYPES} entity types")
    names = text.split()
    if len(names) > MAX_ENTITY_TYPES:
        raise ValueError(f"at most {MAX_ENTITY_TYPES} entity types")
    return tuple(check_entity_type(name) for name in names)


def parse_whole_number(text: str, *, low: int, high: int) -> int:
    """A decimal count from a form or query: ASCII digits only (`str.isdigit` also accepts "²", which
    `int` refuses), within [low, high]; ValueError otherwise."""
    if not text or len(text) > len(str(high)) or not all("0" <= c <= "9" for c in text):
        raise ValueError(f"must be a whole number from {low} to {high}")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"must be a whole number from {low} to {high}")
    return value
