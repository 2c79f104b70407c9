"""Creating and rotating the token-signing keys, each with its grant-log event in one transaction."""

from __future__ import annotations

import time

from broker.grantlog import events
from broker.oauth.signing_keys import KeyRing
from broker.storage.db import Store


def ensure_signing_key(store: Store, keyring: KeyRing, *, now: float | None = None) -> str:
    """Create a signing key when the store has no live one; returns the current kid."""
    with store.write() as conn:
        kid = keyring.live_kid(conn)
        if kid is not None:
            return kid
        moment = now if now is not None else time.time()
        kid = keyring.create(conn, moment)
        events.append(conn, events.Event(type=events.EventType.SIGNING_KEY_CREATED, kid=kid), now=moment)
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
