"""Delegation by token exchange (RFC 8693): a narrower token for a delegate, asked for in one of
two ways. Either the holder of a token names the delegate (`requested_actor`), or the delegate
itself presents the token it was handed (`subject_token`) with its own access token as
`actor_token` (RFC 8693 section 2.1), proving who acts. The delegated token is bound (`cnf.jkt`,
RFC 9449 section 6) to the delegate's current key (broker/oauth/agent_keys.py), so neither the
delegating agent nor anyone who intercepts it can use it. A delegate that rotated its keys renews
a token bound to a retiring key by exchanging it for itself with a proof of an active key.

Errors follow RFC 8693 section 2.2.2: a subject or actor token that is invalid, or that the user's
policy does not accept, is `invalid_request`, with a description that says nothing of the user's
grants or lists; a target that cannot be served is `invalid_target`."""

from __future__ import annotations

from typing import Any

from broker.context import ServiceContext
from broker.errors import BrokerError, InvalidRequest, InvalidScope, InvalidTarget
from broker.grantlog import events
from broker.oauth.access_tokens import read_own_token
from broker.oauth.agent_keys import current_thumbprint
from broker.oauth.caches.agents import AgentCache
from broker.oauth.caches.purposes import PurposeCache
from broker.oauth.caches.users import UserCache
from broker.oauth.client_credentials import (
    Plan,
    check_resource,
    decision_event,
    parse_lifetime,
    parse_scopes_param,
    plan_recheck,
    required,
)
from broker.oauth.dpop import InvalidDPoPProof, VerifiedProof, active_thumbprints, registered_thumbprints
from broker.storage import Connection
from broker.storage import tokens as token_store
from broker.storage.agents import AgentRecord
from broker.storage.grants import EntryRecord, GrantRecord
from broker.storage.principals import UserRecord
from broker.storage.recheck import Recheck
from broker.storage.tokens import TokenRecord
from broker.validation import check_client_id, parse_entity_types
from policy import ExchangeRequest, ParentToken, Party, Reason, Role, decide_exchange, parse_scope_string

ACCESS_TOKEN_TYPE_URN = "urn:ietf:params:oauth:token-type:access_token"

# Widening a token is the caller's own mistake, so it gets the specific error; every other refusal
# is the user's policy: RFC 8693 section 2.2.2's invalid_request, with one opaque description.
_WIDENING_ERRORS: dict[Reason, type[BrokerError]] = {
    Reason.TARGET_WIDENING: InvalidTarget,
    Reason.SCOPE_WIDENING: InvalidScope,
    Reason.REVEAL_WIDENING: InvalidRequest,
}


def actor_chain(claims: dict[str, Any]) -> tuple[str, ...]:
    """Every agent that has held this access, root client first (RFC 8693 section 4.1 nesting has
    the current actor outermost)."""
    act = claims.get("act")
    if act is None:
        return (str(claims["client_id"]),)
    outer_first: list[str] = []
    while isinstance(act, dict):
        outer_first.append(str(act.get("sub")))
        act = act.get("act")
    return tuple(reversed(outer_first))


# One description for every refusal by the user's policy, whatever rule refused (grant log only).
POLICY_REFUSAL = "the subject or actor token is not acceptable for this exchange"


def _invalid_subject_token(why: str) -> InvalidRequest:
    # RFC 8693 section 2.2.2: an invalid subject token is invalid_request (not invalid_grant).
    return InvalidRequest(f"the subject token {why}")


def _invalid_actor_token(why: str) -> InvalidRequest:
    return InvalidRequest(f"the actor token {why}")


