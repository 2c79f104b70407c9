"""The purpose vocabulary for the token path: the set of live codes, remembered for a few seconds.

A token request that names a purpose must name a registered, live one (docs/api.md, purposes). The
vocabulary is small and changes rarely, so the whole live set is remembered and a request reads no
table for it:

- registering or retiring a purpose through this process forgets the set at once
  (broker/services/purposes.py), so here a change counts for the next request;
- a change made through another replica (or the CLI) counts here within `REMEMBER_SECONDS`;
- a code the remembered set lacks reloads it, at most once per `MISS_RELOAD_SECONDS`, so a purpose
  registered elsewhere is usable within that second, and requests naming unknown codes cost at
  most one read a second, not one each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from broker.oauth.caches.lru import REMEMBER_SECONDS
from broker.storage import Connection
from broker.storage import purposes as purpose_store

MISS_RELOAD_SECONDS = 1.0


class PurposeCache:
    """The live purpose codes; safe to share between threads."""

    def __init__(
        self,
        *,
        ttl: float = REMEMBER_SECONDS,
        miss_reload: float = MISS_RELOAD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl, self._miss_reload, self._clock = ttl, miss_reload, clock
        self._lock = threading.Lock()
        self._live: frozenset[str] | None = None
        self._loaded_at = 0.0
        # Bumped by forget(): a set read before a change is not stored after it.
        self._generation = 0

    def live(self, conn: Connection, code: str) -> bool:
        """Whether `code` is a registered purpose that is not retired."""
        now = self._clock()
        with self._lock:
            live, age, generation = self._live, now - self._loaded_at, self._generation
        if live is not None and age < self._ttl and (code in live or age < self._miss_reload):
            return code in live
        live = purpose_store.live_codes(conn)
        with self._lock:
            if generation == self._generation:
                self._live, self._loaded_at = live, now
        return code in live

    def forget(self) -> None:
        """Drop the remembered set: the next request reads the vocabulary."""
        with self._lock:
            self._live = None
            self._generation += 1
