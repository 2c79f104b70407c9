"""How each grant type decides: on a read snapshot, with a re-check inside the write transaction.

A flow turns a token request into a `Plan` (the decision, its log event and what the token will
say). `OAuthService` runs every flow the same way: decide and sign outside the write transaction,
then spend the assertion, log, re-check and store inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from discretion_wire.resource import normalize_resource

from broker.context import ServiceContext
from broker.errors import AccessDenied, BrokerError, InvalidRequest, InvalidScope, InvalidTarget
from broker.grantlog import events
from broker.oauth.caches.agents import AgentCache
from broker.oauth.caches.policies import Policy, PolicyCache
from broker.oauth.caches.purposes import PurposeCache
from broker.oauth.caches.users import UserCache
from broker.storage import Connection, principals
from broker.storage import grants as grant_store
from broker.storage.agents import AgentRecord
from broker.storage.recheck import Recheck
from broker.validation import MAX_RESOURCE_URI_LENGTH, check_purpose, parse_whole_number
from policy import (
    Decision,
    Denial,
    Reason,
    Role,
    Scope,
    ScopeError,
    TokenRequest,
    decide_token,
    parse_scope_string,
)

# One description for every purpose that is not registered and live: it echoes nothing the agent sent.
UNREGISTERED_PURPOSE = "purpose is not a registered, live purpose"


class StaleDecision(Exception):
    """The user's policy or an agent's status changed between deciding and committing."""


def required(form: dict[str, str], name: str) -> str:
    """A parameter that must be present and non-empty."""
    value = form.get(name, "")
    if not value:
        raise InvalidRequest(f"missing parameter: {name}")
    return value


def parse_scopes_param(text: str) -> tuple[Scope, ...]:
    """An OAuth scope parameter, or invalid_scope."""
    try:
        return parse_scope_string(text)
    except ScopeError as exc:
        raise InvalidScope(str(exc)) from exc


def parse_lifetime(form: dict[str, str]) -> int | None:
    """The optional `expires_in` parameter."""
    if "expires_in" not in form:
        return None
    try:
        return parse_whole_number(form["expires_in"], low=1, high=86400)
    except ValueError as exc:
        raise InvalidRequest("expires_in must be a whole number of seconds from 1 to 86400") from exc


def check_resource(resource: str) -> str:
    """RFC 8707 section 2: an absolute URI without a fragment, no longer than a registrable one (so a
    megabyte of text is refused here, before it could be logged with a refusal)."""
    if len(resource) > MAX_RESOURCE_URI_LENGTH:
        raise InvalidTarget(f"resource must be at most {MAX_RESOURCE_URI_LENGTH} characters")
    # Every spelling of a registered resource finds it, and the token names its canonical form.
    try:
        return normalize_resource(resource)
    except ValueError as exc:
        raise InvalidTarget("resource must be an absolute http(s) URI without userinfo or fragment") from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """A decision and everything needed to sign and store its token."""

    decision: Decision
    event: events.Event
    refusal: BrokerError
    user: principals.UserRecord | None = None
    holder: AgentRecord | None = None
    recipient: str = ""
    parties: tuple[str, ...] = ()
    parent_jti: str | None = None
    act: dict[str, Any] | None = None
    cnf_jkt: str | None = None
    token_budget: int | None = None  # the deciding grant's tokens per hour, if it has a budget
    # (client id, updated_at) of the agents whose keys the token rests on: the caller first (its
    # assertion and proof), then a delegate (its current key); a rotation since makes it stale.
    stamps: tuple[tuple[str, float], ...] = ()


class Flow(Protocol):
    """One grant type's decision logic; it keeps no state between its calls (the Plan does)."""

    def decide(self, conn: Connection, agent: AgentRecord, now: float) -> Plan:
        """Decide on a read snapshot; raise BrokerError for malformed or unusable requests."""
        ...

    def recheck(self, plan: Plan) -> Recheck | None:
        """What the decision rested on, which the write requires to still hold."""
        ...


def plan_recheck(plan: Plan) -> Recheck | None:
    """An issued token rests on the user's policy version, every party being active and its parent
    (if any) being live; a refusal on the policy version and (like a token) the caller's keys, so
    a key marked compromised is answered `invalid_client` at once, not with a refusal that shows it
    still authenticates; an unknown subject on nothing."""
    if plan.user is None:
        return None
    if not plan.decision.allowed:
        # The caller's stamp only (the first): a refusal may rest on a delegate being suspended.
        return Recheck(plan.user.ref, plan.user.policy_version, stamps=plan.stamps[:1])
    return Recheck(plan.user.ref, plan.user.policy_version, plan.parties, plan.parent_jti, plan.stamps)


