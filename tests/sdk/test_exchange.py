"""BrokerClient.exchange: RFC 8693 token exchange for delegation, and the delegated tokens it yields."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import discretion_sdk
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.sdk.fakes import (
    ACCESS_TOKEN_TYPE,
    AGENT_ID,
    ISSUER,
    RESOURCE,
    TOKEN_ENDPOINT,
    TOKEN_EXCHANGE,
    FakeBroker,
    FakeClock,
    any_public_jwk,
    thumbprint,
)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
NO_TIME: Any = {"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False}
URL = "https://holder.test/api/events"
B_ID, C_ID = "agent-b", "agent-c"


@pytest.fixture
def b_key(broker: FakeBroker) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    broker.agent_jwks[B_ID] = any_public_jwk(key)
    return key


@pytest.fixture
def c_key(broker: FakeBroker) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    broker.agent_jwks[C_ID] = any_public_jwk(key)
    return key


def _agent(broker: FakeBroker, clock: FakeClock, client_id: str, key: Any) -> discretion_sdk.BrokerClient:
    return discretion_sdk.BrokerClient(
        issuer=ISSUER,
        client_id=client_id,
        private_key=key,
        kid=f"{client_id}-1",
        http_client=broker.client(),
        clock=clock,
    )


@pytest.fixture
def client_b(broker: FakeBroker, clock: FakeClock, b_key: Any) -> Iterator[discretion_sdk.BrokerClient]:
    with _agent(broker, clock, B_ID, b_key) as client:
        yield client


@pytest.fixture
def client_c(broker: FakeBroker, clock: FakeClock, c_key: Any) -> Iterator[discretion_sdk.BrokerClient]:
    with _agent(broker, clock, C_ID, c_key) as client:
        yield client


@pytest.fixture
def parent(client: discretion_sdk.BrokerClient) -> discretion_sdk.AccessToken:
    return client.token(subject="alice", resource=RESOURCE, scopes=["calendar:read", "contacts.email:read"])


def _claims(token: discretion_sdk.AccessToken | str) -> dict[str, Any]:
    value = token.access_token if isinstance(token, discretion_sdk.AccessToken) else token
    return jwt.decode(value, options={"verify_signature": False})


# -- the request -----------------------------------------------------------------------------------


def test_exchange_posts_a_token_exchange_form_with_client_authentication(
    client: discretion_sdk.BrokerClient,
    broker: FakeBroker,
    parent: discretion_sdk.AccessToken,
    agent_key: Any,
    b_key: Any,
) -> None:
    client.exchange(parent, delegate=B_ID)
    request = broker.requests[-1]
    assert (request.method, str(request.url)) == ("POST", TOKEN_ENDPOINT)
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = broker.form()
    assertion = form.pop("client_assertion")
    # Nothing narrowed: only the required parameters, so the parent's scopes, resource, reveal
    # and lifetime apply.
    assert form == {
        "client_assertion_type": ASSERTION_TYPE,
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": parent.access_token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "requested_actor": B_ID,
    }
    claims = jwt.decode(
        assertion, agent_key.public_key(), algorithms=["EdDSA"], audience=ISSUER, options=NO_TIME
    )
    assert claims["sub"] == AGENT_ID


def test_exchange_sends_a_proof_of_the_callers_key_for_the_token_endpoint(
    client: discretion_sdk.BrokerClient,
    broker: FakeBroker,
    parent: discretion_sdk.AccessToken,
    agent_key: Any,
    b_key: Any,
) -> None:
    # The broker needs it when the subject token is itself bound; it never binds the new token to it.
    client.exchange(parent, delegate=B_ID)
    proofs = broker.requests[-1].headers.get_list("dpop")
    assert len(proofs) == 1
    claims = jwt.decode(proofs[0], agent_key.public_key(), algorithms=["EdDSA"], options=NO_TIME)
    assert jwt.get_unverified_header(proofs[0])["jwk"] == any_public_jwk(agent_key)
    assert (claims["htm"], claims["htu"]) == ("POST", TOKEN_ENDPOINT)
    assert "ath" not in claims


def test_exchange_sends_the_narrowing_parameters(
    client: discretion_sdk.BrokerClient, broker: FakeBroker, parent: discretion_sdk.AccessToken, b_key: Any
) -> None:
    client.exchange(
        parent.access_token,
        delegate=B_ID,
        scopes=["calendar:read"],
        resource=RESOURCE,
        expires_in=60,
        reveal=["PERSON", "DATE_TIME", "PERSON"],
    )
    form = broker.form()
    assert form["subject_token"] == parent.access_token
    assert form["scope"] == "calendar:read"
    assert form["resource"] == RESOURCE
    assert form["expires_in"] == "60"
    assert form["reveal"] == "PERSON DATE_TIME"


def test_strings_are_split_for_scopes_and_reveal(
    client: discretion_sdk.BrokerClient, broker: FakeBroker, parent: discretion_sdk.AccessToken, b_key: Any
) -> None:
    client.exchange(
        parent, delegate=B_ID, scopes="calendar:read  contacts.email:read", reveal="PERSON  LOCATION"
    )
    assert (broker.form()["scope"], broker.form()["reveal"]) == (
        "calendar:read contacts.email:read",
        "PERSON LOCATION",
    )


def test_an_empty_reveal_asks_for_nothing_revealed(
    client: discretion_sdk.BrokerClient, broker: FakeBroker, parent: discretion_sdk.AccessToken, b_key: Any
) -> None:
    token = client.exchange(parent, delegate=B_ID, reveal=[])
    assert broker.form()["reveal"] == ""
    assert _claims(token)["reveal"] == []


@pytest.mark.parametrize(
    "bad",
    [
        {"delegate": ""},
        {"token": ""},
        {"scopes": []},
        {"scopes": ["a:b c:d"]},
        {"resource": ""},
        {"expires_in": 0},
        {"expires_in": True},
        {"reveal": ["two words"]},
        {"reveal": [""]},
    ],
)
def test_bad_arguments_fail_before_any_request(
    client: discretion_sdk.BrokerClient,
    broker: FakeBroker,
    parent: discretion_sdk.AccessToken,
    bad: dict[str, Any],
) -> None:
    before = len(broker.requests)
    kwargs: dict[str, Any] = {"delegate": B_ID, **bad}
    token = kwargs.pop("token", parent)
    with pytest.raises(ValueError, match="must"):
        client.exchange(token, **kwargs)
    assert len(broker.requests) == before


# -- the answer ------------------------------------------------------------------------------------


def test_the_delegated_token_names_the_delegate_nests_the_chain_and_is_bound_to_the_delegate(
    client: discretion_sdk.BrokerClient, parent: discretion_sdk.AccessToken, b_key: Any, clock: FakeClock
) -> None:
    token = client.exchange(parent, delegate=B_ID, scopes=["calendar:read"], expires_in=60)
    assert token.token_type == "DPoP"
    assert token.scope == ("calendar:read",)
    assert token.expires_in == 60
    assert token.expires_at == clock.now + 60
    claims = _claims(token)
    assert (claims["sub"], claims["client_id"]) == ("alice", B_ID)
    assert claims["act"] == {"sub": B_ID, "act": {"sub": AGENT_ID}}
    assert claims["cnf"] == {"jkt": thumbprint(any_public_jwk(b_key))}


def test_exchanged_tokens_are_never_cached(
    client: discretion_sdk.BrokerClient, broker: FakeBroker, parent: discretion_sdk.AccessToken, b_key: Any
) -> None:
    first = client.exchange(parent, delegate=B_ID)
    second = client.exchange(parent, delegate=B_ID)
    assert first.access_token != second.access_token
    assert broker.hits["/oauth2/token"] == 3


def test_a_scope_left_out_of_the_answer_is_the_parents(
    client: discretion_sdk.BrokerClient, broker: FakeBroker, parent: discretion_sdk.AccessToken
) -> None:
    broker.error = (
        200,
        {
            "access_token": "a.b.c",
            "token_type": "DPoP",
            "expires_in": 60,
            "issued_token_type": ACCESS_TOKEN_TYPE,
        },
    )
    assert client.exchange(parent, delegate=B_ID).scope == parent.scope
    assert client.exchange(parent.access_token, delegate=B_ID).scope == parent.scope
    assert client.exchange(parent, delegate=B_ID, scopes="calendar:read").scope == ("calendar:read",)


@pytest.mark.parametrize("issued", [None, "urn:ietf:params:oauth:token-type:refresh_token", 3])
def test_an_answer_that_is_not_an_access_token_is_refused(
    client: discretion_sdk.BrokerClient, broker: FakeBroker, parent: discretion_sdk.AccessToken, issued: Any
) -> None:
    body = {"access_token": "a.b.c", "token_type": "DPoP", "expires_in": 60, "issued_token_type": issued}
    broker.error = (200, {k: v for k, v in body.items() if v is not None})
    with pytest.raises(discretion_sdk.UnknownBrokerError) as caught:
        client.exchange(parent, delegate=B_ID)
    assert caught.value.error == "invalid_response"


EXCHANGE_ERRORS = [
    (400, "invalid_scope", discretion_sdk.InvalidScope),  # a scope the parent does not have
    (400, "invalid_target", discretion_sdk.InvalidTarget),  # another resource than the parent's
    (400, "invalid_request", discretion_sdk.InvalidRequest),  # reveal wider than the parent's
    (403, "access_denied", discretion_sdk.AccessDenied),  # blocked party, chain too deep
    (400, "invalid_grant", discretion_sdk.InvalidGrant),  # bad, revoked or expired subject token
    (400, "invalid_dpop_proof", discretion_sdk.DPoPProofRefused),  # bound subject token, wrong proof
    (401, "invalid_client", discretion_sdk.InvalidClient),
]


@pytest.mark.parametrize(("status", "code", "cls"), EXCHANGE_ERRORS, ids=[c for _, c, _ in EXCHANGE_ERRORS])
def test_exchange_errors_map_to_their_classes(
    client: discretion_sdk.BrokerClient,
    broker: FakeBroker,
    parent: discretion_sdk.AccessToken,
    status: int,
    code: str,
    cls: type[discretion_sdk.BrokerError],
) -> None:
    broker.error = (status, {"error": code, "error_description": "because"})
    with pytest.raises(cls) as caught:
        client.exchange(parent, delegate=B_ID, scopes=["calendar:*"])
    assert type(caught.value) is cls
    assert (caught.value.error, caught.value.status_code) == (code, status)


def test_a_widening_refused_by_the_broker_is_invalid_scope(
    client: discretion_sdk.BrokerClient, parent: discretion_sdk.AccessToken, b_key: Any
) -> None:
    with pytest.raises(discretion_sdk.InvalidScope):
        client.exchange(parent, delegate=B_ID, scopes=["calendar:write"])


# -- a chain of three agents, end to end -----------------------------------------------------------


def test_a_three_hop_chain_reaches_the_holder_with_the_last_agents_proof(
    client: discretion_sdk.BrokerClient,
    client_b: discretion_sdk.BrokerClient,
    client_c: discretion_sdk.BrokerClient,
    parent: discretion_sdk.AccessToken,
    broker: FakeBroker,
    verifier: discretion_sdk.TokenVerifier,
) -> None:
    for_b = client.exchange(parent, delegate=B_ID, scopes=["calendar:read"])
    # B was handed the token as a string; it is bound to B's key, so B's exchange carries B's proof.
    for_c = client_b.exchange(for_b.access_token, delegate=C_ID)
    proof = broker.requests[-1].headers["dpop"]
    assert (
        discretion_sdk.jwk_thumbprint(jwt.get_unverified_header(proof)["jwk"]) == _claims(for_b)["cnf"]["jkt"]
    )
    assert _claims(for_c)["act"] == {"sub": C_ID, "act": {"sub": B_ID, "act": {"sub": AGENT_ID}}}
    # C presents it with its own key (ES256).
    headers = client_c.authorization_headers(for_c.access_token, "GET", URL)
    assert headers["Authorization"].startswith("DPoP ")
    verified = verifier.verify(
        for_c.access_token, dpop_proof=headers["DPoP"], http_method="GET", http_url=URL
    )
    assert (verified.subject, verified.client_id) == ("alice", C_ID)
    assert verified.actors == (C_ID, B_ID, AGENT_ID)
    assert verified.scopes == ("calendar:read",)
    assert verified.dpop_jkt == client_c.dpop_jkt


def test_the_delegating_agent_cannot_use_the_delegated_token(
    client: discretion_sdk.BrokerClient,
    parent: discretion_sdk.AccessToken,
    b_key: Any,
    verifier: discretion_sdk.TokenVerifier,
) -> None:
    for_b = client.exchange(parent, delegate=B_ID)
    with pytest.raises(ValueError, match="bound to another key"):
        client.authorization_headers(for_b, "GET", URL)
    # Nor by making a proof by hand: the holder sees A's key, not B's.
    proof = client.dpop_proof("GET", URL, access_token=for_b)
    with pytest.raises(discretion_sdk.InvalidDPoPProof) as caught:
        verifier.verify(for_b.access_token, dpop_proof=proof, http_method="GET", http_url=URL)
    assert caught.value.reason == "jkt_mismatch"
    # And as a bearer token it is refused outright.
    with pytest.raises(discretion_sdk.InvalidToken, match="sender_constrained"):
        verifier.verify(for_b.access_token)


@pytest.mark.anyio
async def test_the_async_client_exchanges_too(
    broker: FakeBroker, agent_key: Any, clock: FakeClock, b_key: Any
) -> None:
    async with discretion_sdk.AsyncBrokerClient(
        issuer=ISSUER,
        client_id=AGENT_ID,
        private_key=agent_key,
        kid="agent-key-1",
        http_client=broker.async_client(),
        clock=clock,
    ) as client:
        parent = await client.token(subject="alice", resource=RESOURCE, scopes="calendar:read")
        token = await client.exchange(parent, delegate=B_ID, reveal="PERSON")
        assert broker.form()["grant_type"] == TOKEN_EXCHANGE
        assert broker.form()["reveal"] == "PERSON"
        assert "dpop" in broker.requests[-1].headers
        broker.error = (403, {"error": "access_denied"})
        with pytest.raises(discretion_sdk.AccessDenied):
            await client.exchange(parent, delegate=B_ID)
    assert _claims(token)["client_id"] == B_ID
