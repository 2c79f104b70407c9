"""Who is calling: API keys and the roles they carry, for the API and the console; the keys'
management (list, revoke, rotate), console sessions, and the limit on failed sign-ins."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from broker.context import ServiceContext
from broker.errors import Conflict, Forbidden, NotFound, Unprocessable
from broker.grantlog import events
from broker.services.records import Principal, Role, UserRecord
from broker.storage import console_sessions, principals, sign_in_limits
from broker.storage.console_sessions import SessionOwner
from broker.storage.principals import ApiKeyInfo

__all__ = [
    "ApiKeyInfo",
    "KeyService",
    "Principal",
    "Role",
    "SessionOwner",
    "SignInLimits",
    "SignInThrottled",
    "UserRecord",
    "authenticate",
    "check_label",
    "end_session",
    "open_session",
    "session_owner",
]

MAX_LABEL = 64
# Labels are people's text that the key listings show: printable ASCII words, no markup, no
# control or bidi characters, bounded. They never reach the grant log.
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 ._:@()/+-]{0,62}[A-Za-z0-9._:@()/+-])?")
SESSIONS_PER_KEY = 10
# Last use is written at most once a minute per key: a write per API call would put one on every
# read, and a minute is as precise as anyone reading a key listing needs.
LAST_USED_GRANULARITY = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SignInLimits:
    """Failed sign-ins allowed per window, per presented key id and per source address.

    The key-id limit stops guessing one key's secret from many addresses; the address limit stops
    one source from spraying many key ids. A known and an unknown key id are counted alike."""

    per_key: int = 10
    per_address: int = 50
    window_seconds: float = 300.0


LIMITS = SignInLimits()


class SignInThrottled(Exception):
    """Too many failed sign-ins for this key id or from this address: retry after `retry_after`."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


def check_label(label: str | None) -> str | None:
    """A key label if it is 1-64 characters of the allowed set; None stays None."""
    if label is None:
        return None
    if len(label) > MAX_LABEL or not _LABEL.fullmatch(label):
        raise Unprocessable(
            f"a key label is 1-{MAX_LABEL} characters: letters, digits, spaces and . _ : @ ( ) / + -"
        )
    return label


def authenticate(
    ctx: ServiceContext, presented: str, *, source: str | None = None, limits: SignInLimits = LIMITS
) -> Principal | None:
    """The principal of a valid, unrevoked API key, or None (compared in constant time).

    With a `source` address (every HTTP caller), failures are counted per presented key id and
    per address in the store, so every replica sees them; past the limits, `SignInThrottled` is
    raised before the key is even checked, for a right key too (else the limit would not stop a
    guess from being confirmed)."""
    now = ctx.clock()
    key_id = principals.presented_key_id(presented)
    buckets: dict[int, int] = {}
    if source is not None:
        buckets[sign_in_limits.address_bucket(source)] = limits.per_address
        if key_id:
            buckets[sign_in_limits.key_bucket(key_id)] = limits.per_key
    with ctx.store.read() as conn:
        if buckets:
            wait = sign_in_limits.wait_seconds(conn, buckets, now=now, window=limits.window_seconds)
            if wait > 0:
                raise SignInThrottled(max(1, math.ceil(wait)))
        checked = principals.check_api_key(conn, presented)
    if checked is None:
        if buckets:
            with ctx.store.write() as conn:
                sign_in_limits.record_failure(conn, list(buckets), now=now, window=limits.window_seconds)
        return None
    principal, last_used = checked
    if last_used is None or now - last_used >= LAST_USED_GRANULARITY:
        with ctx.store.write() as conn:
            principals.touch_api_key(conn, principal.key_id, now)
    return principal


# -- console sessions ------------------------------------------------------------------------------


def open_session(ctx: ServiceContext, sid: str, key_id: str, *, expires_at: float) -> None:
    """Record a new console session for a key (sign-in)."""
    with ctx.store.write() as conn:
        console_sessions.open_session(
            conn, sid, key_id, now=ctx.clock(), expires_at=expires_at, per_key=SESSIONS_PER_KEY
        )


