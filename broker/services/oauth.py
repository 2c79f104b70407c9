"""Token issuance, introspection, revocation and the revocation feed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection

from broker import audit
from broker.client_auth import authenticate_assertion, authenticate_client
from broker.errors import (
    AccessDenied,
    BrokerError,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
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


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name, "")
    if not value:
        raise InvalidRequest(f"missing parameter: {name}")
    return value


def _parse_request(form: dict[str, str]) -> tuple[str, str, str, Any, str | None, int | None]:
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
    return grant_type, subject, resource, scopes, purpose, lifetime


class OAuthService:
    """The agent-facing OAuth endpoints."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def issue(self, form: dict[str, str]) -> dict[str, Any]:
        """Handle a token request: authenticate, decide, and on allow sign and record the token."""
        _, subject, resource, scopes, purpose, lifetime = _parse_request(form)
        settings = self._ctx.settings
        error: BrokerError | None = None
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            agent = authenticate_client(conn, form, settings=settings, now=now)
            # From here on errors are answered after commit, so the assertion's jti stays consumed
            # and the refusal stays in the log.
            try:
                return self._issue(conn, agent, subject, resource, scopes, purpose, lifetime, now)
            except BrokerError as exc:
                error = exc
        raise error

    def _issue(
        self,
        conn: Connection,
        agent: AgentRecord,
        subject: str,
        resource: str,
        scopes: Any,
        purpose: str | None,
        lifetime: int | None,
        now: float,
    ) -> dict[str, Any]:
        holder = agent_store.holder_of(conn, resource)
        if holder is None:
            raise InvalidTarget()
        request = TokenRequest(
            requester=agent.party(Role.REQUESTER),
            holder=holder.party(Role.HOLDER),
            resource=resource,
            scopes=scopes,
            purpose=purpose,
            requested_lifetime=lifetime,
        )
        user = principals.get_user(conn, user_id=subject)
        if user is None:
            decision = Decision.deny(Denial(Reason.UNKNOWN_SUBJECT, "subject"))
        else:
            decision = decide_token(
                request,
                grants=[g.to_policy() for g in grant_store.grants_for(conn, user.ref, resource=resource)],
                entries=[e.to_policy() for e in grant_store.entries_for(conn, user.ref)],
                mode=user.list_mode,
                now=now,
                limits=self._ctx.limits,
            )
        event = audit.Event(
            type=audit.EventType.TOKEN_ISSUED if decision.allowed else audit.EventType.TOKEN_DENIED,
            actors=(agent.client_id,),
            subject=user.ref if user else None,
            resource=resource,
            scopes_requested=[str(s) for s in scopes],
            scopes_granted=decision.scopes,
            decision="allow" if decision.allowed else "deny",
            reasons=[str(r) for r in decision.reasons],
            details={
                "inputs": decision.inputs,
                "denials": [f"{d.reason}:{d.detail}" for d in decision.denials],
                "grant_id": decision.grant_id,
                "lifetime": decision.lifetime_seconds,
            },
        )
        if not decision.allowed or user is None:
            audit.append(conn, event, now=now)
            raise AccessDenied()
        return self._sign(conn, agent, holder, user, decision, event, now)

    def _sign(
        self,
        conn: Connection,
        agent: AgentRecord,
        holder: AgentRecord,
        user: principals.UserRecord,
        decision: Decision,
        event: audit.Event,
        now: float,
    ) -> dict[str, Any]:
        key = self._ctx.keyring.current()
        jti = new_jti()
        issued = int(now)
        claims: dict[str, Any] = {
            "iss": self._ctx.settings.issuer,
            "sub": user.user_id,
            "aud": event.resource,
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
        token = mint(key, claims)
        if decision.grant_id is None or event.resource is None:
            raise RuntimeError("an allowed decision always names its grant and resource")
        token_store.insert_token(
            conn,
            token_store.TokenRecord(
                jti=jti,
                user_ref=user.ref,
                grant_id=decision.grant_id,
                client_id=agent.client_id,
                holder_id=holder.client_id,
                audience=event.resource,
                parties=(agent.client_id, holder.client_id),
                parent_jti=None,
                kid=key.kid,
                issued_at=issued,
                expires_at=claims["exp"],
            ),
        )
        audit.append(conn, replace(event, jti=jti, kid=key.kid), now=now)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": decision.lifetime_seconds,
            "scope": claims["scope"],
            "issued_token_type": ACCESS_TOKEN_TYPE_URN,
        }

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
