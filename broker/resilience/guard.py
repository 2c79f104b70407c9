"""The token path's side of resilience: one dictionary lookup per request, and bounded counts.

`Guard.admit` refuses a throttled agent with 429 and a quarantined one with access_denied, from a
map the detector round refreshes; it never reads the store. The failures the grant log does not
record one by one (replayed assertions, failed client authentication, unregistered resources) are
counted here and written as one `resilience.signals` event per round. The counts are bounded: at
most `max_keys` names per kind, the rest summed under `overflow`, and a claimed client id is cut
to 128 characters, so unauthenticated noise cannot grow memory or the log without limit.
"""

from __future__ import annotations

import math
from typing import Any

import jwt

from broker.errors import AccessDenied, InvalidClient, SlowDown
from broker.oauth.jose import parse_compact
from broker.storage.resilience import QUARANTINED, THROTTLED, Watch

MAX_KEYS = 256
_KINDS = ("replays", "auth_failures", "invalid_target", "throttled", "quarantined")


class Guard:
    """Admits or refuses an authenticated agent; counts what the log does not show."""

    def __init__(self, *, enforce: bool, retry_after: int = 60, max_keys: int = MAX_KEYS) -> None:
        self.enforce = enforce
        self._retry_after = retry_after
        self._max_keys = max_keys
        self._status: dict[str, Watch] = {}
        self._counts: dict[str, dict[str, int]] = {kind: {} for kind in _KINDS}
        self._overflow = 0

    def admit(self, client_id: str, now: float) -> None:
        """Raise the refusal for an agent under a response; return for any other."""
        watch = self._status.get(client_id)
        if watch is None or not self.enforce:
            return
        if watch.status == QUARANTINED:
            self.count("quarantined", client_id)
            raise AccessDenied()
        if watch.status == THROTTLED and watch.until is not None and now < watch.until:
            self.count("throttled", client_id)
            wait = min(self._retry_after, max(1, math.ceil(watch.until - now)))
            raise SlowDown(headers={"Retry-After": str(wait)})

    def update(self, watches: list[Watch]) -> None:
        """Replace the map of agents under a response (one assignment: readers see old or new)."""
        self._status = {w.client_id: w for w in watches}

    def status(self, client_id: str) -> Watch | None:
        """The response this process enforces on an agent, if any."""
        return self._status.get(client_id)

    def count(self, kind: str, name: str) -> None:
        """Count one failure of `kind` for `name` (an agent, or the client id a failure claimed)."""
        bucket = self._counts[kind]
        key = name[:128]
        if key in bucket:
            bucket[key] += 1
        elif len(bucket) < self._max_keys:
            bucket[key] = 1
        else:
            self._overflow += 1

    def client_failed(self, assertion: str, exc: InvalidClient) -> None:
        """Count a failed client authentication: a replay under the agent whose key signed it,
        anything else under the client id the assertion claims (unverified, so only counted)."""
        client_id = getattr(exc, "client_id", None)
        if isinstance(client_id, str):
            self.count("replays", client_id)
            return
        try:
            claimed = parse_compact(assertion).claims.get("iss")
        except (jwt.DecodeError, ValueError, TypeError):
            claimed = None
        self.count("auth_failures", claimed if isinstance(claimed, str) else "?")

    def take(self) -> dict[str, Any] | None:
        """The counts since the last call (and reset them), or None if there were none."""
        counts, overflow = self._counts, self._overflow
        self._counts, self._overflow = {kind: {} for kind in _KINDS}, 0
        if not overflow and not any(counts.values()):
            return None
        return {**{kind: dict(sorted(c.items())) for kind, c in counts.items() if c}, "overflow": overflow}
