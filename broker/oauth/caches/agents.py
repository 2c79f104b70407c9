"""Active agents for the token path, remembered for a few seconds: by client id (to check a client
assertion) and by the resource URIs they hold (to find a request's holder).

On PostgreSQL these were two of a token request's three reads, each a round trip that holds the
worker's event loop (measured: docs/benchmarks.md). Remembering them is safe because:

- what a token decision takes from an agent record never changes after registration (client id,
  organization, locale, resources; broker/storage/agents.py has no update for them), except its
  status and its keys (a rotation, broker/oauth/agent_keys.py);
- only active agents are remembered, so a remembered record can be wrong in two ways only: the
  agent was suspended since, or its keys were rotated. A token is stored only if its agents are
  still active and the agents whose keys it rests on (the caller, a delegate) still have the
  `updated_at` the decision saw, checked inside the write transaction (the Recheck of
  token_writes, broker/storage/recheck.py); when that check fails the service forgets the agents
  and decides again on fresh reads. An assertion or DPoP proof made with a key the remembered
  record lacks (one a rotation just added) makes the service read the agent afresh;
- a suspended agent's requests that end in a refusal anyway (a denial, a malformed request) may be
  refused on a remembered record for at most `lru.REMEMBER_SECONDS`; no token is issued on one.

The user row is not remembered: its policy version is what every decision, allowed or denied, must
read fresh (broker/oauth/caches/policies.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from broker.oauth.caches.lru import REMEMBER_SECONDS, Expiring
from broker.storage import Connection
from broker.storage import agents as agent_store
from broker.storage.agents import AgentRecord


class AgentCache:
    """Bounded and short-lived; safe to share between threads."""

    def __init__(self, *, ttl: float = REMEMBER_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._by_id: Expiring[str, AgentRecord] = Expiring(ttl=ttl, clock=clock)
        self._by_resource: Expiring[str, AgentRecord] = Expiring(ttl=ttl, clock=clock)

    def agent(self, conn: Connection, client_id: str) -> AgentRecord | None:
        """The agent with this client id (without its resource list), or None."""
        return self._by_id.get(
            client_id, lambda: agent_store.get_agent(conn, client_id, with_resources=False), _active
        )

    def reload(self, conn: Connection, client_id: str) -> AgentRecord | None:
        """The agent read afresh (and remembered again if active): for a remembered record that
        may predate a key rotation."""
        self.forget(client_id)
        return self.agent(conn, client_id)

    def holder_of(self, conn: Connection, resource_uri: str) -> AgentRecord | None:
        """The agent that registered this resource URI, or None."""
        return self._by_resource.get(resource_uri, lambda: agent_store.holder_of(conn, resource_uri), _active)

    def forget(self, *client_ids: str) -> None:
        """Drop these agents, by id and as holders: the next read of them goes to the store."""
        gone = set(client_ids)
        for entries in (self._by_id, self._by_resource):
            entries.drop(lambda record: record.client_id in gone)


def _active(record: AgentRecord) -> bool:
    # Never a suspended agent (nor a miss): reinstating or registering one must count at once.
    return not record.suspended
