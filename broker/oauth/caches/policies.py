"""A user's grants and list entries for a token request, remembered per policy version.

Every change to a user's grants, list entries or list mode bumps `users.policy_version` in the same
transaction (broker/services/me.py), and a token is stored only if that version is still the one
its decision read, checked inside the write transaction after the log head's lock is taken
(the Recheck of token_writes, broker/storage/recheck.py). So what was read under version v may be reused
while the user's row still says v: the read of the user row, which every decision makes anyway,
then stands in for the reads of the grants and the entries.

What is remembered under v was read after v was, so it is never older than v. If it is newer, a
change has committed since, v is gone for good, and the write's check sends the request round
again, where it reads the new version and misses.
"""

from __future__ import annotations

from collections.abc import Callable

from broker.oauth.caches.lru import Lru
from policy import Grant, ListEntry

# (user ref, policy version, resource, requesting agent, its organization)
PolicyKey = tuple[str, int, str, str, str]
# The grants, the entries, and the grants' tokens-per-hour budgets (grant id -> limit, for those
# that have one; setting a budget bumps the policy version too).
Policy = tuple[tuple[Grant, ...], tuple[ListEntry, ...], dict[str, int]]
DEFAULT_SIZE = 4096


class PolicyCache:
    """Least recently used, bounded; safe to share between threads."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._policies: Lru[PolicyKey, Policy] = Lru(size)

    def get(self, key: PolicyKey, load: Callable[[], Policy]) -> Policy:
        """The policy remembered under `key`, or `load()`'s, remembered."""
        policy = self._policies.get(key)
        if policy is None:
            policy = load()
            self._policies.put(key, policy)
        return policy
