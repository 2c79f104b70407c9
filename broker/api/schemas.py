"""Request and response bodies of the /v1 management API."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from broker.oauth.agent_keys import current_kid
from broker.services.organizations import Resolution
from broker.services.records import AgentRecord, EntryRecord, GrantRecord, OrganizationRecord, PurposeRecord
from policy import Effect, EntryKind, ListMode


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class AgentIn(_Body):
    """An agent to register, with the organization and locale the admin attests."""

    client_id: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=200)
    organization: str = Field(min_length=1, max_length=200)
    locale: str = Field(min_length=2, max_length=8)
    jwks: dict[str, Any]
    resource_uris: list[str] = Field(default_factory=list, max_length=50)


class KeyRotationIn(_Body):
    """An agent's new key set (PUT /v1/agents/{client_id}/jwks)."""

    jwks: dict[str, Any]
    # The key delegated tokens are bound to; by default the one key the set adds, else the same.
    current_kid: str | None = Field(default=None, min_length=1, max_length=128)
    # Keys (active or retiring) removed as compromised: refused at once, their tokens revoked.
    compromised: list[str] = Field(default_factory=list, max_length=20)


class RetiringKeyOut(BaseModel):
    """A key a planned rotation removed, still accepted until `until`."""

    kid: str
    until: float


class AgentOut(BaseModel):
    """A registered agent."""

    client_id: str
    name: str
    organization: str
    organization_display: str
    locale: str
    status: str
    resource_uris: list[str]
    jwks: dict[str, Any]
    current_kid: str | None = None
    retiring_keys: list[RetiringKeyOut] = Field(default_factory=list)
    created_at: float

    @classmethod
    def of(cls, agent: AgentRecord) -> AgentOut:
        """From the stored record."""
        return cls(
            client_id=agent.client_id,
            name=agent.name,
            organization=agent.organization,
            organization_display=agent.organization_display,
            locale=agent.locale,
            status=agent.status,
            resource_uris=list(agent.resource_uris),
            jwks={"keys": agent.jwks["keys"]},
            current_kid=current_kid(agent.jwks),
            retiring_keys=[
                RetiringKeyOut(kid=entry["jwk"]["kid"], until=entry["until"])
                for entry in agent.jwks.get("retiring", ())
            ],
            created_at=agent.created_at,
        )


class AgentList(BaseModel):
    """Every agent."""

    agents: list[AgentOut]


class UserIn(_Body):
    """A user to create."""

    user_id: str = Field(min_length=1, max_length=256)


class UserCreated(BaseModel):
    """A new user and the key shown this once."""

    user_id: str
    api_key: str


class AuditorIn(_Body):
    """An auditor to create."""

    name: str = Field(min_length=1, max_length=200)


class AuditorCreated(BaseModel):
    """A new auditor and the key shown this once."""

    auditor_id: str
    name: str
    api_key: str


class GrantIn(_Body):
    """A grant from the calling user to an agent or an organization."""

    agent: str | None = Field(default=None, max_length=128)
    organization: str | None = Field(default=None, max_length=200)
    resource: str = Field(min_length=1, max_length=2048)
    scopes: list[str] = Field(min_length=1, max_length=32)
    max_ttl_seconds: int = Field(ge=1, le=86400)
    expires_at: float | None = None
    max_delegation_depth: int = Field(default=0, ge=0, le=8)
    reveal: list[str] = Field(default_factory=list, max_length=32)
    # Registered purpose codes (GET /v1/purposes); a token under the grant must name one of them.
    purposes: list[Annotated[str, Field(max_length=64)]] | None = Field(default=None, max_length=16)
    # The older single purpose, taken as a one-element `purposes` (not together with it).
    purpose: str | None = Field(default=None, max_length=64)
    require_dpop: bool = False
    # Budgets (docs/resilience.md): None is unlimited.
    tokens_per_hour: int | None = Field(default=None, ge=0, le=1_000_000)
    disclosures_per_day: int | None = Field(default=None, ge=0, le=1_000_000)


class BudgetIn(_Body):
    """A grant's budgets; null (or absent) is unlimited, 0 refuses every token or disclosure."""

    tokens_per_hour: int | None = Field(default=None, ge=0, le=1_000_000)
    disclosures_per_day: int | None = Field(default=None, ge=0, le=1_000_000)


