"""The decision engine's algebra: default deny, blocks beat grants, subsets stay allowed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from policy import (
    Decision,
    Effect,
    EntryKind,
    Grant,
    Limits,
    ListEntry,
    ListMode,
    Party,
    Reason,
    Role,
    Scope,
    TokenRequest,
    check_parties,
    decide_token,
    normalize_organization,
)
from tests.policy.strategies import entries, grant_lists, grants, parties, scopes

NOW = 1_800_000_000.0
LIMITS = Limits()


def _decide(
    request: TokenRequest,
    grant_list: list[Grant],
    entry_list: list[ListEntry],
    mode: ListMode = ListMode.BLOCKLIST,
) -> Decision:
    return decide_token(request, grants=grant_list, entries=entry_list, mode=mode, now=NOW, limits=LIMITS)


requests = st.builds(
    lambda requester, holder, resource, wanted, lifetime: TokenRequest(
        requester=requester,
        holder=holder,
        resource=resource,
        scopes=tuple(wanted),
        requested_lifetime=lifetime,
    ),
    parties(Role.REQUESTER),
    parties(Role.HOLDER),
    st.sampled_from(["https://r1", "https://r2"]),
    st.lists(scopes, min_size=1, max_size=3),
    st.one_of(st.none(), st.integers(1, 7200)),
)


@given(requests, st.lists(entries, max_size=4))
def test_no_grant_means_deny(request: TokenRequest, entry_list: list[ListEntry]) -> None:
    decision = _decide(request, [], entry_list)
    assert not decision.allowed
    assert decision.reasons


@given(requests, grant_lists(), st.lists(entries, max_size=4), st.sampled_from(list(ListMode)))
def test_a_block_beats_any_grant(
    request: TokenRequest, grant_list: list[Grant], entry_list: list[ListEntry], mode: ListMode
) -> None:
    if check_parties((request.requester, request.holder), entry_list, mode):
        assert not _decide(request, grant_list, entry_list, mode).allowed


@given(requests, grant_lists())
def test_allowed_only_under_a_grant_that_covers_every_scope(
    request: TokenRequest, grant_list: list[Grant]
) -> None:
    decision = _decide(request, grant_list, [])
    if decision.allowed:
        grant = next(g for g in grant_list if g.grant_id == decision.grant_id)
        assert grant.resource == request.resource
        assert grant.names(request.requester)
        assert all(any(g.covers(r) for g in grant.scopes) for r in request.scopes)
        assert 0 < decision.lifetime_seconds <= min(grant.max_ttl_seconds, LIMITS.max_lifetime)


@given(grants, parties(Role.HOLDER), st.data())
def test_a_subset_of_an_allowed_request_is_allowed(grant: Grant, holder: Party, data: st.DataObject) -> None:
    # Build a request the grant covers (its own scopes), so that the premise holds by construction.
    requester = Party(client_id=grant.agent or "", organization="o", locale="FR", role=Role.REQUESTER)
    wanted = data.draw(st.lists(st.sampled_from(grant.scopes), min_size=1, unique=True))
    request = TokenRequest(requester=requester, holder=holder, resource=grant.resource, scopes=tuple(wanted))
    assert _decide(request, [grant], []).allowed
    subset = data.draw(st.lists(st.sampled_from(wanted), min_size=1, unique=True))
    narrower = TokenRequest(requester=requester, holder=holder, resource=grant.resource, scopes=tuple(subset))
    assert _decide(narrower, [grant], []).allowed


@given(requests, grant_lists(min_size=1))
def test_lifetime_never_exceeds_what_was_asked(request: TokenRequest, grant_list: list[Grant]) -> None:
    decision = _decide(request, grant_list, [])
    if decision.allowed and request.requested_lifetime is not None:
        assert decision.lifetime_seconds <= request.requested_lifetime


def _party(role: Role = Role.REQUESTER, **changes: object) -> Party:
    base = {"client_id": "travel", "organization": "wanderly travel", "locale": "FR", "role": role}
    return Party(**{**base, **changes})  # type: ignore[arg-type]


def _request(**changes: object) -> TokenRequest:
    base = {
        "requester": _party(),
        "holder": _party(Role.HOLDER, client_id="cal", organization="calendar co", locale="DE"),
        "resource": "https://r1",
        "scopes": (Scope.parse("calendar:read"),),
    }
    return TokenRequest(**{**base, **changes})  # type: ignore[arg-type]


def _grant(**changes: object) -> Grant:
    base = {
        "grant_id": "g1",
        "agent": "travel",
        "resource": "https://r1",
        "scopes": (Scope.parse("calendar:*"),),
        "max_ttl_seconds": 600,
    }
    return Grant(**{**base, **changes})  # type: ignore[arg-type]


def test_reasons_are_specific() -> None:
    assert _decide(_request(), [], []).reasons == (Reason.NO_GRANT,)
    assert _decide(_request(), [_grant(revoked=True)], []).reasons == (Reason.GRANT_REVOKED,)
    assert _decide(_request(), [_grant(expires_at=NOW - 1)], []).reasons == (Reason.GRANT_EXPIRED,)
    assert _decide(_request(), [_grant(purposes=("x",))], []).reasons == (Reason.PURPOSE_MISMATCH,)
    narrow = _grant(scopes=(Scope.parse("mail:read"),))
    assert _decide(_request(), [narrow], []).reasons == (Reason.SCOPE_NOT_GRANTED,)
    nearly_over = _grant(expires_at=NOW + 0.5)
    assert _decide(_request(), [nearly_over], []).reasons == (Reason.LIFETIME_EXHAUSTED,)
    suspended = _request(requester=_party(suspended=True))
    assert _decide(suspended, [_grant()], []).reasons == (Reason.AGENT_SUSPENDED,)


def test_block_reasons_name_the_entry_kind() -> None:
    for kind, value, reason in [
        (EntryKind.ORGANIZATION, "wanderly travel", Reason.BLOCKED_ORGANIZATION),
        (EntryKind.LOCALE, "FR", Reason.BLOCKED_LOCALE),
        (EntryKind.AGENT, "travel", Reason.BLOCKED_AGENT),
    ]:
        entry = ListEntry(entry_id="e1", kind=kind, value=value)
        assert _decide(_request(), [_grant()], [entry]).reasons == (reason,)


def test_allowlist_only_refuses_unlisted_parties() -> None:
    allow_travel = ListEntry("e1", EntryKind.AGENT, "travel", Effect.ALLOW)
    allow_holder = ListEntry("e2", EntryKind.LOCALE, "DE", Effect.ALLOW)
    assert not _decide(_request(), [_grant()], [allow_travel], ListMode.ALLOWLIST_ONLY).allowed
    assert _decide(_request(), [_grant()], [allow_travel, allow_holder], ListMode.ALLOWLIST_ONLY).allowed


def test_allow_entries_do_nothing_in_blocklist_mode() -> None:
    allow = ListEntry("e1", EntryKind.AGENT, "travel", Effect.ALLOW)
    assert not _decide(_request(), [], [allow]).allowed


def test_grant_to_organization() -> None:
    grant = _grant(agent=None, organization="wanderly travel")
    assert _decide(_request(), [grant], []).allowed
    other = _request(requester=_party(client_id="x", organization="other"))
    assert not _decide(other, [grant], []).allowed


def test_lifetime_is_capped_by_broker_grant_request_and_grant_expiry() -> None:
    assert _decide(_request(), [_grant(max_ttl_seconds=3600)], []).lifetime_seconds == 300
    assert (
        _decide(_request(requested_lifetime=9999), [_grant(max_ttl_seconds=3600)], []).lifetime_seconds
        == 3600
    )
    assert _decide(_request(requested_lifetime=100), [_grant()], []).lifetime_seconds == 100
    assert _decide(_request(), [_grant(expires_at=NOW + 42.9)], []).lifetime_seconds == 42


def test_decision_records_its_inputs() -> None:
    decision = _decide(_request(purpose="trip"), [_grant()], [])
    assert decision.inputs["requester"] == "travel"
    assert decision.inputs["scopes"] == ["calendar:read"]
    assert decision.inputs["grants_considered"] == ["g1"]


def test_organization_normalization() -> None:
    assert normalize_organization("  ACME\u3000 Corp ") == "acme corp"
    assert normalize_organization("\uff21\uff43\uff4d\uff45") == "acme"  # full-width letters fold (NFKC)
    assert normalize_organization("Straße") == normalize_organization("STRASSE")


def test_a_grant_with_purposes_covers_exactly_those_purposes() -> None:
    grant = _grant(purposes=("trip-planning", "expenses"))
    for purpose in ("trip-planning", "expenses"):
        decision = _decide(_request(purpose=purpose), [grant], [])
        assert decision.allowed
        assert decision.purpose == purpose  # the token names the purpose the request named
    # Naming none, or one the grant does not list, is the mismatch (a restricted grant needs one).
    for purpose in (None, "advertising", "Trip-Planning"):
        assert _decide(_request(purpose=purpose), [grant], []).reasons == (Reason.PURPOSE_MISMATCH,)
    # A grant without purposes covers any purpose, and none; the token carries only what was named.
    assert _decide(_request(purpose="advertising"), [_grant()], []).purpose == "advertising"
    assert _decide(_request(), [_grant()], []).purpose is None
