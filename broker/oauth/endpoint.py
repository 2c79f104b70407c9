"""Token issuance (client credentials and token exchange), introspection, revocation and the
revocation feed."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial
from typing import Any

from broker.context import ServiceContext
from broker.errors import (
    BrokerError,
    InvalidClient,
    InvalidRequest,
    InvalidTarget,
    SlowDown,
    TemporarilyUnavailable,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from broker.grantlog import events
from broker.oauth.access_tokens import mint, new_jti, read_own_token
from broker.oauth.caches.agents import AgentCache
from broker.oauth.caches.policies import PolicyCache
from broker.oauth.caches.purposes import PurposeCache
from broker.oauth.caches.users import UserCache
from broker.oauth.client_auth import (
    VerifiedAssertion,
    assertion_from_form,
    authenticate_assertion,
    authenticate_client,
    spend_assertion,
    verify_assertion,
)
from broker.oauth.client_credentials import ClientCredentialsFlow, Flow, Plan, StaleDecision, required
from broker.oauth.dpop import InvalidDPoPProof, VerifiedProof, check_bindable, check_registered, verify_proof
from broker.oauth.revocation import revoke_and_log
from broker.oauth.token_exchange import ExchangeFlow
from broker.oauth.token_writes import DPOP_PROOF_WINDOW, TokenWrite, spend
from broker.observability import record_decision
from broker.resilience.guard import Guard
from broker.storage import agents as agent_store
from broker.storage import budgets
from broker.storage import tokens as token_store
from broker.storage.batch import WriteBatcher
from policy import Decision, Denial, Reason

CLIENT_CREDENTIALS = "client_credentials"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE_URN = "urn:ietf:params:oauth:token-type:access_token"
FEED_LIMIT_DEFAULT, FEED_LIMIT_MAX = 500, 1000
# Entries stay in the feed this long past their token's exp, longer than any holder's leeway, so a
# revocation still reaches a holder that accepts a just-expired token under its clock skew.
FEED_EXPIRY_GRACE = 120
_MAX_ATTEMPTS = 3
# A signed token: the response body, the row to store and the log event.
_Signed = tuple[dict[str, Any], token_store.TokenRecord, events.Event]


class OAuthService:
    """The agent-facing OAuth endpoints."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._writes = WriteBatcher(ctx.store)
        self._policies = PolicyCache()
        self._agents = AgentCache()
        self._users = UserCache()
        # Public: the purpose service forgets it when the vocabulary changes (broker/api/app.py).
        self.purposes = PurposeCache()
        # Set when resilience runs (broker/resilience/service.py): admits agents, counts failures.
        self.guard: Guard | None = None

    async def issue(self, form: dict[str, str], *, dpop_proofs: list[str] | None = None) -> dict[str, Any]:
        """Handle a token request of either grant type, with an optional DPoP proof."""
        grant_type = required(form, "grant_type")
        if grant_type not in (CLIENT_CREDENTIALS, TOKEN_EXCHANGE):
            raise UnsupportedGrantType()
        proof = self._check_proof(dpop_proofs or [])
        # The flows parse their parameters first: a malformed request is invalid_request whoever sent it.
        flow: Flow
        if grant_type == CLIENT_CREDENTIALS:
            flow = ClientCredentialsFlow(
                self._ctx,
                form,
                proof_jkt=proof.jkt if proof else None,
                policies=self._policies,
                agents=self._agents,
                users=self._users,
                purposes=self.purposes,
            )
        else:
            flow = ExchangeFlow(
                self._ctx, form, proof=proof, agents=self._agents, users=self._users, purposes=self.purposes
            )
        assertion = assertion_from_form(form)
        try:
            return await self._run(flow, assertion, form.get("client_id"), proof)
        except InvalidClient as exc:
            if self.guard is not None:
                self.guard.client_failed(assertion, exc)
            raise

    def _check_proof(self, proofs: list[str]) -> VerifiedProof | None:
        if not proofs:
            return None
        if len(proofs) > 1:
            raise InvalidDPoPProof("exactly one DPoP header is allowed")
        settings = self._ctx.settings
        return verify_proof(
            proofs[0],
            method="POST",
            url=settings.token_endpoint,
            now=self._ctx.clock(),
            window=DPOP_PROOF_WINDOW,
            skew=settings.clock_skew_seconds,
        )

    async def _spend_assertion(self, verified: VerifiedAssertion, now: float) -> None:
        # A replayed proof rolled its job back; the assertion is spent regardless, on its own.
        skew = self._ctx.settings.clock_skew_seconds
        await self._writes.run(lambda conn: spend_assertion(conn, verified, now=now, skew=skew))

    async def _run(
        self, flow: Flow, assertion: str, claimed_client_id: str | None, proof: VerifiedProof | None
    ) -> dict[str, Any]:
        """Decide and sign on a read snapshot, outside the write transaction, which only spends the
        assertion (and proof), appends the log record and stores the token, grouped with the other
        requests ready at the same moment (broker/storage/batch.py). Inside it the flow re-checks
        what it decided on (after the log's head lock is taken), so a block, suspension or
        revocation that commits first is never bypassed."""
        settings = self._ctx.settings
        for _ in range(_MAX_ATTEMPTS):
            now = self._ctx.clock()
            error: BrokerError | None = None
            with self._ctx.store.read_kept() as conn:
                verified = verify_assertion(
                    conn,
                    assertion,
                    settings=settings,
                    now=now,
                    claimed_client_id=claimed_client_id,
                    find_agent=self._agents.agent,
                    reload_agent=self._agents.reload,
                )
                if self.guard is not None:
                    self.guard.admit(verified.agent.client_id, now)
                try:
                    if proof is not None:
                        verified = self._check_proof_key(
                            conn, verified, assertion, claimed_client_id, proof, now
                        )
                        if isinstance(flow, ClientCredentialsFlow):
                            check_bindable(proof, verified.agent.jwks)
                    plan = flow.decide(conn, verified.agent, now)
                except BrokerError as exc:
                    error = self._refusal_on_stored_keys(conn, exc, assertion, claimed_client_id, now)
            if error is not None:
                if self.guard is not None and isinstance(error, InvalidTarget):
                    self.guard.count("invalid_target", verified.agent.client_id)
                # The assertion is spent even when the request fails, so it cannot be replayed.
                skew = settings.clock_skew_seconds
                try:
                    await self._writes.run(partial(spend, verified=verified, proof=proof, now=now, skew=skew))
                except InvalidDPoPProof:
                    await self._spend_assertion(verified, now)
                    raise
                raise error
            if plan.decision.allowed and plan.token_budget is not None:
                plan = await self._spend_budget(plan, now)
            signed = self._sign(plan, now) if plan.decision.allowed else None
            write = TokenWrite(
                verified=verified,
                proof=proof,
                now=now,
                skew=settings.clock_skew_seconds,
                event=plan.event if signed is None else signed[2],
                token=None if signed is None else signed[1],
                recheck=flow.recheck(plan),
            )
            try:
                event = await self._writes.run(write)
            except StaleDecision:
                # Perhaps decided on a remembered user or agent that has changed since.
                self._agents.forget(*plan.parties)
                if plan.user is not None:
                    self._users.forget(plan.user.user_id)
                continue
            except InvalidDPoPProof:
                await self._spend_assertion(verified, now)
                raise
            record_decision(event.type, event.decision, event.reasons)
            if signed is None:
                raise plan.refusal
            return signed[0]
        raise TemporarilyUnavailable("the user's policy is changing; retry")

    def _refusal_on_stored_keys(
        self, conn: Any, error: BrokerError, assertion: str, claimed_client_id: str | None, now: float
    ) -> BrokerError:
        """A request refused on a remembered agent record must not show that a key removed since
        (marked compromised on another worker or replica) still authenticates: on this failure
        path only, the assertion is checked again against the stored keys."""
        if isinstance(error, InvalidClient):
            return error
        try:
            verify_assertion(
                conn,
                assertion,
                settings=self._ctx.settings,
                now=now,
                claimed_client_id=claimed_client_id,
                find_agent=self._agents.reload,
            )
        except InvalidClient as gone:
            return gone
        return error

    def _check_proof_key(
        self,
        conn: Any,
        verified: VerifiedAssertion,
        assertion: str,
        claimed_client_id: str | None,
        proof: VerifiedProof,
        now: float,
    ) -> VerifiedAssertion:
        """Refuse a proof by a key the agent does not accept. A remembered record may predate a
        rotation that added the proof's key: then the agent is read afresh and its assertion
        verified again against it (only on this failure path)."""
        try:
            check_registered(proof, verified.agent.jwks, now=now)
            return verified
        except InvalidDPoPProof:
            fresh = verify_assertion(
                conn,
                assertion,
                settings=self._ctx.settings,
                now=now,
                claimed_client_id=claimed_client_id,
                find_agent=self._agents.reload,
            )
            check_registered(proof, fresh.agent.jwks, now=now)
            return fresh

    async def _spend_budget(self, plan: Plan, now: float) -> Plan:
        """Spend one of the grant's tokens for this hour (docs/resilience.md, budgets), atomically
        across replicas in its own short write; when none is left, the plan becomes a refusal,
        logged as `token.denied` with reason `budget_exhausted` and answered 429 `slow_down`
        with `Retry-After` at the end of the hour. A unit spent for a token whose write then fails
        stays spent: a budget errs on the side of fewer tokens."""
        grant_id = plan.decision.grant_id or ""
        left = await self._writes.run(lambda conn: budgets.spend(conn, grant_id, budgets.TOKENS, now))
        if left is not None:
            return plan
        _, ends = budgets.window_of(budgets.TOKENS, now)
        event = replace(
            plan.event,
            type=events.EventType.TOKEN_DENIED,
            decision="deny",
            scopes_granted=(),
            reasons=("budget_exhausted",),
            details={**plan.event.details, "grant_id": grant_id, "tokens_per_hour": plan.token_budget},
        )
        refusal = SlowDown(
            "the grant's token budget for this hour is spent",
            headers={"Retry-After": str(max(1, math.ceil(ends - now)))},
        )
        denied = Decision.deny(Denial(Reason.BUDGET_EXHAUSTED, "grant"))
        return replace(plan, decision=denied, event=event, refusal=refusal)

    def _sign(self, plan: Plan, now: float) -> _Signed:
        decision, user, holder, resource = plan.decision, plan.user, plan.holder, plan.event.resource
        if decision.grant_id is None or user is None or holder is None or resource is None:
            raise RuntimeError("an allowed decision always names its user, holder, grant and resource")
        key = self._ctx.keyring.current()
        jti = new_jti()
        issued = int(now)
        claims: dict[str, Any] = {
            "iss": self._ctx.settings.issuer,
            "sub": user.user_id,
            "aud": resource,
            "client_id": plan.recipient,
            "scope": " ".join(decision.scopes),
            "iat": issued,
            "nbf": issued,
            "exp": issued + decision.lifetime_seconds,
            "jti": jti,
            "grant_id": decision.grant_id,
            "reveal": list(decision.reveal),
        }
        if decision.purpose:
            claims["purpose"] = decision.purpose
        if plan.act is not None:
            claims["act"] = plan.act
        if plan.cnf_jkt is not None:
            claims["cnf"] = {"jkt": plan.cnf_jkt}
        record = token_store.TokenRecord(
            jti=jti,
            user_ref=user.ref,
            grant_id=decision.grant_id,
            client_id=plan.recipient,
            holder_id=holder.client_id,
            audience=resource,
            parties=plan.parties,
            parent_jti=plan.parent_jti,
            kid=key.kid,
            issued_at=issued,
            expires_at=claims["exp"],
        )
        body = {
            "access_token": mint(key, claims),
            "token_type": "DPoP" if plan.cnf_jkt else "Bearer",
            "expires_in": decision.lifetime_seconds,
            "scope": claims["scope"],
            "issued_token_type": ACCESS_TOKEN_TYPE_URN,
        }
        details = {**plan.event.details, "cnf_jkt": plan.cnf_jkt, "parent_jti": plan.parent_jti}
        return body, record, replace(plan.event, jti=jti, kid=key.kid, details=details)

    def introspect(self, form: dict[str, str]) -> dict[str, Any]:
        """RFC 7662: active only for a live token addressed to one of the caller's resources."""
        token = required(form, "token")
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            caller = authenticate_client(conn, form, settings=self._ctx.settings, now=now)
            claims = read_own_token(conn, token, issuer=self._ctx.settings.issuer)
            record = token_store.get_token(conn, str(claims["jti"])) if claims else None
            # Revocation cascades to descendants when it happens; checking the ancestors too
            # keeps a delegated token inactive even if a cascade were ever missed.
            orphaned = record is not None and token_store.revoked_ancestor(conn, record)
            holder = agent_store.get_agent(conn, caller.client_id)
        skew = self._ctx.settings.clock_skew_seconds
        if (
            claims is None
            or record is None
            or record.revoked_at is not None
            or orphaned
            or now >= record.expires_at
            or claims.get("nbf", 0) > now + skew
            or holder is None
            or record.audience not in holder.resource_uris
        ):
            return {"active": False}
        return {"active": True, "token_type": "DPoP" if "cnf" in claims else "Bearer", **claims}

    def revoke(self, form: dict[str, str]) -> None:
        """RFC 7009: the token's client or its holder may revoke it; unknown tokens are a no-op."""
        token = required(form, "token")
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            caller = authenticate_client(conn, form, settings=self._ctx.settings, now=now)
            claims = read_own_token(conn, token, issuer=self._ctx.settings.issuer)
            record = token_store.get_token(conn, str(claims["jti"])) if claims else None
            if record is None:
                return
            if caller.client_id not in (record.client_id, record.holder_id):
                raise UnauthorizedClient()
            if record.revoked_at is None and record.expires_at > now:
                revoke_and_log(conn, [record], reason=f"revoked_by:{caller.client_id}", now=now)

    def revocation_feed(self, assertion: str, since: str | None, limit: str | None) -> dict[str, Any]:
        """Revoked, unexpired tokens addressed to the caller's resources, after a cursor."""
        try:
            cursor = int(since or 0)
            count = int(limit or FEED_LIMIT_DEFAULT)
        except ValueError as exc:
            raise InvalidRequest("since and limit must be integers") from exc
        if not 0 <= cursor <= 2**62 or not 0 < count <= FEED_LIMIT_MAX:
            raise InvalidRequest(f"since must be >= 0 and limit 1..{FEED_LIMIT_MAX}")
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            caller = authenticate_assertion(conn, assertion, settings=self._ctx.settings, now=now)
            holder = agent_store.get_agent(conn, caller.client_id)
            resources = holder.resource_uris if holder else ()
            # The newest position is read first and the page is bounded by it: an entry committed
            # between the two reads is then left for the next call instead of being skipped.
            newest = token_store.last_revocation_seq(conn)
            items = token_store.revocations_since(
                conn, resources, cursor, count, now - FEED_EXPIRY_GRACE, until=newest
            )
        # A short page means the caller has seen everything up to the newest entry (entries it
        # skipped were for other holders or already expired).
        next_cursor = items[-1].seq if len(items) == count else max(cursor, newest)
        return {
            "revocations": [
                {"jti": r.jti, "exp": int(r.expires_at), "revoked_at": int(r.revoked_at)} for r in items
            ],
            "cursor": str(next_cursor),
        }
