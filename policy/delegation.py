"""Delegation by token exchange (RFC 8693): a token may only be handed on narrower than it is."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from discretion_wire.scopes import Scope, all_covered

from policy.decision import Decision, Denial, Reason
from policy.engine import Limits
from policy.grants import Grant
from policy.parties import ListEntry, ListMode, Party, check_parties


@dataclass(frozen=True, slots=True, kw_only=True)
class ParentToken:
    """The token being exchanged, as the broker issued it."""

    jti: str
    audience: str
    scopes: tuple[Scope, ...]
    reveal: tuple[str, ...]
    expires_at: float
    # Every agent that has held the user's access so far, the root client first.
    chain: tuple[str, ...]
    purpose: str | None = None

    @property
    def depth(self) -> int:
        """How many exchanges produced this token (0 for a token issued directly)."""
        return len(self.chain) - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ExchangeRequest:
    """The current holder of a token asking for a narrower one for a delegate."""

    actors: tuple[Party, ...]  # the parent's chain, root first; the last one is the caller
    delegate: Party
    holder: Party
    resource: str | None = None
    scopes: tuple[Scope, ...] | None = None
    reveal: tuple[str, ...] | None = None
    requested_lifetime: int | None = None
    # The delegate re-binds a token issued to itself (to its current key, after a key rotation):
    # the chain does not grow, so no hop is counted.
    renewal: bool = False


def _widening(parent: ParentToken, request: ExchangeRequest, scopes: tuple[Scope, ...]) -> list[Denial]:
    denials = []
    if request.resource is not None and request.resource != parent.audience:
        denials.append(Denial(Reason.TARGET_WIDENING, request.resource))
    if not all_covered(parent.scopes, scopes):
        denials.append(Denial(Reason.SCOPE_WIDENING, " ".join(str(s) for s in scopes)))
    if request.reveal is not None and not set(request.reveal) <= set(parent.reveal):
        denials.append(
            Denial(Reason.REVEAL_WIDENING, " ".join(sorted(set(request.reveal) - set(parent.reveal))))
        )
    return denials


def exchange_lifetime(
    parent: ParentToken, grant: Grant, asked: int | None, limits: Limits, now: float
) -> int:
    """Seconds a delegated token may live: as for any token, and never past its parent."""
    lifetime = min(asked or limits.default_lifetime, grant.max_ttl_seconds, limits.max_lifetime)
    lifetime = min(lifetime, math.floor(parent.expires_at - now))
    if grant.expires_at is not None:
        lifetime = min(lifetime, math.floor(grant.expires_at - now))
    return lifetime


def decide_exchange(
    parent: ParentToken,
    request: ExchangeRequest,
    *,
    grant: Grant,
    entries: Sequence[ListEntry],
    mode: ListMode,
    now: float,
    limits: Limits,
) -> Decision:
    """Allow a delegated token only if it is a subset of its parent in every dimension, the grant
    still stands and allows one more hop, and no party in the chain is refused."""
    scopes = request.scopes if request.scopes is not None else parent.scopes
    reveal = request.reveal if request.reveal is not None else parent.reveal
    inputs: dict[str, Any] = {
        "parent_jti": parent.jti,
        "chain": list(parent.chain),
        "delegate": request.delegate.client_id,
        "holder": request.holder.client_id,
        "resource": parent.audience,
        "requested_resource": request.resource,
        "scopes": [str(s) for s in scopes],
        "reveal": list(reveal),
        "requested_lifetime": request.requested_lifetime,
        "grant_id": grant.grant_id,
        "list_mode": str(mode),
        "now": now,
    }
    # Only the token's own client may renew it: the chain's last agent re-binding to itself.
    renewal = request.renewal and parent.chain[-1:] == (request.delegate.client_id,)
    if renewal:
        inputs["renewal"] = True
    widening = _widening(parent, request, scopes)
    if widening:
        return Decision.deny(*widening, inputs=inputs)
    parties = (*request.actors, request.delegate, request.holder)
    suspended = [Denial(Reason.AGENT_SUSPENDED, f"{p.role}:{p.client_id}") for p in parties if p.suspended]
    refused = check_parties(parties, entries, mode)
    if suspended or refused:
        return Decision.deny(*suspended, *refused, inputs=inputs)
    if grant.revoked:
        return Decision.deny(Denial(Reason.GRANT_REVOKED, grant.grant_id), inputs=inputs)
    if grant.expired(now):
        return Decision.deny(Denial(Reason.GRANT_EXPIRED, grant.grant_id), inputs=inputs)
    depth = parent.depth + (0 if renewal else 1)
    if depth > grant.max_delegation_depth:
        detail = f"depth {depth} > {grant.max_delegation_depth}"
        return Decision.deny(Denial(Reason.DEPTH_EXCEEDED, detail), inputs=inputs)
    lifetime = exchange_lifetime(parent, grant, request.requested_lifetime, limits, now)
    if lifetime <= 0:
        return Decision.deny(Denial(Reason.LIFETIME_EXHAUSTED, parent.jti), inputs=inputs)
    return Decision(
        allowed=True,
        grant_id=grant.grant_id,
        scopes=tuple(str(s) for s in scopes),
        lifetime_seconds=lifetime,
        reveal=tuple(reveal),
        purpose=parent.purpose,
        inputs=inputs,
    )
