"""Admin actions: agents and their attested attributes, user and auditor keys, admin keys."""

from __future__ import annotations

from typing import Any

from broker.context import ServiceContext
from broker.errors import Conflict, NotFound, Unprocessable
from broker.grantlog import events
from broker.oauth.agent_keys import JwkError, validate_jwks
from broker.oauth.revocation import revoke_and_log
from broker.services import organizations as orgs
from broker.storage import agents as agent_store
from broker.storage import principals
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
            keys = validate_jwks(jwks)
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