def decision_event(
    kind_allowed: events.EventType,
    kind_denied: events.EventType,
    decision: Decision,
    *,
    actors: tuple[str, ...],
    user: principals.UserRecord | None,
    resource: str,
    scopes_requested: list[str],
) -> events.Event:
    """The grant-log event for a token decision, with the inputs an auditor needs to replay it."""
    return events.Event(
        type=kind_allowed if decision.allowed else kind_denied,
        actors=actors,
        subject=user.ref if user else None,
        resource=resource,
        scopes_requested=scopes_requested,
        scopes_granted=decision.scopes,
        decision="allow" if decision.allowed else "deny",
        reasons=[str(r) for r in decision.reasons],
        details={
            "inputs": decision.inputs,
            "denials": [f"{d.reason}:{d.detail}" for d in decision.denials],
            "grant_id": decision.grant_id,
            "lifetime": decision.lifetime_seconds,
            "policy_state": user.policy_version if user else None,
        },
    )


class ClientCredentialsFlow:
    """`client_credentials` on a user's behalf: the requester itself receives the token."""

    def __init__(
        self,
        ctx: ServiceContext,
        form: dict[str, str],
        *,
        proof_jkt: str | None,
        policies: PolicyCache,
        agents: AgentCache,
        users: UserCache,
        purposes: PurposeCache,
    ) -> None:
        self._ctx = ctx
        self._policies = policies
        self._agents = agents
        self._users = users
        self._purposes = purposes
        self.subject = required(form, "subject")
        self.resource = check_resource(required(form, "resource"))
        self.scopes = parse_scopes_param(required(form, "scope"))
        self.purpose = form.get("purpose") or None
        if self.purpose is not None:
            try:
                check_purpose(self.purpose)
            except ValueError as exc:
                raise InvalidRequest(str(exc)) from exc
        self.lifetime = parse_lifetime(form)
        self.proof_jkt = proof_jkt

    def decide(self, conn: Connection, agent: AgentRecord, now: float) -> Plan:
        """Default deny under the user's grants and lists (policy.decide_token). A purpose must be
        a registered, live one, checked before anything is logged: the log only ever holds a
        registered code (or none)."""
        if self.purpose is not None and not self._purposes.live(conn, self.purpose):
            raise InvalidRequest(UNREGISTERED_PURPOSE)
        holder = self._agents.holder_of(conn, self.resource)
        if holder is None:
            raise InvalidTarget()
        request = TokenRequest(
            requester=agent.party(Role.REQUESTER),
            holder=holder.party(Role.HOLDER),
            resource=self.resource,
            scopes=self.scopes,
            purpose=self.purpose,
            requested_lifetime=self.lifetime,
            sender_constrained=self.proof_jkt is not None,
        )
        user = self._users.user(conn, self.subject)
        budgets: dict[str, int] = {}
        if user is None:
            decision = Decision.deny(Denial(Reason.UNKNOWN_SUBJECT, "subject"))
        else:
            ref, organization = user.ref, agent.organization

            def load() -> Policy:
                grants = grant_store.grants_for_request(
                    conn, ref, resource=self.resource, agent=agent.client_id, organization=organization
                )
                entries = grant_store.entries_for(conn, ref)
                budgets = {g.grant_id: g.tokens_per_hour for g in grants if g.tokens_per_hour is not None}
                return tuple(g.to_policy() for g in grants), tuple(e.to_policy() for e in entries), budgets

            key = (ref, user.policy_version, self.resource, agent.client_id, organization)
            grants, entries, budgets = self._policies.get(key, load)
            decision = decide_token(
                request,
                grants=grants,
                entries=entries,
                mode=user.list_mode,
                now=now,
                limits=self._ctx.limits,
            )
        event = decision_event(
            events.EventType.TOKEN_ISSUED,
            events.EventType.TOKEN_DENIED,
            decision,
            actors=(agent.client_id,),
            user=user,
            resource=self.resource,
            scopes_requested=[str(s) for s in self.scopes],
        )
        # A grant that demands DPoP is the one refusal the agent can fix itself, so it is told.
        dpop_missing = Reason.DPOP_REQUIRED in decision.reasons
        refusal = InvalidRequest("a DPoP proof is required") if dpop_missing else AccessDenied()
        return Plan(
            decision=decision,
            event=event,
            refusal=refusal,
            user=user,
            holder=holder,
            recipient=agent.client_id,
            parties=(agent.client_id, holder.client_id),
            cnf_jkt=self.proof_jkt,
            token_budget=budgets.get(decision.grant_id or ""),
            stamps=((agent.client_id, agent.updated_at),),
        )

    def recheck(self, plan: Plan) -> Recheck | None:
        """The user's policy version, and for a token the requester and holder still active."""
        return plan_recheck(plan)
