"""The parties to a transaction and the user's blocklist and allowlist entries over them."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from policy import locales
from policy.decision import Denial, Reason

_SPACES = re.compile(r"\s+")


class EntryKind(StrEnum):
    """What a blocklist entry matches on."""

    ORGANIZATION = "organization"
    LOCALE = "locale"
    AGENT = "agent"


class Effect(StrEnum):
    """Whether an entry refuses or (in allowlist-only mode) admits matching parties."""

    BLOCK = "block"
    ALLOW = "allow"


class ListMode(StrEnum):
    """`blocklist`: everyone not blocked may take part; `allowlist_only`: only allowed parties."""

    BLOCKLIST = "blocklist"
    ALLOWLIST_ONLY = "allowlist_only"


class Role(StrEnum):
    """The part an agent plays in a transaction."""

    REQUESTER = "requester"
    ACTOR = "actor"
    HOLDER = "holder"


_REASON_BY_KIND = {
    EntryKind.ORGANIZATION: Reason.BLOCKED_ORGANIZATION,
    EntryKind.LOCALE: Reason.BLOCKED_LOCALE,
    EntryKind.AGENT: Reason.BLOCKED_AGENT,
}


def canonical_agent(client_id: str) -> str:
    """The form in which client ids are compared: they are ASCII, and "AD-Agent" is "ad-agent"."""
    return client_id.lower()


def normalize_organization(name: str) -> str:
    """The broker's former folding of free-text organization names (case, width, spacing), kept for
    the migration that turned them into registered organizations; names now compare on
    `policy.skeleton.skeleton`."""
    folded = _SPACES.sub(" ", unicodedata.normalize("NFKC", name).casefold()).strip()
    if not folded:
        raise ValueError("organization must not be empty")
    return folded


@dataclass(frozen=True, slots=True)
class Party:
    """An agent in a transaction, with the attributes an admin attested for it.

    `organizations` is every value an organization entry may name to cover this agent: its
    organization's id, the ids of the organizations above it (a parent covers its subsidiaries) and
    of those declared the same, and `name:<skeleton>` for each of their registered names and
    domains. Empty means only `organization` itself."""

    client_id: str
    organization: str
    locale: str
    role: Role
    suspended: bool = False
    organizations: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One blocklist or allowlist entry; `value` is already canonical: a lower-case client id, an
    organization id or `name:<skeleton>`, or a normalized locale or group code."""

    entry_id: str
    kind: EntryKind
    value: str
    effect: Effect = Effect.BLOCK

    def matches(self, party: Party) -> bool:
        """True when this entry applies to the party."""
        if self.kind is EntryKind.AGENT:
            return canonical_agent(party.client_id) == self.value
        if self.kind is EntryKind.ORGANIZATION:
            return self.value == party.organization or self.value in party.organizations
        # A country covers its subdivisions and dependent territories; a group its members.
        return locales.covers(self.value, party.locale)


def check_parties(
    parties: Iterable[Party], entries: Iterable[ListEntry], mode: ListMode
) -> tuple[Denial, ...]:
    """Every reason the user's lists refuse some party; empty means no party is refused."""
    entries = tuple(entries)
    blocks = [e for e in entries if e.effect is Effect.BLOCK]
    allows = [e for e in entries if e.effect is Effect.ALLOW]
    denials: list[Denial] = []
    for party in parties:
        who = f"{party.role}:{party.client_id}"
        for entry in blocks:
            if entry.matches(party):
                denials.append(Denial(_REASON_BY_KIND[entry.kind], f"{who} entry:{entry.entry_id}"))
        # Allowlist-only with no allow entries admits nobody: an empty "any of" fails closed.
        if mode is ListMode.ALLOWLIST_ONLY and not any(e.matches(party) for e in allows):
            denials.append(Denial(Reason.NOT_ALLOWLISTED, who))
    return tuple(denials)
