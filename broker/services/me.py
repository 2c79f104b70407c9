"""What users do with their own data: grants, blocklist and allowlist, and their activity."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from broker.context import ServiceContext
from broker.errors import NotFound, Unprocessable
from broker.grantlog import events
from broker.oauth.revocation import revoke_and_log, revoke_refused_tokens
from broker.services import organizations as orgs
from broker.services.purposes import grant_purposes
from broker.storage import Connection, grant_log, principals
from broker.storage import agents as agent_store
from broker.storage import grants as grant_store
from broker.storage import tokens as token_store
from broker.storage.grants import EntryRecord, GrantRecord
from broker.storage.organizations import OrganizationRecord
from broker.storage.principals import UserRecord
from broker.validation import (
    check_client_id,
    check_entity_type,
    check_resource_uri,
    normalize_locale,
)
from policy import (
    MAX_DELEGATION_DEPTH,
    Effect,
    EntryKind,
    ListMode,
    ScopeError,
    canonical_agent,
    parse_scopes,
)

MAX_REVEAL = 32
MAX_ENTRY_VALUE = 200  # list_entries.value
ACTIVITY_LIMIT_MAX = 200


def normalize_entry_value(kind: EntryKind, value: str) -> str:
    """The canonical form of a locale or agent entry's value, so that matching is exact (an
    organization entry is resolved against the registry: `MeService.block`)."""
    if kind is EntryKind.LOCALE:
        return normalize_locale(value, groups_allowed=True)
    if kind is EntryKind.AGENT:
        return canonical_agent(check_client_id(value.strip()))
    raise ValueError("organization entries are resolved against the registry")


@dataclass(frozen=True, slots=True)
class EntryOutcome:
    """What adding an entry did: the entries (one per organization a name resolved to), whether any
    is new, and, when the value names nothing registered, a warning and the closest names."""

    entries: tuple[EntryRecord, ...]
    created: bool
    warnings: tuple[str, ...] = ()
    suggestions: tuple[OrganizationRecord, ...] = ()
    resolved: tuple[OrganizationRecord, ...] = ()


class MeService:
    """A user's own grants, lists and activity; every call is scoped to the authenticated user."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def user(self, ref: str) -> UserRecord:
        """The user a key belongs to."""
        with self._ctx.store.read() as conn:
            user = principals.get_user(conn, ref=ref)
        if user is None:
            raise NotFound("no such user")
        return user

    def create_grant(self, user: UserRecord, body: dict[str, Any]) -> GrantRecord:
        """Grant an agent (or an organization) scoped, time-capped access at one holder."""
        agent, organization = body.get("agent"), body.get("organization")
        if (agent is None) == (organization is None):
            raise Unprocessable("name exactly one of agent and organization")
        try:
            scopes = tuple(str(s) for s in parse_scopes(body["scopes"]))
            reveal = tuple(dict.fromkeys(check_entity_type(t) for t in body.get("reveal") or ()))
        except (ScopeError, ValueError) as exc:
            raise Unprocessable(str(exc)) from exc
        if len(reveal) > MAX_REVEAL:
            raise Unprocessable(f"at most {MAX_REVEAL} entity types in reveal")
        max_ttl = body["max_ttl_seconds"]
        if not 0 < max_ttl <= self._ctx.settings.max_token_lifetime:
            raise Unprocessable(f"max_ttl_seconds must be 1..{self._ctx.settings.max_token_lifetime}")
        depth = body.get("max_delegation_depth") or 0
        if not 0 <= depth <= MAX_DELEGATION_DEPTH:
            raise Unprocessable(f"max_delegation_depth must be 0..{MAX_DELEGATION_DEPTH}")
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            expires_at = body.get("expires_at")
            if expires_at is not None and expires_at <= now:
                raise Unprocessable("expires_at is in the past")
            try:
                resource = check_resource_uri(body["resource"])
            except ValueError as exc:
                raise Unprocessable(str(exc)) from exc
            if agent_store.holder_of(conn, resource) is None:
                raise Unprocessable("resource is not a registered resource URI")
            if agent is not None and agent_store.get_agent(conn, agent) is None:
                raise Unprocessable("agent is not a registered agent")
            if organization is not None:
                # A grant is to one organization, named by id or by a name only it has.
                resolution = orgs.resolve_in(conn, organization)
                if len(resolution.matches) != 1:
                    raise Unprocessable("organization must name one registered organization (by id)")
                organization = resolution.matches[0].org_id
            # Registered, live purposes only: what a grant lists is written to the log for good.
            purposes = grant_purposes(conn, body)
            grant = GrantRecord(
                grant_id=principals.new_ref("g"),
                user_ref=user.ref,
                agent=agent,
                organization=organization,
                resource=resource,
                scopes=scopes,
                max_ttl_seconds=max_ttl,
                expires_at=expires_at,
                max_delegation_depth=depth,
                reveal=reveal,
                purposes=purposes,
                require_dpop=bool(body.get("require_dpop")),
                created_at=now,
                tokens_per_hour=_budget(body.get("tokens_per_hour")),
                disclosures_per_day=_budget(body.get("disclosures_per_day")),
            )
            grant_store.insert_grant(conn, grant)
            principals.bump_policy_version(conn, user.ref)
            events.append(conn, _grant_event(events.EventType.GRANT_CREATED, grant), now=now)
        return grant

    def set_budget(
        self, user: UserRecord, grant_id: str, *, tokens_per_hour: int | None, disclosures_per_day: int | None
    ) -> GrantRecord:
        """Set a grant's budgets (None: unlimited). Bumps the policy version, so a decision made
        under the old budget is decided again, and logs `grant.budget_set`."""
        tokens, disclosures = _budget(tokens_per_hour), _budget(disclosures_per_day)
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            grant = grant_store.get_grant(conn, user.ref, grant_id)
            if grant is None:
                raise NotFound("no such grant")
            grant_store.set_budget(conn, grant_id, tokens_per_hour=tokens, disclosures_per_day=disclosures)
            principals.bump_policy_version(conn, user.ref)
            events.append(
                conn,
                events.Event(
                    type=events.EventType.GRANT_BUDGET_SET,
                    actors=(grant.agent,) if grant.agent else (),
                    subject=user.ref,
                    resource=grant.resource,
                    details={
                        "grant_id": grant_id,
                        "tokens_per_hour": tokens,
                        "disclosures_per_day": disclosures,
                    },
                ),
                now=now,
            )
            return grant_store.get_grant(conn, user.ref, grant_id) or grant

    def grants(self, user: UserRecord) -> list[GrantRecord]:
        """All the user's grants, oldest first."""
        with self._ctx.store.read() as conn:
            return grant_store.grants_for(conn, user.ref)

    def revoke_grant(self, user: UserRecord, grant_id: str) -> GrantRecord:
        """Revoke a grant and every live token issued under it."""
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            grant = grant_store.get_grant(conn, user.ref, grant_id)
            if grant is None:
                raise NotFound("no such grant")
            if grant.revoked_at is None:
                grant_store.revoke_grant(conn, grant_id, now)
                principals.bump_policy_version(conn, user.ref)
                events.append(conn, _grant_event(events.EventType.GRANT_REVOKED, grant), now=now)
                live = token_store.live_tokens_for_grant(conn, grant_id, now)
                revoke_and_log(conn, live, reason="grant_revoked", now=now)
            return grant_store.get_grant(conn, user.ref, grant_id) or grant

    def add_entry(
        self, user: UserRecord, *, kind: EntryKind, value: str, effect: Effect, note: str | None
    ) -> tuple[EntryRecord, bool]:
        """Add a list entry (or return the identical one); True when it is new. See `block` for
        the warnings and the other entries a name may resolve to."""
        outcome = self.block(user, kind=kind, value=value, effect=effect, note=note)
        return outcome.entries[0], outcome.created

    def block(
        self, user: UserRecord, *, kind: EntryKind, value: str, effect: Effect, note: str | None
    ) -> EntryOutcome:
        """Add a block (or allow) entry, effective before this returns.

        An organization named by id, name, alias or domain becomes one entry per organization it
        resolves to (each covering its subsidiaries and every agent of each); one that resolves to
        none is kept, on the name's skeleton, so that it covers an organization registered under
        that name later, and the answer warns and suggests the closest registered names. An agent
        entry that names no registered agent is kept and warns."""
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            warnings: list[str] = []
            suggestions: tuple[OrganizationRecord, ...] = ()
            resolved: tuple[OrganizationRecord, ...] = ()
            if kind is EntryKind.ORGANIZATION:
                resolution = orgs.resolve_in(conn, value)
                resolved = resolution.matches
                values = list(resolution.identities) or [orgs.NAME_PREFIX + resolution.skeleton]
                if len(values[0]) > MAX_ENTRY_VALUE:
                    raise Unprocessable("the organization name is too long")
                if not resolution.matches:
                    suggestions = resolution.suggestions
                    warnings.append(
                        f"no registered organization is named {resolution.text!r}; the entry is kept "
                        "and will cover an organization registered under that name"
                    )
            else:
                try:
                    values = [normalize_entry_value(kind, value)]
                except ValueError as exc:
                    raise Unprocessable(str(exc)) from exc
                if kind is EntryKind.AGENT and not agent_store.client_id_taken(conn, values[0]):
                    warnings.append(f"no registered agent has the client id {values[0]!r}; the entry is kept")
            entries: list[EntryRecord] = []
            created = False
            for normalized in values:
                existing = grant_store.find_entry(conn, user.ref, kind, normalized, effect)
                if existing is not None:
                    entries.append(existing)
                    continue
                entry = EntryRecord(
                    entry_id=principals.new_ref("e"),
                    user_ref=user.ref,
                    kind=kind,
                    value=normalized,
                    effect=effect,
                    note=note,
                    created_at=now,
                )
                grant_store.insert_entry(conn, entry)
                events.append(conn, _entry_event(events.EventType.LIST_ENTRY_ADDED, entry), now=now)
                entries.append(entry)
                created = True
            if created:
                self._enforce(conn, user.ref, now)
        return EntryOutcome(
            entries=tuple(entries),
            created=created,
            warnings=tuple(warnings),
            suggestions=suggestions,
            resolved=resolved,
        )

    def remove_entry(self, user: UserRecord, entry_id: str) -> EntryRecord:
        """Remove a list entry; removing an allow entry may end live tokens."""
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            entry = grant_store.delete_entry(conn, user.ref, entry_id)
            if entry is None:
                raise NotFound("no such entry")
            events.append(conn, _entry_event(events.EventType.LIST_ENTRY_REMOVED, entry), now=now)
            self._enforce(conn, user.ref, now)
        return entry

    def entries(self, user: UserRecord) -> tuple[ListMode, list[EntryRecord]]:
        """The user's mode and entries."""
        with self._ctx.store.read() as conn:
            fresh = principals.get_user(conn, ref=user.ref)
            return (fresh or user).list_mode, grant_store.entries_for(conn, user.ref)

    def set_mode(self, user: UserRecord, mode: ListMode) -> ListMode:
        """Switch between blocklist and allowlist-only; the switch takes effect at once."""
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            principals.set_list_mode(conn, user.ref, mode)
            events.append(
                conn,
                events.Event(
                    type=events.EventType.LIST_MODE_CHANGED, subject=user.ref, details={"mode": mode}
                ),
                now=now,
            )
            self._enforce(conn, user.ref, now)
        return mode

    def _enforce(self, conn: Connection, user_ref: str, now: float) -> None:
        # Runs in the same transaction as the change: when the call returns, every live token
        # that the lists now refuse is revoked and in the feed, and token requests decided on the
        # old lists see the new policy version and decide again.
        principals.bump_policy_version(conn, user_ref)
        user = principals.get_user(conn, ref=user_ref)
        assert user is not None
        entries = [e.to_policy() for e in grant_store.entries_for(conn, user_ref)]
        revoke_refused_tokens(conn, user_ref, entries, user.list_mode, reason="blocked_by_user", now=now)

    def activity(
        self,
        user: UserRecord,
        *,
        limit: int,
        before: int | None,
        prove: Callable[[int], dict[str, Any] | None] | None = None,
    ) -> dict[str, Any]:
        """The user's slice of the grant log, newest first; with `prove`, each event carries its
        inclusion proof (None when no checkpoint covers it yet)."""
        if not 0 < limit <= ACTIVITY_LIMIT_MAX:
            raise Unprocessable(f"limit must be 1..{ACTIVITY_LIMIT_MAX}")
        with self._ctx.store.read() as conn:
            rows = grant_log.subject_events(conn, user.ref, limit=limit, before=before)
        items = [_activity_item(json.loads(event)) for _, event in rows]
        if prove is not None:
            for item in items:
                item["inclusion_proof"] = prove(item["seq"])
        return {"events": items, "next_before": rows[-1][0] if len(rows) == limit else None}