class GrantOut(BaseModel):
    """A stored grant and its status (active, expired or revoked)."""

    grant_id: str
    agent: str | None
    organization: str | None
    resource: str
    scopes: list[str]
    max_ttl_seconds: int
    expires_at: float | None
    max_delegation_depth: int
    reveal: list[str]
    purposes: list[str]
    # The one purpose of a grant that lists exactly one, else null (kept for older clients).
    purpose: str | None
    require_dpop: bool
    created_at: float
    revoked_at: float | None
    tokens_per_hour: int | None = None
    disclosures_per_day: int | None = None
    status: str

    @classmethod
    def of(cls, grant: GrantRecord, now: float) -> GrantOut:
        """From the stored record, with its status as of `now`."""
        if grant.revoked_at is not None:
            status = "revoked"
        elif grant.expires_at is not None and grant.expires_at <= now:
            status = "expired"
        else:
            status = "active"
        return cls(
            grant_id=grant.grant_id,
            agent=grant.agent,
            organization=grant.organization,
            resource=grant.resource,
            scopes=list(grant.scopes),
            max_ttl_seconds=grant.max_ttl_seconds,
            expires_at=grant.expires_at,
            max_delegation_depth=grant.max_delegation_depth,
            reveal=list(grant.reveal),
            purposes=list(grant.purposes),
            purpose=grant.purpose,
            require_dpop=grant.require_dpop,
            created_at=grant.created_at,
            revoked_at=grant.revoked_at,
            tokens_per_hour=grant.tokens_per_hour,
            disclosures_per_day=grant.disclosures_per_day,
            status=status,
        )


class GrantList(BaseModel):
    """A user's grants."""

    grants: list[GrantOut]


class EntryIn(_Body):
    """A blocklist (or allowlist) entry."""

    kind: EntryKind
    value: str = Field(min_length=1, max_length=200)
    effect: Effect = Effect.BLOCK
    note: str | None = Field(default=None, max_length=500)


class EntryOut(BaseModel):
    """A stored list entry."""

    entry_id: str
    kind: EntryKind
    value: str
    effect: Effect
    note: str | None
    created_at: float

    @classmethod
    def of(cls, entry: EntryRecord) -> EntryOut:
        """From the stored record."""
        return cls(
            entry_id=entry.entry_id,
            kind=entry.kind,
            value=entry.value,
            effect=entry.effect,
            note=entry.note,
            created_at=entry.created_at,
        )


class EntryAdded(EntryOut):
    """A new (or the identical existing) entry; an organization name may resolve to several
    organizations (`entries`), and a value naming nothing registered comes with `warnings` and,
    for an organization, the closest registered ones in `suggestions`."""

    entries: list[EntryOut]
    warnings: list[str]
    suggestions: list[OrganizationOut]
    resolved: list[OrganizationOut]


class PurposeIn(_Body):
    """A purpose to register: a code (`trip-planning`) and what it means (`Plan and book travel`)."""

    code: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1, max_length=200)


class PurposeOut(BaseModel):
    """A registered purpose; `retired` ones stay listed but no new grant or token may name them."""

    code: str
    description: str
    retired: bool
    created_at: float
    retired_at: float | None

    @classmethod
    def of(cls, purpose: PurposeRecord) -> PurposeOut:
        """From the stored record."""
        return cls(
            code=purpose.code,
            description=purpose.description,
            retired=purpose.retired_at is not None,
            created_at=purpose.created_at,
            retired_at=purpose.retired_at,
        )


class PurposeList(BaseModel):
    """The purpose vocabulary."""

    purposes: list[PurposeOut]


class OrganizationIn(_Body):
    """An organization to register."""

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    aliases: list[str] = Field(default_factory=list, max_length=48)
    domains: list[str] = Field(default_factory=list, max_length=48)
    parent: str | None = Field(default=None, max_length=64)
    country: str | None = Field(default=None, max_length=8)
    same_as: str | None = Field(default=None, max_length=64)


class OrganizationOut(BaseModel):
    """A registered organization."""

    id: str
    name: str
    aliases: list[str]
    domains: list[str]
    parent: str | None
    same_as: str | None
    country: str | None
    created_at: float

    @classmethod
    def of(cls, org: OrganizationRecord) -> OrganizationOut:
        """From the stored record."""
        return cls(
            id=org.org_id,
            name=org.display_name,
            aliases=list(org.aliases),
            domains=list(org.domains),
            parent=org.parent_id,
            same_as=org.identity if org.identity != org.org_id else None,
            country=org.country,
            created_at=org.created_at,
        )


class OrganizationList(BaseModel):
    """Organizations."""

    organizations: list[OrganizationOut]


class ResolutionOut(BaseModel):
    """What a typed organization resolves to."""

    name: str
    matches: list[OrganizationOut]
    suggestions: list[OrganizationOut]

    @classmethod
    def of(cls, resolution: Resolution) -> ResolutionOut:
        """From the service's resolution."""
        return cls(
            name=resolution.text,
            matches=[OrganizationOut.of(o) for o in resolution.matches],
            suggestions=[OrganizationOut.of(o) for o in resolution.suggestions],
        )


class ListOut(BaseModel):
    """A user's list mode and entries."""

    mode: ListMode
    entries: list[EntryOut]


class ModeIn(_Body):
    """The list mode to switch to."""

    mode: ListMode


class ModeOut(BaseModel):
    """The list mode now in force."""

    mode: ListMode
