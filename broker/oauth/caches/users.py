"""Users for the token path, remembered by user id for a few seconds.

With the agents remembered (broker/oauth/caches/agents.py), reading the user row was the one read
left on a token request whose policy is cached, a round trip on PostgreSQL that holds the worker's
event loop. Remembering it is safe because every decision names the policy version it was made
under, and inside the write transaction, after the log head's lock is taken, that version is
checked against the row (token_writes.TokenWrite), for refusals as well as for tokens: a grant, a
list entry or a list-mode switch committed since (on any replica) bumps the version, and the
request is decided again on a fresh read after the user is forgotten. Nothing else on the row
changes after it is created. An unknown subject is not remembered: a user created now counts at
once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from broker.oauth.caches.lru import REMEMBER_SECONDS, Expiring
from broker.storage import Connection, principals
from broker.storage.principals import UserRecord


class UserCache:
    """Bounded and short-lived; safe to share between threads."""

    def __init__(self, *, ttl: float = REMEMBER_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._by_id: Expiring[str, UserRecord] = Expiring(ttl=ttl, clock=clock)

    def user(self, conn: Connection, user_id: str) -> UserRecord | None:
        """The user with this external id, or None."""
        return self._by_id.get(user_id, lambda: principals.get_user(conn, user_id=user_id), _always)

    def forget(self, user_id: str) -> None:
        """Drop this user: the next read of it goes to the store."""
        self._by_id.drop(lambda record: record.user_id == user_id)


def _always(_: UserRecord) -> bool:
    return True
