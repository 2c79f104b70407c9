"""Creating and rotating the token-signing keys, each with its grant-log event in one transaction."""

from __future__ import annotations

import time

from broker.grantlog import events
from broker.oauth.signing_keys import KeyRing
from broker.storage.db import Store


def ensure_signing_key(store: Store, keyring: KeyRing, *, now: float | None = None) -> str:
    """Create a signing key when the store has no live one of the configured algorithm; returns the
    current kid. Live keys of another algorithm (the setting changed) are retired: a rotation."""
    with store.write() as conn:
        kid = keyring.live_kid(conn)
        if kid is not None:
            return kid
        moment = now if now is not None else time.time()
        rotating = keyring.any_live(conn)
        if rotating:
            keyring.retire_live(conn, moment)
        kid = keyring.create(conn, moment)
        kind = events.EventType.SIGNING_KEY_ROTATED if rotating else events.EventType.SIGNING_KEY_CREATED
        events.append(conn, events.Event(type=kind, kid=kid), now=moment)
        return kid


def rotate_signing_key(store: Store, keyring: KeyRing, *, now: float | None = None) -> str:
    """Make a new signing key current and retire the old ones, which stay in the JWKS until every
    token they signed has expired; returns the new kid."""
    moment = now if now is not None else time.time()
    with store.write() as conn:
        keyring.retire_live(conn, moment)
        kid = keyring.create(conn, moment)
        events.append(conn, events.Event(type=events.EventType.SIGNING_KEY_ROTATED, kid=kid), now=moment)
    return kid
