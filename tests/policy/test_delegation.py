"""Delegation algebra: no sequence of exchanges yields a token wider than its root."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from policy import (
    Decision,
    ExchangeRequest,
    Grant,
    Limits,
    ListEntry,
    ListMode,
    ParentToken,
    Party,
    Reason,
    Role,
    Scope,
    all_covered,
    decide_exchange,
)
from tests.policy.strategies import scopes

NOW = 1_800_000_000.0
LIMITS = Limits()
RESOURCE = "https://r1"
ENTITY_TYPES = ["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN"]


def _party(client_id: str, role: Role = Role.ACTOR) -> Party:
    return Party(client_id=client_id, organization=f"org-{client_id}", locale="FR", role=role)


HOLDER = _party("holder", Role.HOLDER)


def _exchange(
    parent: ParentToken,
    grant: Grant,
    delegate: str,
    entries: list[ListEntry] | None = None,
    **changes: object,
) -> Decision:
    request = ExchangeRequest(
        actors=tuple(_party(c) for c in parent.chain),
        delegate=_party(delegate, Role.REQUESTER),
        holder=HOLDER,
        **changes,  # type: ignore[arg-type]
    )
    return decide_exchange(
        parent, request, grant=grant, entries=entries or [], mode=ListMode.BLOCKLIST, now=NOW, limits=LIMITS
    )


hop = st.fixed_dictionaries(
    {},
    optional={
        "scopes": st.lists(scopes, min_size=1, max_size=3).map(tuple),
        "reveal": st.lists(st.sampled_from(ENTITY_TYPES), unique=True).map(tuple),
        "resource": st.sampled_from([RESOURCE, "https://r2"]),
        "requested_lifetime": st.integers(1, 7200),
    },
)


@settings(max_examples=200)
@given(
    root_scopes=st.lists(scopes, min_size=1, max_size=3).map(tuple),
    root_reveal=st.lists(st.sampled_from(ENTITY_TYPES), unique=True).map(tuple),
    depth=st.integers(0, 4),
    hops=st.lists(hop, max_size=6),
)
def test_no_sequence_of_exchanges_widens_the_root(
    root_scopes: tuple[Scope, ...], root_reveal: tuple[str, ...], depth: int, hops: list[dict[str, object]]
) -> None:
    grant = Grant(
        grant_id="g",
        agent="a0",
        resource=RESOURCE,
        scopes=root_scopes,
        max_ttl_seconds=3600,
        max_delegation_depth=depth,
        reveal=root_reveal,
    )
    root = ParentToken(
        jti="t0",
        audience=RESOURCE,
        scopes=root_scopes,
        reveal=root_reveal,
        expires_at=NOW + 900,
        chain=("a0",),
    )
    parent = root
    for number, changes in enumerate(hops, start=1):
        decision = _exchange(parent, grant, f"a{number}", **changes)
        if not decision.allowed:
            continue
        child = ParentToken(
            jti=f"t{number}",
            audience=parent.audience,
            scopes=tuple(Scope.parse(s) for s in decision.scopes),
            reveal=decision.reveal,
            expires_at=NOW + decision.lifetime_seconds,
            chain=(*parent.chain, f"a{number}"),
        )
        assert all_covered(root.scopes, child.scopes)
        assert set(child.reveal) <= set(root.reveal)
        assert child.expires_at <= root.expires_at
        assert child.audience == root.audience
        assert child.depth <= grant.max_delegation_depth
        parent = child


def _root() -> tuple[ParentToken, Grant]:
    read = (Scope.parse("calendar:read"),)
    grant = Grant(
        grant_id="g",
        agent="a0",
        resource=RESOURCE,
        scopes=read,
        max_ttl_seconds=600,
        max_delegation_depth=1,
        reveal=("PERSON",),
    )
    return ParentToken(
        jti="t0", audience=RESOURCE, scopes=read, reveal=("PERSON",), expires_at=NOW + 300, chain=("a0",)
    ), grant


def test_each_widening_has_its_reason() -> None:
    parent, grant = _root()
    assert _exchange(parent, grant, "a1", scopes=(Scope.parse("calendar:*"),)).reasons == (
        Reason.SCOPE_WIDENING,
    )
    assert _exchange(parent, grant, "a1", resource="https://r2").reasons == (Reason.TARGET_WIDENING,)
    assert _exchange(parent, grant, "a1", reveal=("US_SSN",)).reasons == (Reason.REVEAL_WIDENING,)


def test_depth_is_bounded_by_the_grant() -> None:
    parent, grant = _root()
    assert _exchange(parent, grant, "a1").allowed
    deeper = ParentToken(
        jti="t1", audience=RESOURCE, scopes=parent.scopes, reveal=(), expires_at=NOW + 300, chain=("a0", "a1")
    )
    assert _exchange(deeper, grant, "a2").reasons == (Reason.DEPTH_EXCEEDED,)


def test_a_blocked_actor_anywhere_in_the_chain_refuses_the_exchange() -> None:
    from policy import EntryKind

    parent, grant = _root()
    grant = Grant(
        grant_id="g",
        agent="a0",
        resource=RESOURCE,
        scopes=parent.scopes,
        max_ttl_seconds=600,
        max_delegation_depth=3,
    )
    middle = ParentToken(
        jti="t1", audience=RESOURCE, scopes=parent.scopes, reveal=(), expires_at=NOW + 300, chain=("a0", "a1")
    )
    block = ListEntry("e1", EntryKind.ORGANIZATION, "org-a1")
    assert _exchange(middle, grant, "a2", [block]).reasons == (Reason.BLOCKED_ORGANIZATION,)
    recipient_block = ListEntry("e2", EntryKind.AGENT, "a2")
    assert _exchange(middle, grant, "a2", [recipient_block]).reasons == (Reason.BLOCKED_AGENT,)


def test_lifetime_is_capped_by_the_parent() -> None:
    parent, grant = _root()
    assert _exchange(parent, grant, "a1", requested_lifetime=3600).lifetime_seconds == 300


def test_revoked_or_expired_grant_refuses() -> None:
    parent, _ = _root()
    revoked = Grant(
        grant_id="g",
        agent="a0",
        resource=RESOURCE,
        scopes=parent.scopes,
        max_ttl_seconds=600,
        max_delegation_depth=1,
        revoked=True,
    )
    assert _exchange(parent, revoked, "a1").reasons == (Reason.GRANT_REVOKED,)


def test_an_organization_block_covers_every_party_of_a_chain_of_three() -> None:
    from policy import EntryKind

    grant = Grant(
        grant_id="g",
        agent="a0",
        resource=RESOURCE,
        scopes=(Scope.parse("cal:read"),),
        max_ttl_seconds=600,
        max_delegation_depth=4,
    )
    parent = ParentToken(
        jti="t2",
        audience=RESOURCE,
        scopes=grant.scopes,
        reveal=(),
        expires_at=NOW + 300,
        chain=("a0", "a1", "a2"),
    )
    block = ListEntry("e1", EntryKind.ORGANIZATION, "adcorp")
    # The parent organization covers a subsidiary's agent, wherever it stands in the chain.
    subsidiary = frozenset({"adcorp-de", "adcorp", "name:adcorp"})
    for position in range(4):
        names = ["a0", "a1", "a2", "a3"]
        parties = [
            Party(
                client_id=c,
                organization="adcorp-de" if i == position else f"org-{c}",
                locale="FR",
                role=Role.ACTOR,
                organizations=subsidiary if i == position else frozenset(),
            )
            for i, c in enumerate(names)
        ]
        request = ExchangeRequest(actors=tuple(parties[:3]), delegate=parties[3], holder=HOLDER)
        decision = decide_exchange(
            parent, request, grant=grant, entries=[block], mode=ListMode.BLOCKLIST, now=NOW, limits=LIMITS
        )
        assert decision.reasons == (Reason.BLOCKED_ORGANIZATION,), position