def _activity_item(event: dict[str, Any]) -> dict[str, Any]:
    inputs = event.get("details", {}).get("inputs", {})
    return {
        "seq": event["seq"],
        "time_ms": event["time_ms"],
        "type": event["type"],
        "agents": event["actors"],
        "holder": inputs.get("holder"),
        "resource": event["resource"],
        "scopes_requested": event["scopes_requested"],
        "scopes_granted": event["scopes_granted"],
        "decision": event["decision"],
        "reasons": event["reasons"],
        "jti": event["jti"],
    }


def _budget(value: Any) -> int | None:
    """A budget as given: None (unlimited) or a count 0..1,000,000."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1_000_000:
        raise Unprocessable("a budget is a whole number 0..1000000, or null for none")
    return value


def _grant_event(kind: events.EventType, grant: GrantRecord) -> events.Event:
    return events.Event(
        type=kind,
        actors=(grant.agent,) if grant.agent else (),
        subject=grant.user_ref,
        resource=grant.resource,
        scopes_granted=grant.scopes,
        details={
            "grant_id": grant.grant_id,
            "organization": grant.organization,
            "max_ttl_seconds": grant.max_ttl_seconds,
            "expires_at": grant.expires_at,
            "max_delegation_depth": grant.max_delegation_depth,
            "reveal": list(grant.reveal),
            "purposes": list(grant.purposes),
            "require_dpop": grant.require_dpop,
        },
    )


def _entry_event(kind: events.EventType, entry: EntryRecord) -> events.Event:
    return events.Event(
        type=kind,
        subject=entry.user_ref,
        details={
            "entry_id": entry.entry_id,
            "kind": entry.kind,
            "value": entry.value,
            "effect": entry.effect,
        },
    )
