"""Delegation by token exchange: attenuation, depth, chains, binding and cascade revocation."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from discretion_wire import jwk_thumbprint
from sqlalchemy import select, update

from broker.oauth.access_tokens import mint
from broker.oauth.token_exchange import POLICY_REFUSAL
from broker.storage.schema import tokens
from tests.agents import TestAgent
from tests.broker.oauth.test_token_writes import _watch_psycopg
from tests.conftest import ISSUER, ChainWorld, World, auth

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
TOKEN_URL = ISSUER + "/oauth2/token"


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


def exchange(
    world: World, caller: TestAgent, token: str, delegate: str, proof: str | None = None, **params: str
) -> Any:
    form = {
        "grant_type": EXCHANGE,
        "subject_token": token,
        "subject_token_type": ACCESS_TOKEN,
        "requested_actor": delegate,
        **caller.auth_form(ISSUER, now=world.clock.now),
        **params,
    }
    headers = {"DPoP": proof} if proof else {}
    return world.client.post("/oauth2/token", data=form, headers=headers)


def _root(world: ChainWorld, scope: str = "calendar:read calendar:write") -> str:
    response = world.token(world.assistant, scope=scope, expires_in="600")
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _hop(world: World, caller: TestAgent, token: str, delegate: TestAgent, **params: str) -> str:
    proof = None
    if "cnf" in _claims(token):
        proof = caller.dpop_proof(TOKEN_URL, now=world.clock.now)
    response = exchange(world, caller, token, delegate.client_id, proof, **params)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_exchange_attenuates_and_binds_to_the_delegate(chain: ChainWorld) -> None:
    root = _root(chain)
    response = exchange(chain, chain.assistant, root, "travel-agent", scope="calendar:read", reveal="PERSON")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert body["issued_token_type"] == ACCESS_TOKEN
    claims, parent = _claims(body["access_token"]), _claims(root)
    assert claims["client_id"] == "travel-agent"
    assert claims["sub"] == "alice"
    assert claims["act"] == {"sub": "travel-agent", "act": {"sub": "assistant"}}
    assert claims["scope"] == "calendar:read"
    assert claims["reveal"] == ["PERSON"]
    assert claims["aud"] == parent["aud"]
    assert claims["exp"] <= parent["exp"]
    registered = chain.travel.jwks()["keys"][0]
    assert claims["cnf"] == {"jkt": jwk_thumbprint(registered)}


def test_three_hops_nest_the_chain_with_the_current_actor_outermost(chain: ChainWorld) -> None:
    travel = _hop(chain, chain.assistant, _root(chain), chain.travel)
    airline = _hop(chain, chain.travel, travel, chain.airline)
    claims = _claims(airline)
    assert claims["act"] == {"sub": "airline", "act": {"sub": "travel-agent", "act": {"sub": "assistant"}}}
    introspected = chain.introspect(airline)
    assert introspected["active"] is True
    assert introspected["act"] == claims["act"]


def test_depth_beyond_the_grant_is_refused(chain: ChainWorld) -> None:
    travel = _hop(chain, chain.assistant, _root(chain), chain.travel)
    airline = _hop(chain, chain.travel, travel, chain.airline)
    proof = chain.airline.dpop_proof(TOKEN_URL, now=chain.clock.now)
    response = exchange(chain, chain.airline, airline, "ad-agent", proof)
    # RFC 8693 section 2.2.2: a subject token the policy does not accept is invalid_request.
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": POLICY_REFUSAL}


def test_no_delegation_when_the_grant_allows_none(world: World) -> None:
    world.grant(max_delegation_depth=0)
    token = world.token(world.travel).json()["access_token"]
    response = exchange(world, world.travel, token, "ad-agent")
    assert response.status_code == 400
    assert response.json()["error_description"] == POLICY_REFUSAL


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"scope": "calendar:admin"}, "invalid_scope"),
        ({"scope": "calendar:*"}, "invalid_scope"),
        ({"resource": "https://mail.example/api"}, "invalid_target"),
        ({"reveal": "PERSON US_SSN"}, "invalid_request"),
    ],
)
def test_widening_through_exchange_is_refused(chain: ChainWorld, params: dict[str, str], error: str) -> None:
    response = exchange(chain, chain.assistant, _root(chain), "travel-agent", **params)
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_lifetime_never_outlives_the_parent(chain: ChainWorld) -> None:
    root = _root(chain)
    chain.clock.advance(500)
    response = exchange(chain, chain.assistant, root, "travel-agent", expires_in="3600")
    assert response.status_code == 200
    assert _claims(response.json()["access_token"])["exp"] <= _claims(root)["exp"]


def test_only_the_tokens_holder_may_exchange_it(chain: ChainWorld) -> None:
    response = exchange(chain, chain.ads, _root(chain), "ad-agent")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_intercepted_delegated_token_cannot_be_exchanged_without_the_delegates_key(chain: ChainWorld) -> None:
    travel = _hop(chain, chain.assistant, _root(chain), chain.travel)
    no_proof = exchange(chain, chain.travel, travel, "airline")
    assert no_proof.json()["error"] == "invalid_dpop_proof"
    wrong_key = chain.assistant.dpop_proof(TOKEN_URL, now=chain.clock.now)
    assert exchange(chain, chain.travel, travel, "airline", wrong_key).json()["error"] == "invalid_dpop_proof"


@pytest.mark.parametrize(
    ("grant_id", "sub"),
    [(None, "alice"), (7, "alice"), ("other", "alice"), ("own", "bob")],
    ids=["no-grant-id", "grant-id-not-a-string", "alices-other-grant", "another-user"],
)
def test_subject_token_whose_claims_disagree_with_its_row_is_invalid_request(
    chain: ChainWorld, grant_id: Any, sub: str
) -> None:
    # Only a holder of the broker's own signing key could make these; the stored row decides.
    root = _claims(_root(chain))
    if grant_id == "own":
        grant_id = root["grant_id"]
    elif grant_id == "other":  # alice's grant to the travel agent: real, hers, not this token's
        grant_id = chain.grant(scopes=["calendar:*"], max_delegation_depth=2)["grant_id"]
    if sub != "alice":
        created = chain.client.post("/v1/users", json={"user_id": sub}, headers=auth(chain.admin_key))
        assert created.status_code == 201
    claims = {**root, "sub": sub, "grant_id": grant_id}
    keyring = chain.client.app.state.ctx.keyring  # type: ignore[attr-defined]
    forged = mint(keyring.current(), {k: v for k, v in claims.items() if v is not None})
    before = _issued(chain)
    response = exchange(chain, chain.assistant, forged, "travel-agent")
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert _issued(chain) == before


def test_revoked_subject_token_is_invalid_request(chain: ChainWorld) -> None:
    root = _root(chain)
    form = {"token": root, **chain.assistant.auth_form(ISSUER, now=chain.clock.now)}
    assert chain.client.post("/oauth2/revoke", data=form).status_code == 200
    response = exchange(chain, chain.assistant, root, "travel-agent")
    assert response.json()["error"] == "invalid_request"


def test_unknown_delegate_is_invalid_request(chain: ChainWorld) -> None:
    response = exchange(chain, chain.assistant, _root(chain), "nobody")
    assert response.json()["error"] == "invalid_request"


def test_revoking_the_root_cascades_across_three_hops(chain: ChainWorld) -> None:
    root = _root(chain)
    travel = _hop(chain, chain.assistant, root, chain.travel)
    airline = _hop(chain, chain.travel, travel, chain.airline)
    form = {"token": root, **chain.assistant.auth_form(ISSUER, now=chain.clock.now)}
    assert chain.client.post("/oauth2/revoke", data=form).status_code == 200
    for token in (root, travel, airline):
        assert chain.introspect(token) == {"active": False}
    revoked = {r["jti"] for r in chain.feed()["revocations"]}
    assert revoked == {_claims(t)["jti"] for t in (root, travel, airline)}


def test_revoking_a_middle_token_spares_its_parent(chain: ChainWorld) -> None:
    root = _root(chain)
    travel = _hop(chain, chain.assistant, root, chain.travel)
    airline = _hop(chain, chain.travel, travel, chain.airline)
    form = {"token": travel, **chain.travel.auth_form(ISSUER, now=chain.clock.now)}
    assert chain.client.post("/oauth2/revoke", data=form).status_code == 200
    assert chain.introspect(root)["active"] is True
    assert chain.introspect(airline) == {"active": False}


def test_blocking_an_agent_in_the_middle_of_a_chain(chain: ChainWorld) -> None:
    root = _root(chain)
    travel = _hop(chain, chain.assistant, root, chain.travel)
    airline = _hop(chain, chain.travel, travel, chain.airline)
    chain.block("organization", "Wanderly Travel")
    assert chain.introspect(root)["active"] is True
    assert chain.introspect(travel) == {"active": False}
    assert chain.introspect(airline) == {"active": False}
    response = exchange(chain, chain.assistant, root, "travel-agent")
    assert response.status_code == 400


def test_blocked_delegate_is_refused(chain: ChainWorld) -> None:
    chain.block("locale", "IE")
    response = exchange(chain, chain.assistant, _root(chain), "airline")
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": POLICY_REFUSAL}
    assert "IE" not in response.text


def test_revoking_the_grant_revokes_every_delegated_token(chain: ChainWorld) -> None:
    root = _root(chain)
    travel = _hop(chain, chain.assistant, root, chain.travel)
    grants = chain.client.get("/v1/me/grants", headers=auth(chain.alice_key)).json()["grants"]
    chain.client.delete(f"/v1/me/grants/{grants[0]['grant_id']}", headers=auth(chain.alice_key))
    assert chain.introspect(travel) == {"active": False}


def test_delegations_are_in_the_users_activity(chain: ChainWorld) -> None:
    _hop(chain, chain.assistant, _root(chain), chain.travel)
    events = chain.client.get("/v1/me/activity", headers=auth(chain.alice_key)).json()["events"]
    delegated = next(e for e in events if e["type"] == "token.delegated")
    assert delegated["agents"] == ["assistant", "travel-agent"]


def _revoke_after_the_exchange_decides(monkeypatch: pytest.MonkeyPatch, world: World, token: str) -> None:
    # Revokes `token` (in its own transaction) between the first exchange's decision and its write.
    from broker.oauth.token_exchange import ExchangeFlow

    real = ExchangeFlow.decide
    calls: list[int] = []

    def decide_then_revoke(self: Any, conn: Any, agent: Any, now: float) -> Any:
        plan = real(self, conn, agent, now)
        calls.append(1)
        if len(calls) == 1:
            store = world.client.app.state.ctx.store  # type: ignore[attr-defined]
            with store.write() as write:
                write.execute(
                    update(tokens).where(tokens.c.jti == _claims(token)["jti"]).values(revoked_at=1.0)
                )
        return plan

    monkeypatch.setattr(ExchangeFlow, "decide", decide_then_revoke)


def _issued(world: World) -> int:
    store = world.client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.read() as conn:
        return len(conn.execute(select(tokens.c.jti)).all())


def test_a_parent_revoked_after_the_exchange_decided_gets_no_token(
    chain: ChainWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _root(chain)
    before = _issued(chain)
    _revoke_after_the_exchange_decides(monkeypatch, chain, root)
    response = exchange(chain, chain.assistant, root, "travel-agent")
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert _issued(chain) == before


def test_a_grandparent_revoked_after_the_exchange_decided_gets_no_token(
    chain: ChainWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The re-check walks above the parent: the second hop's root is revoked mid-request.
    root = _root(chain)
    travel = _hop(chain, chain.assistant, root, chain.travel)
    before = _issued(chain)
    _revoke_after_the_exchange_decides(monkeypatch, chain, root)
    proof = chain.travel.dpop_proof(TOKEN_URL, now=chain.clock.now)
    response = exchange(chain, chain.travel, travel, "airline", proof)
    assert response.status_code != 200, response.text
    assert _issued(chain) == before


def test_an_exchange_reads_its_parent_token_grant_and_entries_in_one_round_trip(
    chain: ChainWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each read is a round trip that holds the worker's event loop on PostgreSQL.
    store = chain.client.app.state.ctx.store  # type: ignore[attr-defined]
    if store.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite has no round trips")
    from psycopg.pq import PipelineStatus

    root = _root(chain)
    seen: list[tuple[str, PipelineStatus]] = []
    _watch_psycopg(
        monkeypatch,
        execute=lambda cursor, query: seen.append((str(query), cursor.connection.pgconn.pipeline_status)),
    )
    _hop(chain, chain.assistant, root, chain.travel)
    monkeypatch.undo()
    reads = {read: status for query, status in seen for read in _EXCHANGE_READS if query.startswith(read)}
    assert reads == dict.fromkeys(_EXCHANGE_READS, PipelineStatus.ON), seen


_EXCHANGE_READS = (
    "SELECT jti, user_ref,",
    "SELECT grant_id, user_ref,",
    "SELECT entry_id, user_ref,",
)
