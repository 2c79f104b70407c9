"""Names for ids: what the console shows people instead of client ids, organization ids and
`name:` entries, grant ids and resource URIs. Built from the agent and organization directory on
each request."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from broker.services.organizations import NAME_PREFIX
from broker.services.records import AgentRecord, GrantRecord, OrganizationRecord
from broker.web import locales
from policy import Effect, EntryKind, ListEntry, Role


@dataclass(frozen=True, slots=True)
class Names:
    """Registered agents by client id, organizations by id, the agent that holds each resource URI,
    and (on a user's pages) the user's grants by id."""

    agents: dict[str, AgentRecord]
    organizations: dict[str, OrganizationRecord]
    holders: dict[str, AgentRecord]
    grants: dict[str, GrantRecord] = field(default_factory=dict)
    by_skeleton: dict[str, OrganizationRecord] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        agents: Iterable[AgentRecord],
        organizations: Iterable[OrganizationRecord] = (),
        grants: Iterable[GrantRecord] = (),
    ) -> Names:
        """The directory of these agents and organizations (and a user's grants)."""
        listed = list(agents)
        orgs = {o.org_id: o for o in organizations}
        return cls(
            agents={a.client_id: a for a in listed},
            organizations=orgs,
            holders={uri: a for a in listed for uri in a.resource_uris},
            grants={g.grant_id: g for g in grants},
            by_skeleton={n.skeleton: o for o in orgs.values() for n in o.names},
        )

    def agent(self, client_id: str | None) -> str:
        """'Ad Agent (AdTrack Inc.)' for a registered agent; the client id itself otherwise."""
        if not client_id:
            return ""
        found = self.agents.get(client_id) or self._agent_ignoring_case(client_id)
        return f"{found.name} ({found.organization_display})" if found else client_id

    def _agent_ignoring_case(self, client_id: str) -> AgentRecord | None:
        # Agent entries store the canonical (lower-case) client id.
        return next((a for a in self.agents.values() if a.client_id.lower() == client_id.lower()), None)

    def organization(self, value: str | None) -> str:
        """An organization's display name from its id or a `name:<skeleton>` entry; an unregistered
        name is shown as typed-and-folded, marked as matching no organization."""
        if not value:
            return ""
        if value in self.organizations:
            return self.organizations[value].display_name
        if value.startswith(NAME_PREFIX):
            skeleton = value[len(NAME_PREFIX) :]
            found = self.by_skeleton.get(skeleton)
            return found.display_name if found else f"“{skeleton}” (no registered organization)"
        return value

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
        """A list entry's value in words: an organization's name, a place's name, an agent."""
        kind = EntryKind(kind)
        if kind is EntryKind.ORGANIZATION:
            return self.organization(value)
        if kind is EntryKind.LOCALE:
            return locales.describe(value)
        return self.agent(value)

    def covers(self, kind: EntryKind, value: str, agent: AgentRecord) -> bool:
        """Whether an entry (value canonical, as stored) names this agent, an organization above
        it, or a place that contains it: the policy engine's own matching."""
        entry = ListEntry(entry_id="", kind=kind, value=value, effect=Effect.BLOCK)
        return entry.matches(agent.party(Role.HOLDER))
