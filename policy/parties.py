"""The parties to a transaction and the user's blocklist and allowlist entries over them."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

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


def normalize_organization(name: str) -> str:
    """Fold an organization name so that case, width and spacing do not defeat a block."""
    folded = _SPACES.sub(" ", unicodedata.normalize("NFKC", name).casefold()).strip()
    if not folded:
        raise ValueError("organization must not be empty")
    return folded


@dataclass(frozen=True, slots=True)
class Party:
    """An agent in a transaction, with the attributes an admin attested for it."""

    client_id: str
    organization: str
    locale: str
    role: Role
    suspended: bool = False


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One blocklist or allowlist entry; `value` is already normalized."""

    entry_id: str
    kind: EntryKind
    value: str
    effect: Effect = Effect.BLOCK

    def matches(self, party: Party) -> bool:
        """True when this entry applies to the party."""
        if self.kind is EntryKind.AGENT:
            return party.client_id == self.value
        if self.kind is EntryKind.ORGANIZATION:
            return party.organization == self.value
        # A country entry covers its subdivisions (ISO 3166-2 codes start with the country code).
        return party.locale == self.value or party.locale.startswith(self.value + "-")


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
