"""A bounded least-recently-used map, safe to share between threads."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """At most `size` entries; the least recently read or written goes first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The entry, now the most recently used; None if absent."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        """Remember an entry, dropping the oldest past the bound."""
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def drop(self, where: Callable[[K, V], bool]) -> None:
        """Forget every entry for which `where(key, value)` holds."""
        with self._lock:
            for key in [k for k, v in self._entries.items() if where(k, v)]:
                del self._entries[key]


# The token path's agent and user caches: how long a row is remembered, and how many.
REMEMBER_SECONDS = 5.0
REMEMBER_SIZE = 4096


class Expiring(Generic[K, V]):
    """An `Lru` whose entries also lapse `ttl` seconds after they were loaded."""

    def __init__(
        self,
        *,
        size: int = REMEMBER_SIZE,
        ttl: float = REMEMBER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: Lru[K, tuple[V, float]] = Lru(size)
        self._ttl = ttl
        self._clock = clock

    def get(self, key: K, load: Callable[[], V | None], keep: Callable[[V], bool]) -> V | None:
        """The live entry for `key`, or what `load()` returns, remembered if `keep` says so."""
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry[1] > now:
            return entry[0]
        value = load()
        if value is not None and keep(value):
            self._entries.put(key, (value, now + self._ttl))
        return value

    def drop(self, where: Callable[[V], bool]) -> None:
        """Forget every entry whose value `where` picks."""
        self._entries.drop(lambda _, entry: where(entry[0]))