class ExchangeFlow:
    """`urn:ietf:params:oauth:grant-type:token-exchange` for delegation."""

    def __init__(
        self,
        ctx: ServiceContext,
        form: dict[str, str],
        *,
        proof: VerifiedProof | None,
        agents: AgentCache,
        users: UserCache,
        purposes: PurposeCache,
    ) -> None:
        self._ctx = ctx
        self._purposes = purposes
        # Active agents and users may be remembered, as for client_credentials (agent_cache.py
        # and user_cache.py say why it is safe): an allowed plan names every party and the user's
        # policy version, and the write re-checks both (`recheck`); a refusal never rests on
        # an agent being active, and one resting on a remembered user is not logged before the
        # user's version is re-checked either.
        self._agents = agents
        self._users = users
        self.subject_token = required(form, "subject_token")
        if required(form, "subject_token_type") != ACCESS_TOKEN_TYPE_URN:
            raise InvalidRequest("subject_token_type must be urn:ietf:params:oauth:token-type:access_token")
        # Only access tokens are issued (RFC 8693 section 2.1: the server may refuse other types).
        if form.get("requested_token_type", ACCESS_TOKEN_TYPE_URN) != ACCESS_TOKEN_TYPE_URN:
            raise InvalidRequest("requested_token_type must be urn:ietf:params:oauth:token-type:access_token")
        self.actor_token = form.get("actor_token")
        actor_type = form.get("actor_token_type")
        # RFC 8693 section 2.1: actor_token_type is required with actor_token and forbidden without.
        if (self.actor_token is None) != (actor_type is None):
            raise InvalidRequest("actor_token and actor_token_type go together")
        if actor_type is not None and actor_type != ACCESS_TOKEN_TYPE_URN:
            raise InvalidRequest("actor_token_type must be urn:ietf:params:oauth:token-type:access_token")
        if (self.actor_token is None) == ("requested_actor" not in form):
            raise InvalidRequest("name the delegate with either requested_actor or actor_token")
        self.audience = form.get("audience")
        try:
            self.delegate_id = (
                None if self.actor_token is not None else check_client_id(form["requested_actor"])
            )
            reveal = form.get("reveal")
            self.reveal = None if reveal is None else parse_entity_types(reveal)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from exc
        self.scopes = parse_scopes_param(form["scope"]) if form.get("scope") else None
        self.resource = check_resource(form["resource"]) if form.get("resource") else None
        self.lifetime = parse_lifetime(form)
        self.proof = proof

    def _parent(
        self, conn: Connection, agent: AgentRecord, now: float
    ) -> tuple[dict[str, Any], TokenRecord, UserRecord, GrantRecord, list[EntryRecord]]:
        claims = read_own_token(conn, self.subject_token, issuer=self._ctx.settings.issuer)
        if claims is None:
            raise _invalid_subject_token("is not a valid access token of this broker")
        grant_id = claims.get("grant_id")
        if not isinstance(grant_id, str):
            raise _invalid_subject_token("is not a valid access token of this broker")
        user = self._users.user(conn, str(claims["sub"]))
        if user is None:
            raise _invalid_subject_token("no longer has a grant behind it")
        # The signed claims name the user and the grant, and the token row must agree with them.
        record, grant, entries = token_store.token_with_policy(conn, str(claims["jti"]), user.ref, grant_id)
        if record is None or record.revoked_at is not None or token_store.revoked_ancestor(conn, record):
            raise _invalid_subject_token("is revoked")
        if now >= record.expires_at:
            raise _invalid_subject_token("has expired")
        # With requested_actor the caller delegates its own token; with actor_token the caller is
        # the delegate, and presents the token it was handed (bearer: possession is authority).
        if self.actor_token is None and claims.get("client_id") != agent.client_id:
            raise _invalid_subject_token("was not issued to the caller")
        if grant is None or record.user_ref != user.ref or record.grant_id != grant.grant_id:
            raise _invalid_subject_token("no longer has a grant behind it")
        bound = (claims.get("cnf") or {}).get("jkt")
        # A sender-constrained token can only be handed on by whoever holds its key.
        if bound is not None and not self._holds_binding(bound, claims, agent, now):
            raise InvalidDPoPProof("exchanging a DPoP-bound token needs a proof with its key")
        return claims, record, user, grant, entries

    def _holds_binding(self, bound: Any, claims: dict[str, Any], agent: AgentRecord, now: float) -> bool:
        """Whether the request's proof may present a token bound to `bound`: a proof with that
        key, or, for a token issued to the caller and bound to one of the caller's own accepted
        keys (active or retiring), a proof with one of its active keys: the same agent after a
        key rotation (docs/delegation.md). A key removed as compromised is no longer the
        caller's, so it never qualifies."""
        if self.proof is None:
            return False
        if self.proof.jkt == bound:
            return True
        return (
            claims.get("client_id") == agent.client_id
            and bound in registered_thumbprints(agent.jwks, now)
            and self.proof.jkt in active_thumbprints(agent.jwks)
        )

    def _check_actor_token(self, conn: Connection, agent: AgentRecord, now: float) -> None:
        """The actor token proves the caller is the actor: a live token of this broker issued to
        the caller, presented with a proof of its key when it is DPoP-bound."""
        if self.actor_token is None:
            return
        claims = read_own_token(conn, self.actor_token, issuer=self._ctx.settings.issuer)
        if claims is None:
            raise _invalid_actor_token("is not a valid access token of this broker")
        record = token_store.get_token(conn, str(claims["jti"]))
        if record is None or record.revoked_at is not None or token_store.revoked_ancestor(conn, record):
            raise _invalid_actor_token("is revoked")
        if now >= record.expires_at:
            raise _invalid_actor_token("has expired")
        if claims.get("client_id") != agent.client_id or record.client_id != agent.client_id:
            raise _invalid_actor_token("was not issued to the caller")
        bound = (claims.get("cnf") or {}).get("jkt")
        if bound is not None and not self._holds_binding(bound, claims, agent, now):
            raise InvalidDPoPProof("presenting a DPoP-bound actor token needs a proof with its key")

    def _check_audience(self, holder: AgentRecord, resource: str) -> None:
        """RFC 8693 section 2.1: `audience` names where the token will be used, here the resource
        URI or its holder's client id; anything else cannot be served (section 2.2.2)."""
        if self.audience is not None and self.audience not in (resource, holder.client_id):
            raise InvalidTarget("the audience is not the holder of the requested resource")

    def decide(self, conn: Connection, agent: AgentRecord, now: float) -> Plan:
        """Attenuation, depth and every party of the chain checked by policy.decide_exchange."""
        claims, record, user, grant, entry_records = self._parent(conn, agent, now)
        self._check_actor_token(conn, agent, now)
        # The delegated token inherits its parent's purpose, which must still be live.
        purpose = claims.get("purpose")
        if purpose is not None and not (isinstance(purpose, str) and self._purposes.live(conn, purpose)):
            raise _invalid_subject_token("names a purpose that is retired")
        if self.delegate_id is None:
            delegate: AgentRecord | None = agent
        else:
            delegate = self._agents.agent(conn, self.delegate_id)
        if delegate is None:
            raise InvalidRequest("requested_actor is not a registered agent")
        holder = self._agents.agent(conn, record.holder_id)
        chain = actor_chain(claims)
        # The caller re-binds a token issued to itself to its current key (after a rotation):
        # a renewal, not a new hop (policy.delegation).
        renewal = delegate.client_id == agent.client_id and claims.get("client_id") == agent.client_id
        known = {c: found for c in set(chain) if (found := self._agents.agent(conn, c)) is not None}
        if holder is None:
            raise _invalid_subject_token("no longer has a grant behind it")
        self._check_audience(holder, self.resource or record.audience)
        # An agent of the chain that no longer exists cannot be vetted: it counts as suspended.
        actors = tuple(
            known[c].party(Role.ACTOR) if c in known else Party(c, "", "", Role.ACTOR, suspended=True)
            for c in chain
        )
        parent = ParentToken(
            jti=record.jti,
            audience=record.audience,
            scopes=parse_scope_string(str(claims["scope"])),
            reveal=tuple(claims.get("reveal") or ()),
            expires_at=record.expires_at,
            chain=chain,
            purpose=purpose,
        )
        request = ExchangeRequest(
            actors=actors,
            delegate=delegate.party(Role.REQUESTER),
            holder=holder.party(Role.HOLDER),
            resource=self.resource,
            scopes=self.scopes,
            reveal=self.reveal,
            requested_lifetime=self.lifetime,
            renewal=renewal,
        )
        entries = [e.to_policy() for e in entry_records]
        decision = decide_exchange(
            parent,
            request,
            grant=grant.to_policy(),
            entries=entries,
            mode=user.list_mode,
            now=now,
            limits=self._ctx.limits,
        )
        event = decision_event(
            events.EventType.TOKEN_DELEGATED,
            events.EventType.DELEGATION_DENIED,
            decision,
            actors=(*chain, delegate.client_id),
            user=user,
            resource=record.audience,
            scopes_requested=[str(s) for s in (self.scopes or parent.scopes)],
        )
        refusal: BrokerError = InvalidRequest(POLICY_REFUSAL)
        for reason in decision.reasons:
            if reason in _WIDENING_ERRORS:
                refusal = _WIDENING_ERRORS[reason](
                    f"the delegated token would be wider than its parent ({reason})"
                )
                break
        prior_act = claims.get("act") or {"sub": claims["client_id"]}
        act = claims.get("act") if renewal else {"sub": delegate.client_id, "act": prior_act}
        return Plan(
            decision=decision,
            event=event,
            refusal=refusal,
            user=user,
            holder=holder,
            recipient=delegate.client_id,
            parties=(*chain, delegate.client_id, holder.client_id),
            parent_jti=record.jti,
            act=act,
            # Bound deliberately to the delegate's current key, never to a key by its position.
            cnf_jkt=current_thumbprint(delegate.jwks),
            stamps=tuple(
                dict.fromkeys(
                    ((agent.client_id, agent.updated_at), (delegate.client_id, delegate.updated_at))
                )
            ),
        )

    def recheck(self, plan: Plan) -> Recheck | None:
        """For a token: the user's policy version, every party of the chain still active and the
        parent live with every ancestor; for a refusal, the policy version alone (it may rest on a
        remembered user row)."""
        return plan_recheck(plan)
