"""The decision engine: a token request plus the user's grants and lists gives a Decision."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from discretion_wire.scopes import Scope, all_covered

from policy.decision import Decision, Denial, Reason
from policy.grants import Grant
from policy.parties import ListEntry, ListMode, Party, check_parties

# Bumped whenever a rule changes, so an auditor knows which rules a logged decision was made under.
POLICY_VERSION = "2026-12-03.2"  # .2: a grant lists several purposes; renewing one's own token adds no hop


@dataclass(frozen=True, slots=True)
class Limits:
    """Broker-wide caps on token lifetime (seconds)."""

    default_lifetime: int = 300
    max_lifetime: int = 3600

    def __post_init__(self) -> None:
        if not 0 < self.default_lifetime <= self.max_lifetime:
            raise ValueError("need 0 < default_lifetime <= max_lifetime")


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRequest:
    """An agent asking for access to a user's data at one holder."""

    requester: Party
    holder: Party
    resource: str
    scopes: tuple[Scope, ...]
    purpose: str | None = None
    requested_lifetime: int | None = None
    # True when the token will be bound to a key the requester proved it holds (DPoP).
    sender_constrained: bool = False


# Order in which candidate-grant failures are reported: the most specific one wins.
_GRANT_FAILURE_ORDER = (
    Reason.DPOP_REQUIRED,
    Reason.SCOPE_NOT_GRANTED,
    Reason.PURPOSE_MISMATCH,
    Reason.GRANT_EXPIRED,
    Reason.GRANT_REVOKED,
)


def _describe(request: TokenRequest, mode: ListMode, now: float) -> dict[str, Any]:
    return {
        "requester": request.requester.client_id,
        "holder": request.holder.client_id,
        "resource": request.resource,
        "scopes": [str(s) for s in request.scopes],
        "purpose": request.purpose,
        "requested_lifetime": request.requested_lifetime,
        "sender_constrained": request.sender_constrained,
        "list_mode": str(mode),
        "now": now,
    }


def _grant_failure(grant: Grant, request: TokenRequest, now: float) -> Reason | None:
    if grant.revoked:
        return Reason.GRANT_REVOKED
    if grant.expired(now):
        return Reason.GRANT_EXPIRED
    # A grant that lists purposes needs the request to name one of them; naming none is a mismatch.
    if grant.purposes and request.purpose not in grant.purposes:
        return Reason.PURPOSE_MISMATCH
    if not all_covered(grant.scopes, request.scopes):
        return Reason.SCOPE_NOT_GRANTED
    if grant.require_dpop and not request.sender_constrained:
        return Reason.DPOP_REQUIRED
    return None


def lifetime_for(grant: Grant, asked: int | None, limits: Limits, now: float) -> int:
    """Seconds a token may live: the least of what was asked, the grant's cap, the broker's cap
    and the time left on the grant."""
    lifetime = min(asked or limits.default_lifetime, grant.max_ttl_seconds, limits.max_lifetime)
    if grant.expires_at is not None:
        lifetime = min(lifetime, math.floor(grant.expires_at - now))
    return lifetime


def decide_token(
    request: TokenRequest,
    *,
    grants: Sequence[Grant],
    entries: Sequence[ListEntry],
    mode: ListMode,
    now: float,
    limits: Limits,
) -> Decision:
    """Default deny: allow only under a live grant that covers the request, with no party refused."""
    inputs = _describe(request, mode, now)
    parties = (request.requester, request.holder)
    suspended = [Denial(Reason.AGENT_SUSPENDED, f"{p.role}:{p.client_id}") for p in parties if p.suspended]
    # A block beats any grant, so lists are checked whatever the grants say.
    refused = check_parties(parties, entries, mode)
    if suspended or refused:
        return Decision.deny(*suspended, *refused, inputs=inputs)

    candidates = [g for g in grants if g.resource == request.resource and g.names(request.requester)]
    inputs["grants_considered"] = [g.grant_id for g in candidates]
    if not candidates:
        return Decision.deny(Denial(Reason.NO_GRANT, request.resource), inputs=inputs)

    failures: dict[Reason, str] = {}
    for grant in candidates:
        failure = _grant_failure(grant, request, now)
        if failure is not None:
            failures.setdefault(failure, grant.grant_id)
            continue
        lifetime = lifetime_for(grant, request.requested_lifetime, limits, now)
        if lifetime <= 0:
            failures.setdefault(Reason.LIFETIME_EXHAUSTED, grant.grant_id)
            continue
        return Decision(
            allowed=True,
            grant_id=grant.grant_id,
            scopes=tuple(str(s) for s in request.scopes),
            lifetime_seconds=lifetime,
            reveal=grant.reveal,
            purpose=request.purpose,
            inputs=inputs,
        )
    order = (*_GRANT_FAILURE_ORDER, Reason.LIFETIME_EXHAUSTED)
    reason = next(r for r in order if r in failures)
    return Decision.deny(Denial(reason, f"grant:{failures[reason]}"), inputs=inputs)
