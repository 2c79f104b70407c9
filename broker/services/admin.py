"""Admin actions: agents and their attested attributes, user and auditor keys, admin keys."""

from __future__ import annotations

from typing import Any

from broker.context import ServiceContext
from broker.errors import Conflict, NotFound, Unprocessable
from broker.grantlog import events
from broker.oauth.agent_keys import JwkError, Rotation, initial_key_set, rotate, validate_jwks
from broker.oauth.revocation import revoke_and_log
from broker.services import organizations as orgs
from broker.storage import Connection, grant_log, principals
from broker.storage import agents as agent_store
from broker.storage import tokens as token_store
from broker.storage.agents import AgentRecord
from broker.validation import check_client_id, check_resource_uri, normalize_locale

MAX_RESOURCES = 50


class AdminService:
    """What an admin key may do."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def create_admin_key(self, *, created_by: str) -> str:
        """A new admin API key (shown once)."""
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            key = principals.create_api_key(conn, principals.Role.ADMIN, created_by, now)
            events.append(
                conn, events.Event(type=events.EventType.ADMIN_KEY_CREATED, actors=(created_by,)), now=now
            )
        return key

    def register_agent(
        self,
        *,
        client_id: str,
        name: str,
        organization: str,
        locale: str,
        jwks: Any,
        resource_uris: list[str],
        admin: str,
    ) -> AgentRecord:
        """Register an agent with the organization and locale the admin attests."""
        try:
            check_client_id(client_id)
            locale = normalize_locale(locale)
            keys = initial_key_set(validate_jwks(jwks))
            uris = tuple(dict.fromkeys(check_resource_uri(u) for u in resource_uris))
        except (ValueError, JwkError) as exc:
            raise Unprocessable(str(exc)) from exc
        if len(uris) > MAX_RESOURCES:
            raise Unprocessable(f"at most {MAX_RESOURCES} resource URIs")
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            # Client ids compare without case (policy.canonical_agent), so "AD-Agent" cannot stand
            # beside "ad-agent" and dodge a block on it.
            if agent_store.client_id_taken(conn, client_id):
                raise Conflict("an agent with this client_id (ignoring case) exists")
            if uris and agent_store.resources_taken(conn, uris):
                raise Conflict("a resource URI is registered to another agent")
            org = orgs.organization_for_agent(conn, organization, admin=admin, now=now)
            record = AgentRecord(
                client_id=client_id,
                name=name,
                organization=org.org_id,
                organization_display=org.display_name,
                locale=locale,
                jwks=keys,
                status=agent_store.ACTIVE,
                resource_uris=uris,
                created_at=now,
                organization_cover=frozenset(orgs.cover(conn, org)),
            )
            agent_store.insert_agent(conn, record)
            events.append(
                conn,
                events.Event(
                    type=events.EventType.AGENT_REGISTERED,
                    actors=(client_id,),
                    details={
                        "organization": org.org_id,
                        "organization_cover": sorted(record.organization_cover),
                        "locale": locale,
                        "resource_uris": list(uris),
                        "kids": [k["kid"] for k in keys["keys"]],
                        "by": admin,
                    },
                ),
                now=now,
            )
        return record

    def get_agent(self, client_id: str) -> AgentRecord:
        """One agent, or NotFound."""
        with self._ctx.store.read() as conn:
            agent = agent_store.get_agent(conn, client_id)
        if agent is None:
            raise NotFound("no such agent")
        return agent

    def list_agents(self) -> list[AgentRecord]:
        """Every agent."""
        with self._ctx.store.read() as conn:
            return agent_store.list_agents(conn)

    def set_suspended(self, client_id: str, suspended: bool, *, admin: str) -> AgentRecord:
        """Suspend (revoking every live token the agent is party to) or reinstate an agent."""
        status = agent_store.SUSPENDED if suspended else agent_store.ACTIVE
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            agent = agent_store.get_agent(conn, client_id)
            if agent is None:
                raise NotFound("no such agent")
            if agent.status != status:
                agent_store.set_status(conn, client_id, status, now)
                kind = events.EventType.AGENT_SUSPENDED if suspended else events.EventType.AGENT_REINSTATED
                events.append(
                    conn, events.Event(type=kind, actors=(client_id,), details={"by": admin}), now=now
                )
                if suspended:
                    live = token_store.live_tokens_with_party(conn, client_id, now)
                    revoke_and_log(conn, live, reason="agent_suspended", now=now)
            return agent_store.get_agent(conn, client_id) or agent

    def rotate_keys(
        self,
        client_id: str,
        jwks: Any,
        *,
        current_kid: str | None = None,
        compromised_kids: list[str] | None = None,
        admin: str,
    ) -> AgentRecord:
        """Replace an agent's active keys (docs/api.md, "Rotating an agent's keys"). Keys left out
        retire: still accepted until every token bound to them has expired. Keys named in
        `compromised_kids` are refused at once, and every live token issued to the agent that is
        bound to one of them, or to no key, is revoked (a thief with the key could have asked
        for bearer tokens too)."""
        settings = self._ctx.settings
        # Every token bound to a retiring key was issued before the rotation, so it has expired
        # (and passed any holder's clock leeway) by then.
        retire_for = settings.max_token_lifetime + settings.clock_skew_seconds
        with self._ctx.store.write() as conn:
            # The log head's lock first: a token write that commits before this rotation is then
            # seen by the revocation below, and one that commits after re-checks the agent's
            # updated_at (broker/storage/recheck.py) and is decided again on the new keys.
            events.lock_head(conn)
            now = self._ctx.clock()
            agent = agent_store.get_agent(conn, client_id)
            if agent is None:
                raise NotFound("no such agent")
            try:
                rotation = rotate(
                    agent.jwks,
                    jwks,
                    current_kid=current_kid,
                    compromised_kids=list(compromised_kids or []),
                    now=now,
                    retire_for=retire_for,
                )
            except JwkError as exc:
                raise Unprocessable(str(exc)) from exc
            # Strictly later than the value any cached decision saw, even on a clock that stood still.
            stamp = max(now, agent.updated_at + 0.001)
            agent_store.set_jwks(conn, client_id, rotation.jwks, stamp)
            events.append(conn, _rotation_event(client_id, rotation, admin), now=now)
            if rotation.compromised:
                self._revoke_compromised(conn, client_id, rotation, now)
            return agent_store.get_agent(conn, client_id) or agent

    @staticmethod
    def _revoke_compromised(conn: Connection, client_id: str, rotation: Rotation, now: float) -> None:
        # A token is bound to its client's key (cnf.jkt); the binding is read from the log event
        # that issued it. A binding that is not a key the agent still accepts (a compromised key,
        # no key at all, or a binding the log cannot show) is revoked: fail closed.
        live = token_store.live_tokens_issued_to(conn, client_id, now)
        bindings = grant_log.token_bindings(conn, [record.jti for record in live])
        kept = rotation.kept_thumbprints
        exposed = [
            record
            for record in live
            if not isinstance(bound := bindings.get(record.jti), str) or bound not in kept
        ]
        revoke_and_log(conn, exposed, reason="key_compromised", now=now)

    def create_user(self, user_id: str, *, admin: str) -> tuple[principals.UserRecord, str]:
        """Create a user and the user's API key (shown once)."""
        if not 0 < len(user_id) <= 256 or user_id != user_id.strip():
            raise Unprocessable("user_id must be 1-256 characters without surrounding spaces")
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            if principals.get_user(conn, user_id=user_id) is not None:
                raise Conflict("the user exists")
            user = principals.insert_user(conn, user_id, now)
            key = principals.create_api_key(conn, principals.Role.USER, user.ref, now)
            events.append(
                conn,
                events.Event(type=events.EventType.USER_CREATED, subject=user.ref, details={"by": admin}),
                now=now,
            )
        return user, key

    def create_auditor(self, name: str, *, admin: str) -> tuple[str, str]:
        """Create an auditor and its API key (shown once)."""
        if not 0 < len(name.strip()) <= 200:
            raise Unprocessable("name must be 1-200 characters")
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            auditor_id = principals.insert_auditor(conn, name.strip(), now)
            key = principals.create_api_key(conn, principals.Role.AUDITOR, auditor_id, now)
            events.append(
                conn,
                events.Event(
                    type=events.EventType.AUDITOR_CREATED, actors=(auditor_id,), details={"by": admin}
                ),
                now=now,
            )
        return auditor_id, key


def _rotation_event(client_id: str, rotation: Rotation, admin: str) -> events.Event:
    def keys(pairs: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
        return [{"kid": kid, "jkt": jkt} for kid, jkt in pairs]

    return events.Event(
        type=events.EventType.AGENT_KEYS_ROTATED,
        actors=(client_id,),
        reasons=("key_compromised",) if rotation.compromised else ("planned",),
        details={
            "kids": [jwk["kid"] for jwk in rotation.jwks["keys"]],
            "current": keys((rotation.current,))[0],
            "added": keys(rotation.added),
            "retiring": keys(rotation.retiring),
            "compromised": keys(rotation.compromised),
            "by": admin,
        },
    )
