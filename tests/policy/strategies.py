"""Hypothesis strategies for the policy algebra."""

from __future__ import annotations

from hypothesis import strategies as st

from policy import Effect, EntryKind, Grant, ListEntry, Party, Role
from tests.wire.strategies import scopes

organizations = st.sampled_from(["acme", "adtrack inc.", "wanderly travel", "calendar co"])
locales = st.sampled_from(["US", "US-CA", "US-NY", "FR", "DE", "GB-LND"])
client_ids = st.sampled_from(["a1", "a2", "a3", "holder"])


def parties(role: Role) -> st.SearchStrategy[Party]:
    """A party in the given role."""
    return st.builds(
        Party, client_id=client_ids, organization=organizations, locale=locales, role=st.just(role)
    )


entries = st.builds(
    lambda i, kind, org, loc, cid, effect: ListEntry(
        entry_id=f"e{i}",
        kind=kind,
        value={EntryKind.ORGANIZATION: org, EntryKind.LOCALE: loc, EntryKind.AGENT: cid}[kind],
        effect=effect,
    ),
    st.integers(0, 999),
    st.sampled_from(list(EntryKind)),
    organizations,
    st.sampled_from(["US", "US-CA", "FR", "DE"]),
    client_ids,
    st.sampled_from(list(Effect)),
)

grants = st.builds(
    lambda i, agent, resource, granted, ttl: Grant(
        grant_id=f"g{i}", agent=agent, resource=resource, scopes=tuple(granted), max_ttl_seconds=ttl
    ),
    st.integers(0, 999),
    client_ids,
    st.sampled_from(["https://r1", "https://r2"]),
    st.lists(scopes, min_size=1, max_size=3),
    st.integers(1, 3600),
)


def grant_lists(min_size: int = 0, max_size: int = 4) -> st.SearchStrategy[list[Grant]]:
    """Grants with distinct ids, as the store guarantees."""
    return st.lists(grants, min_size=min_size, max_size=max_size, unique_by=lambda g: g.grant_id)
