"""Names for ids: what the console shows people instead of client ids, normalized organization
names, grant ids and resource URIs. Built from the agent directory on each request."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from broker.services.records import AgentRecord, GrantRecord
from broker.web import locales
from policy import EntryKind, normalize_organization

SUGGESTIONS = 3


@dataclass(frozen=True, slots=True)
class Names:
    """Registered agents by client id, organization display names by normalized name, and the
    agent that holds each resource URI."""

    agents: dict[str, AgentRecord]
    organizations: dict[str, str]
    holders: dict[str, AgentRecord]
    grants: dict[str, GrantRecord] = field(default_factory=dict)

    @classmethod
    def of(cls, agents: Iterable[AgentRecord], grants: Iterable[GrantRecord] = ()) -> Names:
        """The directory of these agents (and, for a user's pages, their grants)."""
        listed = list(agents)
        return cls(
            agents={a.client_id: a for a in listed},
            organizations={a.organization: a.organization_display for a in listed},
            holders={uri: a for a in listed for uri in a.resource_uris},
            grants={g.grant_id: g for g in grants},
        )

    def agent(self, client_id: str | None) -> str:
        """'Ad Agent (AdTrack Inc.)' for a registered agent; the client id itself otherwise."""
        if not client_id:
            return ""
        found = self.agents.get(client_id)
        return f"{found.name} ({found.organization_display})" if found else client_id

    def agent_name(self, client_id: str | None) -> str:
        """An agent's name alone, or its client id when unknown."""
        found = self.agents.get(client_id or "")
        return found.name if found else (client_id or "")

    def organization(self, normalized: str | None) -> str:
        """An organization's display name, from the normalized form stored in grants and lists."""
        if not normalized:
            return ""
        return self.organizations.get(normalized, normalized)

    def holder(self, uri: str | None) -> str:
        """Who holds a resource: its agent's name and organization, or '' when none is registered."""
        found = self.holders.get(uri or "")
        return f"{found.name} ({found.organization_display})" if found else ""

    def grantee(self, grant: GrantRecord) -> str:
        """Who a grant is to, in words."""
        if grant.agent:
            return self.agent(grant.agent)
        return f"every agent of {self.organization(grant.organization)}"

    def grant(self, grant_id: str | None) -> str:
        """A grant described by what it grants, e.g. 'to Ad Agent (AdTrack Inc.) for ... at ...'."""
        found = self.grants.get(grant_id or "")
        if found is None:
            return "a grant"
        where = self.holder(found.resource)
        return f"to {self.grantee(found)} for {found.resource}" + (f" at {where}" if where else "")

    def entry(self, kind: EntryKind | str, value: str) -> str:
        """A list entry's value in words: an organization's display name, a place's name, an agent."""
        kind = EntryKind(kind)
        if kind is EntryKind.ORGANIZATION:
            return self.organization(value)
        if kind is EntryKind.LOCALE:
            return locales.describe(value)
        return self.agent(value)

    def covers(self, kind: EntryKind, normalized: str, agent: AgentRecord) -> bool:
        """Whether an entry (value already normalized) names this agent, its organization or its place."""
        if kind is EntryKind.ORGANIZATION:
            return agent.organization == normalized
        if kind is EntryKind.LOCALE:
            return agent.locale == normalized or agent.locale.startswith(normalized + "-")
        return agent.client_id.casefold() == normalized.casefold()

    def organization_suggestions(self, typed: str) -> list[str]:
        """Registered organizations whose names are close to a typed one, closest first."""
        wanted = normalize_organization(typed)
        close = difflib.get_close_matches(wanted, list(self.organizations), n=SUGGESTIONS, cutoff=0.6)
        if not close:
            # A prefix or part of a name ("AdTrack" for "AdTrack Inc.") is a likely intent too.
            close = [o for o in self.organizations if wanted and (wanted in o or o in wanted)]
        return [self.organizations[o] for o in close[:SUGGESTIONS]]
