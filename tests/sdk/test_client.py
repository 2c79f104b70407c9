"""BrokerClient: discovery, token requests, caching, introspection, revocation and the feed."""

from __future__ import annotations

from typing import Any

import discretion_sdk
import httpx
import jwt
import pytest

from tests.sdk.fakes import AGENT_ID, ISSUER, RESOURCE, FakeBroker, FakeClock

# The fake clock is not the wall clock pyjwt uses; times are checked in test_assertion.py.
NO_TIME: Any = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _token(client: discretion_sdk.BrokerClient, **kwargs: Any) -> discretion_sdk.AccessToken:
    params: dict[str, Any] = {"subject": "alice", "resource": RESOURCE, "scopes": ["calendar:read"]}
    params.update(kwargs)
    return client.token(**params)


def test_endpoints_are_discovered_once_from_rfc8414_metadata(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    _token(client)
    _token(client, subject="bob")
    client.jwks()
    assert broker.hits["/.well-known/oauth-authorization-server"] == 1
    assert client.endpoints().token == f"{ISSUER}/oauth2/token"


def test_metadata_naming_another_issuer_is_refused(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    # RFC 8414 section 3.3: a mix-up defence.
    broker.metadata_issuer = "http://evil.test"
    with pytest.raises(discretion_sdk.UnknownBrokerError, match="issuer"):
        _token(client)
    assert broker.hits["/oauth2/token"] == 0


def test_issuer_with_a_path_puts_the_well_known_suffix_first(agent_key: Any) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(404)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = discretion_sdk.BrokerClient(
        issuer="https://idp.test/tenant/",
        client_id=AGENT_ID,
        private_key=agent_key,
        kid="k",
        http_client=http,
    )
    with pytest.raises(discretion_sdk.BrokerError):
        client.endpoints()
    assert seen == ["https://idp.test/.well-known/oauth-authorization-server/tenant"]


def test_token_request_is_a_client_credentials_form_with_an_assertion(
    client: discretion_sdk.BrokerClient, broker: FakeBroker, agent_key: Any
) -> None:
    token = _token(
        client, scopes=["calendar:read", "contacts.email:read"], purpose="scheduling", expires_in=120
    )
    request = broker.requests[-1]
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = broker.form()
    assertion = form.pop("client_assertion")
    assert form == {
        "client_assertion_type": ASSERTION_TYPE,
        "grant_type": "client_credentials",
        "subject": "alice",
        "resource": RESOURCE,
        "scope": "calendar:read contacts.email:read",
        "purpose": "scheduling",
        "expires_in": "120",
    }
    claims = jwt.decode(
        assertion, agent_key.public_key(), algorithms=["EdDSA"], audience=ISSUER, options=NO_TIME
    )
    assert claims["iss"] == AGENT_ID
    assert token.token_type == "Bearer"
    assert token.expires_in == 120
    assert token.scope == ("calendar:read", "contacts.email:read")
    assert token.authorization == f"Bearer {token.access_token}"


def test_a_scope_string_is_split_not_iterated(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    _token(client, scopes="calendar:read  contacts.email:read")
    assert broker.form()["scope"] == "calendar:read contacts.email:read"


@pytest.mark.parametrize(
    "bad",
    [
        {"subject": ""},
        {"resource": ""},
        {"scopes": []},
        {"scopes": ""},
        {"scopes": ["a:b c:d"]},
        {"expires_in": 0},
        {"expires_in": True},
        {"purpose": ""},
    ],
)
def test_bad_arguments_fail_before_any_request(
    client: discretion_sdk.BrokerClient, broker: FakeBroker, bad: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="must"):
        _token(client, **bad)
    assert broker.requests == []


def test_tokens_are_cached_per_subject_resource_scopes_and_purpose(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    first = _token(client, scopes=["calendar:read", "contacts.email:read"])
    # Same set of scopes in another order: same cache entry.
    assert _token(client, scopes=["contacts.email:read", "calendar:read"]) is first
    assert broker.hits["/oauth2/token"] == 1
    assert _token(client, scopes=["calendar:read"]) is not first
    assert _token(client, scopes=["calendar:read"], purpose="x") is not first
    assert _token(client, subject="bob") is not first
    assert broker.hits["/oauth2/token"] == 4


def test_forget_drops_a_token_from_the_cache(client: discretion_sdk.BrokerClient, broker: FakeBroker) -> None:
    first = _token(client)
    client.forget(first)
    second = _token(client)
    assert second is not first
    assert broker.hits["/oauth2/token"] == 2
    client.forget(second.access_token)
    assert _token(client) is not second


def test_a_cached_token_is_renewed_30_seconds_before_expiry(
    client: discretion_sdk.BrokerClient, broker: FakeBroker, clock: FakeClock
) -> None:
    first = _token(client)
    clock.advance(300 - 30 - 1)
    assert _token(client) is first
    clock.advance(1)
    second = _token(client)
    assert second is not first
    assert second.expires_at == clock.now + 300
    assert broker.hits["/oauth2/token"] == 2


def test_a_short_token_is_renewed_at_ten_percent_of_its_life(
    client: discretion_sdk.BrokerClient, broker: FakeBroker, clock: FakeClock
) -> None:
    first = _token(client, expires_in=60)
    clock.advance(53)
    assert _token(client, expires_in=60) is first
    clock.advance(1)  # 54 s: 6 s (10 % of 60) before expiry
    assert _token(client, expires_in=60) is not first


def test_expiry_is_counted_from_before_the_request(
    client: discretion_sdk.BrokerClient, clock: FakeClock
) -> None:
    assert _token(client).expires_at == clock.now + 300


def test_access_token_repr_hides_the_token(client: discretion_sdk.BrokerClient) -> None:
    token = _token(client)
    assert token.access_token not in repr(token)
    assert token.access_token.split(".")[1] not in repr(token)
    assert "calendar:read" in repr(token)


def test_introspect_posts_the_token_with_client_authentication(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    broker.introspection = {"active": True, "sub": "alice", "scope": "calendar:read"}
    assert client.introspect("some.token.value") == broker.introspection
    form = broker.form()
    assert form["token"] == "some.token.value"
    assert form["client_assertion_type"] == ASSERTION_TYPE
    assert broker.requests[-1].url.path == "/oauth2/introspect"


def test_revoke_posts_the_token_and_drops_it_from_the_cache(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    token = _token(client)
    client.revoke(token.access_token)
    assert broker.requests[-1].url.path == "/oauth2/revoke"
    assert broker.form()["token"] == token.access_token
    assert _token(client) is not token


def test_revocations_reads_the_feed_with_a_fresh_bearer_assertion(
    client: discretion_sdk.BrokerClient, broker: FakeBroker, agent_key: Any
) -> None:
    broker.revoke_in_feed("j1", 1_800_000_000)
    broker.revoke_in_feed("j2", 1_800_000_001)
    page = client.revocations(limit=1)
    assert [item.jti for item in page.items] == ["j1"]
    assert page.items[0] == discretion_sdk.Revocation("j1", 1_800_000_000, int(broker.clock.now))
    following = client.revocations(since=page.cursor)
    assert [item.jti for item in following.items] == ["j2"]
    assert following.cursor == "2"
    first, second = (r for r in broker.requests if r.url.path == "/v1/revocations")
    assert first.url.params["limit"] == "1"
    assert second.url.params["since"] == "1"
    assertions = [r.headers["authorization"].removeprefix("Bearer ") for r in (first, second)]
    assert assertions[0] != assertions[1]
    claims = jwt.decode(
        assertions[0], agent_key.public_key(), algorithms=["EdDSA"], audience=ISSUER, options=NO_TIME
    )
    assert claims["sub"] == AGENT_ID


def test_jwks_returns_the_brokers_key_set(client: discretion_sdk.BrokerClient, broker: FakeBroker) -> None:
    assert client.jwks() == {"keys": broker.jwks_keys}


def test_a_malformed_token_answer_is_an_error(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    broker.error = (200, {"token_type": "Bearer", "expires_in": 300})
    with pytest.raises(discretion_sdk.UnknownBrokerError) as caught:
        _token(client)
    assert caught.value.error == "invalid_response"


def test_close_keeps_a_caller_supplied_http_client_open(broker: FakeBroker, agent_key: Any) -> None:
    http = broker.client()
    discretion_sdk.BrokerClient(
        issuer=ISSUER, client_id=AGENT_ID, private_key=agent_key, kid="k", http_client=http
    ).close()
    assert not http.is_closed


def test_close_closes_its_own_http_client(agent_key: Any) -> None:
    client = discretion_sdk.BrokerClient(issuer=ISSUER, client_id=AGENT_ID, private_key=agent_key, kid="k")
    client.close()
    assert client._http.is_closed
