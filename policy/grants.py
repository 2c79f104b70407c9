"""A user's grant to an agent or an organization, and which grants can cover a request."""

from __future__ import annotations

from dataclasses import dataclass

from discretion_wire.scopes import Scope

from policy.parties import Party

MAX_DELEGATION_DEPTH = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """Standing permission from a user; exactly one of `agent` and `organization` is set."""

    grant_id: str
    resource: str
    scopes: tuple[Scope, ...]
    max_ttl_seconds: int
    agent: str | None = None
    organization: str | None = None
    expires_at: float | None = None
    max_delegation_depth: int = 0
    reveal: tuple[str, ...] = ()
    # Registered purpose codes a token under this grant must name one of; () is unrestricted.
    purposes: tuple[str, ...] = ()
    require_dpop: bool = False
    revoked: bool = False

    def __post_init__(self) -> None:
        if (self.agent is None) == (self.organization is None):
            raise ValueError("a grant names exactly one of agent and organization")
        if not self.scopes:
            raise ValueError("a grant needs at least one scope")
        if self.max_ttl_seconds <= 0:
            raise ValueError("max_ttl_seconds must be positive")
        if not 0 <= self.max_delegation_depth <= MAX_DELEGATION_DEPTH:
            raise ValueError(f"max_delegation_depth must be 0..{MAX_DELEGATION_DEPTH}")

    def names(self, party: Party) -> bool:
        """True when the grant is to this agent or to its organization."""
        if self.agent is not None:
            return self.agent == party.client_id
        return self.organization == party.organization

    def expired(self, now: float) -> bool:
        """True once the grant's own expiry has passed."""
        return self.expires_at is not None and now >= self.expires_at
