"""Decisions as values: allow, or deny with stable machine codes and human reasons."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    """Stable reason codes; they go to the grant log and to auditors, never to a refused agent."""

    GRANTED = "granted"
    UNKNOWN_SUBJECT = "unknown_subject"
    NO_GRANT = "no_grant"
    SCOPE_NOT_GRANTED = "scope_not_granted"
    PURPOSE_MISMATCH = "purpose_mismatch"
    GRANT_EXPIRED = "grant_expired"
    GRANT_REVOKED = "grant_revoked"
    LIFETIME_EXHAUSTED = "lifetime_exhausted"
    AGENT_SUSPENDED = "agent_suspended"
    BLOCKED_AGENT = "blocked_agent"
    BLOCKED_ORGANIZATION = "blocked_organization"
    BLOCKED_LOCALE = "blocked_locale"
    NOT_ALLOWLISTED = "not_allowlisted"
    DPOP_REQUIRED = "dpop_required"
    SCOPE_WIDENING = "scope_widening"
    TARGET_WIDENING = "target_widening"
    REVEAL_WIDENING = "reveal_widening"
    DEPTH_EXCEEDED = "depth_exceeded"
    BUDGET_EXHAUSTED = "budget_exhausted"  # set by the broker: the grant's budget is spent


@dataclass(frozen=True, slots=True)
class Denial:
    """One reason a request was refused, with the party or rule it concerns."""

    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of evaluating a request: allowed with its terms, or denied with reasons."""

    allowed: bool
    denials: tuple[Denial, ...] = ()
    grant_id: str | None = None
    scopes: tuple[str, ...] = ()
    lifetime_seconds: int = 0
    reveal: tuple[str, ...] = ()
    purpose: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def reasons(self) -> tuple[Reason, ...]:
        """The reason codes, or `granted` for an allowed decision."""
        if self.allowed:
            return (Reason.GRANTED,)
        return tuple(d.reason for d in self.denials)

    @classmethod
    def deny(cls, *denials: Denial, inputs: dict[str, Any] | None = None) -> Decision:
        """A refusal; at least one denial is required so that every refusal says why."""
        if not denials:
            raise ValueError("a denial needs at least one reason")
        return cls(allowed=False, denials=denials, inputs=inputs or {})