def session_owner(ctx: ServiceContext, sid: str, key_id: str) -> SessionOwner | None:
    """Who a live session belongs to, or None when it was ended or its key revoked. A store
    error propagates: no session is taken as valid without the store saying so (fail closed)."""
    with ctx.store.read() as conn:
        return console_sessions.session_owner(conn, sid, key_id, ctx.clock())


def end_session(ctx: ServiceContext, sid: str) -> None:
    """End one console session everywhere (sign-out)."""
    with ctx.store.write() as conn:
        console_sessions.end_session(conn, sid)


# -- managing keys ---------------------------------------------------------------------------------


class KeyService:
    """Listing, revoking and rotating API keys: a principal manages its own, an admin any."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    def list_keys(self, caller: Principal, *, everyone: bool = False) -> list[ApiKeyInfo]:
        """The caller's keys (same role and principal), or every key for an admin with `everyone`."""
        with self._ctx.store.read() as conn:
            if everyone:
                if caller.role is not Role.ADMIN:
                    raise Forbidden()
                return principals.list_api_keys(conn)
            return principals.list_api_keys(conn, role=caller.role, principal=caller.principal)

    def list_for(self, *, role: Role | None = None, principal: str | None = None) -> list[ApiKeyInfo]:
        """Keys of one role and principal, or all of them (the operator's command line)."""
        with self._ctx.store.read() as conn:
            return principals.list_api_keys(conn, role=role, principal=principal)

    def _manageable(self, caller: Principal | None, key: ApiKeyInfo | None) -> ApiKeyInfo:
        # Another principal's key answers as an unknown one: its existence is not the caller's to learn.
        if key is None:
            raise NotFound("no such API key")
        if caller is None or caller.role is Role.ADMIN:
            return key
        if key.role is not caller.role or key.principal != caller.principal:
            raise NotFound("no such API key")
        return key

    def get_key(self, caller: Principal | None, key_id: str) -> ApiKeyInfo:
        """One key the caller may manage (`None`: the operator's command line, any key)."""
        with self._ctx.store.read() as conn:
            return self._manageable(caller, principals.get_api_key(conn, key_id))

    def _event(self, kind: events.EventType, key: ApiKeyInfo, by: str, **details: str) -> events.Event:
        # Ids only: never a secret, a hash or a label.
        subject = key.principal if key.role is Role.USER else None
        actors = () if key.role is Role.USER else (key.principal,)
        body = {"key_id": key.key_id, "role": str(key.role), "by": by, **details}
        return events.Event(type=kind, subject=subject, actors=actors, details=body)

    def revoke(self, caller: Principal | None, key_id: str, *, by: str) -> ApiKeyInfo:
        """Revoke a live key at once: it stops authenticating and its console sessions end."""
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            key = self._manageable(caller, principals.get_api_key(conn, key_id))
            if not principals.revoke_api_key(conn, key.key_id, now):
                raise Conflict("the API key is already revoked")
            events.append(conn, self._event(events.EventType.API_KEY_REVOKED, key, by), now=now)
            revoked = principals.get_api_key(conn, key.key_id)
        assert revoked is not None
        return revoked

    def rotate(
        self, caller: Principal | None, key_id: str, *, by: str, label: str | None = None
    ) -> tuple[ApiKeyInfo, str]:
        """Replace a live key: a new key for the same principal and role (shown once), and the old
        one revoked in the same transaction, with its console sessions. There is no overlap."""
        label = check_label(label)
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            key = self._manageable(caller, principals.get_api_key(conn, key_id))
            if not principals.revoke_api_key(conn, key.key_id, now):
                raise Conflict("the API key is already revoked")
            new_id, secret = principals.new_api_key(
                conn, key.role, key.principal, now, label=label if label is not None else key.label
            )
            event = self._event(events.EventType.API_KEY_ROTATED, key, by, new_key_id=new_id)
            events.append(conn, event, now=now)
            created = principals.get_api_key(conn, new_id)
        assert created is not None
        return created, secret


def prune_sign_in_state(ctx: ServiceContext, limits: SignInLimits = LIMITS) -> tuple[int, int]:
    """Delete expired console sessions and ended failure windows; returns how many of each."""
    with ctx.store.write() as conn:
        now = ctx.clock()
        sessions = console_sessions.prune_sessions(conn, now)
        counters = sign_in_limits.prune(conn, now=now, window=limits.window_seconds)
    return sessions, counters
