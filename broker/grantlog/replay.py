"""Reconstruct the policy state from the grant log and replay a logged token decision.

The log is the broker's history: agent registrations (attested organization and locale),
suspensions, grants and their revocations, list entries and list modes. Folding the events before
a decision gives exactly the grants, entries and parties the engine saw; running `policy` on them
with the decision's stored inputs must give the logged outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from broker.grantlog.budget import is_digest
from policy import (
    POLICY_VERSION,
    Decision,
    Denial,
    Effect,
    EntryKind,
    ExchangeRequest,
    Grant,
    Limits,
    ListEntry,
    ListMode,
    ParentToken,
    Party,
    Reason,
    Role,
    TokenRequest,
    decide_exchange,
    decide_token,
    parse_scopes,
)

ISSUANCE = ("token.issued", "token.denied")
DELEGATION = ("token.delegated", "token.delegation_denied")
REPLAYABLE = ISSUANCE + DELEGATION


@dataclass
class _User:
    mode: ListMode = ListMode.BLOCKLIST
    grants: dict[str, Grant] = field(default_factory=dict)
    entries: dict[str, ListEntry] = field(default_factory=dict)


@dataclass
class PolicyState:
    """Agents and users as the events so far describe them."""

    agents: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, _User] = field(default_factory=dict)
    # Terms of every token issued so far, by jti: what a later exchange of it was decided against.
    tokens: dict[str, ParentToken] = field(default_factory=dict)

    def apply(self, event: dict[str, Any]) -> None:
        """Fold one event into the state."""
        kind, details, subject = event["type"], event.get("details") or {}, event.get("subject")
        actors = event.get("actors") or []
        if kind == "agent.registered":
            self.agents[actors[0]] = {
                "organization": details["organization"],
                "organizations": frozenset(details.get("organization_cover") or ()),
                "locale": details["locale"],
                "suspended": False,
            }
        elif kind in ("agent.suspended", "agent.reinstated") and actors[0] in self.agents:
            self.agents[actors[0]]["suspended"] = kind == "agent.suspended"
        if subject is None:
            return
        user = self.users.setdefault(str(subject), _User())
        if kind in ("token.issued", "token.delegated") and event.get("jti"):
            self._remember_token(event, user)
        if kind == "grant.created":
            user.grants[details["grant_id"]] = Grant(
                grant_id=details["grant_id"],
                agent=actors[0] if actors else None,
                organization=details.get("organization"),
                resource=event["resource"],
                scopes=parse_scopes(event["scopes_granted"]),
                max_ttl_seconds=details["max_ttl_seconds"],
                expires_at=details.get("expires_at"),
                max_delegation_depth=details.get("max_delegation_depth", 0),
                reveal=tuple(details.get("reveal") or ()),
                purposes=_purposes(details),
                require_dpop=bool(details.get("require_dpop")),
            )
        elif kind == "grant.revoked" and details["grant_id"] in user.grants:
            old = user.grants[details["grant_id"]]
            user.grants[old.grant_id] = Grant(**{**_fields(old), "revoked": True})
        elif kind == "list.entry_added":
            user.entries[details["entry_id"]] = ListEntry(
                entry_id=details["entry_id"],
                kind=EntryKind(details["kind"]),
                value=details["value"],
                effect=Effect(details["effect"]),
            )
        elif kind == "list.entry_removed":
            user.entries.pop(details["entry_id"], None)
        elif kind == "list.mode_changed":
            user.mode = ListMode(details["mode"])

    def _remember_token(self, event: dict[str, Any], user: _User) -> None:
        details = event.get("details") or {}
        inputs = details.get("inputs") or {}
        # Tokens are issued at int(now) and live `lifetime` seconds (broker.oauth.endpoint._sign).
        expires_at = float(int(inputs["now"]) + int(details.get("lifetime") or 0))
        if event["type"] == "token.issued":
            grant = user.grants.get(str(details.get("grant_id")))
            reveal = grant.reveal if grant is not None else ()
            chain: tuple[str, ...] = (inputs["requester"],)
            purpose = inputs.get("purpose")
        else:
            reveal = tuple(inputs.get("reveal") or ())
            # A renewal (a delegate re-binding its own token to its current key) adds no hop.
            renewal = bool(inputs.get("renewal"))
            chain = (
                tuple(inputs.get("chain", ())) if renewal else (*inputs.get("chain", ()), inputs["delegate"])
            )
            parent = self.tokens.get(str(inputs.get("parent_jti")))
            purpose = parent.purpose if parent is not None else None
        self.tokens[str(event["jti"])] = ParentToken(
            jti=str(event["jti"]),
            audience=str(event["resource"]),
            scopes=parse_scopes(event["scopes_granted"]),
            reveal=tuple(reveal),
            expires_at=expires_at,
            chain=chain,
            purpose=purpose,
        )

    def party(self, client_id: str, role: Role) -> Party:
        """An agent as the engine saw it; an unknown agent cannot be vetted, so it is suspended."""
        agent = self.agents.get(client_id)
        if agent is None:
            return Party(client_id, "", "", role, suspended=True)
        return Party(
            client_id,
            agent["organization"],
            agent["locale"],
            role,
            suspended=agent["suspended"],
            organizations=agent["organizations"],
        )


def _purposes(details: dict[str, Any]) -> tuple[str, ...]:
    # `purposes` since purposes are registered; a grant logged before names one `purpose` or none.
    if "purposes" in details:
        return tuple(details["purposes"] or ())
    return (details["purpose"],) if details.get("purpose") else ()


def _fields(grant: Grant) -> dict[str, Any]:
    return {name: getattr(grant, name) for name in Grant.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """A logged decision next to what the engine decides now from the same inputs."""

    seq: int
    logged: dict[str, Any]
    replayed: dict[str, Any]
    policy_version_logged: str
    policy_version_now: str

    @property
    def same(self) -> bool:
        """True when the replay reproduces the logged outcome."""
        return self.logged == self.replayed


def _outcome(decision: Decision) -> dict[str, Any]:
    return {
        "decision": "allow" if decision.allowed else "deny",
        "reasons": [str(r) for r in decision.reasons],
        "scopes_granted": list(decision.scopes),
        "grant_id": decision.grant_id,
        "lifetime": decision.lifetime_seconds if decision.allowed else 0,
    }


def replay_decision(event: dict[str, Any], state: PolicyState, limits: Limits) -> ReplayResult:
    """Re-run the policy engine on a logged token or delegation decision and the state before it."""
    if event["type"] not in REPLAYABLE:
        raise ValueError(f"{event['type']} events are not replayable (yet)")
    if digested(event):
        raise ValueError("this decision's inputs were over the log's size budget and stored as digests")
    details = event.get("details") or {}
    inputs = details.get("inputs") or {}
    logged = {
        "decision": event["decision"],
        "reasons": event["reasons"],
        "scopes_granted": event["scopes_granted"],
        "grant_id": details.get("grant_id"),
        "lifetime": details.get("lifetime") or 0,
    }
    if event["type"] in DELEGATION:
        decision = _replay_exchange(event, state, limits)
    elif event.get("subject") is None:
        # The subject was unknown: the engine was never consulted, the broker refused outright.
        decision = Decision.deny(Denial(Reason.UNKNOWN_SUBJECT, "subject"))
    else:
        user = state.users.get(event["subject"], _User())
        request = TokenRequest(
            requester=state.party(inputs["requester"], Role.REQUESTER),
            holder=state.party(inputs["holder"], Role.HOLDER),
            resource=inputs["resource"],
            scopes=parse_scopes(inputs["scopes"]),
            purpose=inputs.get("purpose"),
            requested_lifetime=inputs.get("requested_lifetime"),
            sender_constrained=bool(inputs.get("sender_constrained")),
        )
        decision = decide_token(
            request,
            grants=list(user.grants.values()),
            entries=list(user.entries.values()),
            mode=ListMode(inputs.get("list_mode", user.mode)),
            now=float(inputs["now"]),
            limits=limits,
        )
    return ReplayResult(
        seq=event["seq"],
        logged=logged,
        replayed=_outcome(decision),
        policy_version_logged=event["policy_version"],
        policy_version_now=POLICY_VERSION,
    )


def _replay_exchange(event: dict[str, Any], state: PolicyState, limits: Limits) -> Decision:
    inputs = (event.get("details") or {}).get("inputs") or {}
    parent = state.tokens.get(str(inputs.get("parent_jti")))
    user = state.users.get(str(event.get("subject")), _User())
    grant = user.grants.get(str(inputs.get("grant_id")))
    if parent is None or grant is None:
        raise ValueError("the log does not hold the parent token or the grant this exchange was decided on")
    request = ExchangeRequest(
        actors=tuple(state.party(c, Role.ACTOR) for c in inputs["chain"]),
        delegate=state.party(inputs["delegate"], Role.REQUESTER),
        holder=state.party(inputs["holder"], Role.HOLDER),
        resource=inputs.get("requested_resource"),
        scopes=parse_scopes(inputs["scopes"]),
        reveal=tuple(inputs.get("reveal") or ()),
        requested_lifetime=inputs.get("requested_lifetime"),
        renewal=bool(inputs.get("renewal")),
    )
    return decide_exchange(
        parent,
        request,
        grant=grant,
        entries=list(user.entries.values()),
        mode=ListMode(inputs.get("list_mode", user.mode)),
        now=float(inputs["now"]),
        limits=limits,
    )


def digested(event: dict[str, Any]) -> bool:
    """Whether any input of a logged decision was stored as a digest instead of its value."""
    inputs = (event.get("details") or {}).get("inputs")
    values = inputs.values() if isinstance(inputs, dict) else [inputs]
    scopes = (event.get("scopes_requested"), event.get("scopes_granted"), event.get("resource"))
    return any(is_digest(v) for v in (*values, *scopes))


def replay_log(
    events: Iterable[dict[str, Any]], limits: Limits, *, jti: str | None = None, seq: int | None = None
) -> list[ReplayResult]:
    """Replay every replayable decision in the log (or the one with this jti or seq)."""
    state, results = PolicyState(), []
    for event in events:
        wanted = (jti is None or event.get("jti") == jti) and (seq is None or event["seq"] == seq)
        # A refusal whose inputs were too large to log (broker/grantlog/budget.py) keeps only their
        # digests: there is nothing to re-run it on, so it is left out rather than reported changed.
        if wanted and event["type"] in REPLAYABLE and not digested(event):
            results.append(replay_decision(event, state, limits))
        state.apply(event)
    return results
