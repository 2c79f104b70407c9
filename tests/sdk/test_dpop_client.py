"""BrokerClient with DPoP (RFC 9449): proofs at the token endpoint, DPoP tokens, headers for holders."""

from __future__ import annotations

from typing import Any

import discretion_sdk
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.sdk.fakes import (
    AGENT_ID,
    ISSUER,
    RESOURCE,
    TOKEN_ENDPOINT,
    FakeBroker,
    FakeClock,
    any_public_jwk,
    ath,
    thumbprint,
)

NO_TIME: Any = {"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False}
URL = "https://holder.test/api/events"


def _token(client: discretion_sdk.BrokerClient, **kwargs: Any) -> discretion_sdk.AccessToken:
    params: dict[str, Any] = {"subject": "alice", "resource": RESOURCE, "scopes": ["calendar:read"]}
    params.update(kwargs)
    return client.token(**params)


def _proof_parts(proof: str, key: Any, alg: str = "EdDSA") -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a proof, its signature checked with `key`."""
    claims = jwt.decode(proof, key.public_key(), algorithms=[alg], options=NO_TIME)
    return jwt.get_unverified_header(proof), claims


# -- the token endpoint --------------------------------------------------------------------------


def test_token_with_dpop_sends_one_proof_of_the_agents_key(
    client: discretion_sdk.BrokerClient, broker: FakeBroker, agent_key: Any, clock: FakeClock
) -> None:
    token = _token(client, dpop=True)
    request = broker.requests[-1]
    proofs = request.headers.get_list("dpop")
    assert len(proofs) == 1
    header, claims = _proof_parts(proofs[0], agent_key)
    # RFC 9449 section 4.2: typ, an asymmetric alg and the public key, nothing private.
    assert header == {"typ": "dpop+jwt", "alg": "EdDSA", "jwk": any_public_jwk(agent_key)}
    # No `ath` at the token endpoint, no nonce unless asked for.
    assert set(claims) == {"jti", "htm", "htu", "iat"}
    assert claims["htm"] == "POST"
    assert claims["htu"] == TOKEN_ENDPOINT
    assert claims["iat"] == int(clock.now)
    assert len(claims["jti"]) >= 22
    # The assertion is sent as before, in the form.
    assert broker.form()["grant_type"] == "client_credentials"
    assert token.token_type == "DPoP"
    assert token.is_dpop
    bound = jwt.decode(token.access_token, options={"verify_signature": False})
    assert bound["cnf"] == {"jkt": client.dpop_jkt}


def test_the_default_dpop_key_is_the_registered_key(
    client: discretion_sdk.BrokerClient, agent_key: Any
) -> None:
    # Delegated tokens are bound to the agent's registered key: the default proofs must match them.
    assert client.dpop_jkt == thumbprint(any_public_jwk(agent_key))


def test_every_proof_has_a_fresh_jti(
    client: discretion_sdk.BrokerClient, broker: FakeBroker, agent_key: Any
) -> None:
    _token(client, dpop=True)
    _token(client, dpop=True, scopes=["contacts.email:read"])
    jtis = {
        _proof_parts(r.headers["dpop"], agent_key)[1]["jti"] for r in broker.requests if "dpop" in r.headers
    }
    assert len(jtis) == 2


def test_without_dpop_no_proof_is_sent(client: discretion_sdk.BrokerClient, broker: FakeBroker) -> None:
    token = _token(client)
    assert (token.token_type, token.is_dpop) == ("Bearer", False)
    assert "dpop" not in broker.requests[-1].headers


def test_the_htu_of_a_token_endpoint_with_a_query_leaves_it_out(
    client: discretion_sdk.BrokerClient, broker: FakeBroker, agent_key: Any
) -> None:
    metadata = broker.metadata()
    broker.metadata = lambda: {**metadata, "token_endpoint": TOKEN_ENDPOINT + "?tenant=1#x"}  # type: ignore[method-assign]
    _token(client, dpop=True)
    assert _proof_parts(broker.requests[-1].headers["dpop"], agent_key)[1]["htu"] == TOKEN_ENDPOINT


def test_dpop_and_bearer_tokens_are_cached_apart(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    bearer, bound = _token(client), _token(client, dpop=True)
    assert (bearer.token_type, bound.token_type) == ("Bearer", "DPoP")
    assert _token(client) is bearer
    assert _token(client, dpop=True) is bound
    assert broker.hits["/oauth2/token"] == 2


def test_a_bearer_answer_to_a_dpop_request_is_refused(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    broker.error = (200, {"access_token": "a.b.c", "token_type": "Bearer", "expires_in": 300})
    with pytest.raises(discretion_sdk.UnknownBrokerError) as caught:
        _token(client, dpop=True)
    assert caught.value.error == "invalid_response"


@pytest.mark.parametrize(("wire", "kept"), [("dpop", "DPoP"), ("DPOP", "DPoP"), ("bearer", "Bearer")])
def test_token_type_is_compared_case_insensitively_and_kept_canonical(
    client: discretion_sdk.BrokerClient, broker: FakeBroker, wire: str, kept: str
) -> None:
    broker.error = (200, {"access_token": "a.b.c", "token_type": wire, "expires_in": 300})
    assert _token(client, dpop=kept == "DPoP").token_type == kept


@pytest.mark.parametrize("code", ["invalid_dpop_proof", "use_dpop_nonce"])
def test_a_refused_proof_is_dpop_proof_refused(
    client: discretion_sdk.BrokerClient, broker: FakeBroker, code: str
) -> None:
    broker.error = (400, {"error": code, "error_description": "iat too old"})
    with pytest.raises(discretion_sdk.DPoPProofRefused) as caught:
        _token(client, dpop=True)
    assert (caught.value.error, caught.value.status_code) == (code, 400)
    assert isinstance(caught.value, discretion_sdk.BrokerError)


def test_a_grant_that_requires_dpop_answers_invalid_request(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    broker.error = (400, {"error": "invalid_request", "error_description": "a DPoP proof is required"})
    with pytest.raises(discretion_sdk.InvalidRequest, match="DPoP proof is required"):
        _token(client)


# -- the DPoP key --------------------------------------------------------------------------------


def test_a_separate_dpop_key_signs_the_proofs(broker: FakeBroker, agent_key: Any, clock: FakeClock) -> None:
    dpop_key = ec.generate_private_key(ec.SECP256R1())
    with discretion_sdk.BrokerClient(
        issuer=ISSUER,
        client_id=AGENT_ID,
        private_key=agent_key,
        kid="agent-key-1",
        http_client=broker.client(),
        clock=clock,
        dpop_key=dpop_key,
    ) as client:
        token = _token(client, dpop=True)
    header, _ = _proof_parts(broker.requests[-1].headers["dpop"], dpop_key, "ES256")
    assert header["alg"] == "ES256"
    assert header["jwk"] == any_public_jwk(dpop_key)
    assert client.dpop_jkt == thumbprint(any_public_jwk(dpop_key))
    assert (
        jwt.decode(token.access_token, options={"verify_signature": False})["cnf"]["jkt"] == client.dpop_jkt
    )
    # Client authentication still uses the registered key.
    assertion = broker.form()["client_assertion"]
    assert jwt.decode(
        assertion, agent_key.public_key(), algorithms=["EdDSA"], audience=ISSUER, options=NO_TIME
    )


def test_an_rsa_agent_proves_with_the_algorithm_of_its_assertions(
    broker: FakeBroker, clock: FakeClock
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client = discretion_sdk.BrokerClient(
        issuer=ISSUER, client_id=AGENT_ID, private_key=key, kid="k", alg="RS256", clock=clock
    )
    header, _ = _proof_parts(client.dpop_proof("POST", TOKEN_ENDPOINT), key, "RS256")
    assert header["alg"] == "RS256"
    assert set(header["jwk"]) == {"kty", "n", "e"}
    client.close()


# -- proofs and headers for holders ---------------------------------------------------------------


def test_a_proof_for_a_holder_hashes_the_token_and_names_the_request(
    client: discretion_sdk.BrokerClient, agent_key: Any
) -> None:
    proof = client.dpop_proof("get", URL + "?page=2#top", access_token="tok.en.x", nonce="n-1")
    _, claims = _proof_parts(proof, agent_key)
    assert claims["htm"] == "GET"
    assert claims["htu"] == URL
    assert claims["ath"] == ath("tok.en.x")
    assert claims["nonce"] == "n-1"


@pytest.mark.parametrize(
    ("method", "url"), [("GET POST", URL), ("", URL), ("GET", "/api/events"), ("GET", "ftp://h.test/x")]
)
def test_a_proof_needs_a_method_and_an_absolute_url(
    client: discretion_sdk.BrokerClient, method: str, url: str
) -> None:
    with pytest.raises(ValueError, match=r"method|URL"):
        client.dpop_proof(method, url)


def test_bearer_tokens_get_a_bearer_header_only(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    token = _token(client)
    assert client.authorization_headers(token, "GET", URL) == {
        "Authorization": f"Bearer {token.access_token}"
    }
    plain = broker.mint()
    assert client.authorization_headers(plain, "GET", URL) == {"Authorization": f"Bearer {plain}"}


def test_dpop_tokens_get_a_dpop_header_and_a_fresh_proof(
    client: discretion_sdk.BrokerClient, agent_key: Any, verifier: discretion_sdk.TokenVerifier
) -> None:
    token = _token(client, dpop=True)
    first = client.authorization_headers(token, "GET", URL)
    second = client.authorization_headers(token.access_token, "GET", URL)
    assert first["Authorization"] == second["Authorization"] == f"DPoP {token.access_token}"
    assert first["DPoP"] != second["DPoP"]
    _, claims = _proof_parts(first["DPoP"], agent_key)
    assert claims["ath"] == ath(token.access_token)
    for headers in (first, second):
        verified = verifier.verify(
            token.access_token, dpop_proof=headers["DPoP"], http_method="GET", http_url=URL
        )
        assert verified.dpop_jkt == client.dpop_jkt


def test_a_token_bound_to_another_key_cannot_be_presented(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    stolen = broker.mint(cnf={"jkt": thumbprint(any_public_jwk(ec.generate_private_key(ec.SECP256R1())))})
    with pytest.raises(ValueError, match="bound to another key"):
        client.authorization_headers(stolen, "GET", URL)


def test_authorization_headers_refuse_an_empty_token(client: discretion_sdk.BrokerClient) -> None:
    with pytest.raises(ValueError, match="access token"):
        client.authorization_headers("", "GET", URL)


# -- async -----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_async_client_gets_dpop_tokens(
    broker: FakeBroker, agent_key: Any, clock: FakeClock, verifier: discretion_sdk.TokenVerifier
) -> None:
    async with discretion_sdk.AsyncBrokerClient(
        issuer=ISSUER,
        client_id=AGENT_ID,
        private_key=agent_key,
        kid="agent-key-1",
        http_client=broker.async_client(),
        clock=clock,
    ) as client:
        token = await client.token(subject="alice", resource=RESOURCE, scopes="calendar:read", dpop=True)
        assert token.token_type == "DPoP"
        _, claims = _proof_parts(broker.requests[-1].headers["dpop"], agent_key)
        assert (claims["htm"], claims["htu"]) == ("POST", TOKEN_ENDPOINT)
        headers = client.authorization_headers(token, "POST", URL)
    assert verifier.verify(token.access_token, dpop_proof=headers["DPoP"], http_method="POST", http_url=URL)
