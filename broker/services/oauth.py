"""Token issuance, introspection, revocation and the revocation feed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection

from broker import audit
from broker.client_auth import (
    assertion_from_form,
    authenticate_assertion,
    authenticate_client,
    consume,
    verify_assertion,
)
from broker.errors import (
    AccessDenied,
    BrokerError,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    TemporarilyUnavailable,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from broker.services.context import ServiceContext
from broker.services.revocation import revoke_and_log
from broker.storage import agents as agent_store
from broker.storage import grants as grant_store
from broker.storage import principals
from broker.storage import tokens as token_store
from broker.storage.agents import AgentRecord
from broker.tokens import mint, new_jti, read_own_token
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

CLIENT_CREDENTIALS = "client_credentials"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE_URN = "urn:ietf:params:oauth:token-type:access_token"
MAX_PURPOSE = 200
FEED_LIMIT_DEFAULT, FEED_LIMIT_MAX = 500, 1000
_MAX_ATTEMPTS = 3


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name, "")
    if not value:
        raise InvalidRequest(f"missing parameter: {name}")
    return value


@dataclass(frozen=True, slots=True)
class _TokenParams:
    subject: str
    resource: str
    scopes: tuple[Scope, ...]
    purpose: str | None
    lifetime: int | None


def _parse_request(form: dict[str, str]) -> _TokenParams:
    grant_type = _required(form, "grant_type")
    if grant_type != CLIENT_CREDENTIALS:
        raise UnsupportedGrantType()
    subject = _required(form, "subject")
    resource = _required(form, "resource")
    parts = urlsplit(resource)
    # RFC 8707 section 2: an absolute URI without a fragment.
    if not parts.scheme or not parts.netloc or parts.fragment:
        raise InvalidTarget("resource must be an absolute URI without a fragment")
    try:
        scopes = parse_scope_string(_required(form, "scope"))
    except ScopeError as exc:
        raise InvalidScope(str(exc)) from exc
    purpose = form.get("purpose") or None
    if purpose is not None and len(purpose) > MAX_PURPOSE:
        raise InvalidRequest(f"purpose is longer than {MAX_PURPOSE} characters")
    lifetime: int | None = None
    if "expires_in" in form:
        raw = form["expires_in"]
        if not raw.isdigit() or not 0 < int(raw) <= 86400:
            raise InvalidRequest("expires_in must be a positive number of seconds")
        lifetime = int(raw)
    return _TokenParams(subject, resource, scopes, purpose, lifetime)


@dataclass(frozen=True, slots=True)
class _Plan:
    """A decision made on a read snapshot, with what is needed to commit it."""

    decision: Decision
    event: audit.Event
    user: principals.UserRecord | None
    holder: AgentRecord


class _StaleDecision(Exception):
    """The user's policy or an agent's status changed between deciding and committing."""


class OAuthService:
    """The agent-facing OAuth endpoints."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def issue(self, form: dict[str, str]) -> dict[str, Any]:
        """Handle a token request: authenticate, decide, and on allow sign and record the token.

        Deciding and signing happen on a read snapshot, outside the write transaction, which only
        spends the assertion, appends the log record and stores the token. Inside it the broker
        re-checks the user's policy version and the agents' status (after taking the log's head
        lock), so a block or suspension that commits first is never bypassed.
        """
        request = _parse_request(form)
        assertion = assertion_from_form(form)
        settings = self._ctx.settings
        for _ in range(_MAX_ATTEMPTS):
            now = self._ctx.clock()
            error: BrokerError | None = None
            with self._ctx.store.read() as conn:
                verified = verify_assertion(
                    conn, assertion, settings=settings, now=now, claimed_client_id=form.get("client_id")
                )
                try:
                    plan = self._decide(conn, verified.agent, request, now)
                except BrokerError as exc:
                    error = exc
            if error is not None:
                # The assertion is spent even when the request fails, so it cannot be replayed.
                with self._ctx.store.write() as conn:
                    consume(conn, verified, now=now, skew=settings.clock_skew_seconds)
                raise error
            signed = self._sign(verified.agent, plan, now) if plan.decision.allowed else None
            try:
                with self._ctx.store.write() as conn:
                    consume(conn, verified, now=now, skew=settings.clock_skew_seconds)
                    event = plan.event if signed is None else signed[2]
                    audit.append(conn, event, now=now)
                    if signed is None:
                        break
                    self._check_current(conn, verified.agent, plan)
                    token_store.insert_token(conn, signed[1])
                return signed[0]
            except _StaleDecision:
                continue
        else:
            raise TemporarilyUnavailable("the user's policy is changing; retry")
        raise AccessDenied()

    def _decide(self, conn: Connection, agent: AgentRecord, request: _TokenParams, now: float) -> _Plan:
        holder = agent_store.holder_of(conn, request.resource)
        if holder is None:
            raise InvalidTarget()
        token_request = TokenRequest(
            requester=agent.party(Role.REQUESTER),
            holder=holder.party(Role.HOLDER),
            resource=request.resource,
            scopes=request.scopes,
            purpose=request.purpose,
            requested_lifetime=request.lifetime,
        )
        user = principals.get_user(conn, user_id=request.subject)
        if user is None:
            decision = Decision.deny(Denial(Reason.UNKNOWN_SUBJECT, "subject"))
        else:
            decision = decide_token(
                token_request,
                grants=[
                    g.to_policy()
                    for g in grant_store.grants_for_request(
                        conn,
                        user.ref,
                        resource=request.resource,
                        agent=agent.client_id,
                        organization=agent.organization,
                    )
                ],
                entries=[e.to_policy() for e in grant_store.entries_for(conn, user.ref)],
                mode=user.list_mode,
                now=now,
                limits=self._ctx.limits,
            )
        event = audit.Event(
            type=audit.EventType.TOKEN_ISSUED if decision.allowed else audit.EventType.TOKEN_DENIED,
            actors=(agent.client_id,),
            subject=user.ref if user else None,
            resource=request.resource,
            scopes_requested=[str(s) for s in request.scopes],
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
        return _Plan(decision=decision, event=event, user=user, holder=holder)

    def _check_current(self, conn: Connection, agent: AgentRecord, plan: _Plan) -> None:
        assert plan.user is not None
        if not principals.policy_still_current(
            conn, plan.user.ref, plan.user.policy_version, agent.client_id, plan.holder.client_id
        ):
            raise _StaleDecision

    def _sign(
        self, agent: AgentRecord, plan: _Plan, now: float
    ) -> tuple[dict[str, Any], token_store.TokenRecord, audit.Event]:
        decision, user, resource = plan.decision, plan.user, plan.event.resource
        if decision.grant_id is None or user is None or resource is None:
            raise RuntimeError("an allowed decision always names its user, grant and resource")
        key = self._ctx.keyring.current()
        jti = new_jti()
        issued = int(now)
        claims: dict[str, Any] = {
            "iss": self._ctx.settings.issuer,
            "sub": user.user_id,
            "aud": resource,
            "client_id": agent.client_id,
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
        record = token_store.TokenRecord(
            jti=jti,
            user_ref=user.ref,
            grant_id=decision.grant_id,
            client_id=agent.client_id,
            holder_id=plan.holder.client_id,
            audience=resource,
            parties=(agent.client_id, plan.holder.client_id),
            parent_jti=None,
            kid=key.kid,
            issued_at=issued,
            expires_at=claims["exp"],
        )
        body = {
            "access_token": mint(key, claims),
            "token_type": "Bearer",
            "expires_in": decision.lifetime_seconds,
            "scope": claims["scope"],
            "issued_token_type": ACCESS_TOKEN_TYPE_URN,
        }
        return body, record, replace(plan.event, jti=jti, kid=key.kid)

    def introspect(self, form: dict[str, str]) -> dict[str, Any]:
        """RFC 7662: active only for a live token addressed to one of the caller's resources."""
        token = _required(form, "token")
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            caller = authenticate_client(conn, form, settings=self._ctx.settings, now=now)
            claims = read_own_token(conn, token, issuer=self._ctx.settings.issuer)
            record = token_store.get_token(conn, str(claims["jti"])) if claims else None
            holder = agent_store.get_agent(conn, caller.client_id)
        skew = self._ctx.settings.clock_skew_seconds
        if (
            claims is None
            or record is None
            or record.revoked_at is not None
            or now >= record.expires_at
            or claims.get("nbf", 0) > now + skew
            or holder is None
            or record.audience not in holder.resource_uris
        ):
            return {"active": False}
        return {"active": True, "token_type": "DPoP" if "cnf" in claims else "Bearer", **claims}

    def revoke(self, form: dict[str, str]) -> None:
        """RFC 7009: the token's client or its holder may revoke it; unknown tokens are a no-op."""
        token = _required(form, "token")
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
        if cursor < 0 or not 0 < count <= FEED_LIMIT_MAX:
            raise InvalidRequest(f"since must be >= 0 and limit 1..{FEED_LIMIT_MAX}")
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            caller = authenticate_assertion(conn, assertion, settings=self._ctx.settings, now=now)
            holder = agent_store.get_agent(conn, caller.client_id)
            resources = holder.resource_uris if holder else ()
            items = token_store.revocations_since(conn, resources, cursor, count, now)
            newest = token_store.last_revocation_seq(conn)
        # A short page means the caller has seen everything up to the newest entry (entries it
        # skipped were for other holders or already expired).
        next_cursor = items[-1].seq if len(items) == count else max(cursor, newest)
        return {
            "revocations": [
                {"jti": r.jti, "exp": int(r.expires_at), "revoked_at": int(r.revoked_at)} for r in items
            ],
            "cursor": str(next_cursor),
        }
