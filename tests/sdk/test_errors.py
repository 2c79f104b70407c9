"""Error answers of the broker become one exception class per wire code."""

from __future__ import annotations

import discretion_sdk
import pytest

from tests.sdk.fakes import RESOURCE, FakeBroker

WIRE_CODES = [
    (400, "invalid_request", discretion_sdk.InvalidRequest),
    (401, "invalid_client", discretion_sdk.InvalidClient),
    (400, "invalid_grant", discretion_sdk.InvalidGrant),
    (400, "invalid_scope", discretion_sdk.InvalidScope),
    (400, "invalid_target", discretion_sdk.InvalidTarget),
    (400, "unsupported_grant_type", discretion_sdk.UnsupportedGrantType),
    (403, "access_denied", discretion_sdk.AccessDenied),
    (400, "unauthorized_client", discretion_sdk.UnauthorizedClient),
    (503, "temporarily_unavailable", discretion_sdk.TemporarilyUnavailable),
    (400, "something_new", discretion_sdk.UnknownBrokerError),
]


def _request_token(client: discretion_sdk.BrokerClient) -> discretion_sdk.AccessToken:
    return client.token(subject="alice", resource=RESOURCE, scopes=["calendar:read"])


@pytest.mark.parametrize(("status", "code", "cls"), WIRE_CODES, ids=[c for _, c, _ in WIRE_CODES])
def test_each_rfc6749_error_code_maps_to_its_class(
    client: discretion_sdk.BrokerClient,
    broker: FakeBroker,
    status: int,
    code: str,
    cls: type[discretion_sdk.BrokerError],
) -> None:
    broker.error = (status, {"error": code, "error_description": "because"})
    with pytest.raises(cls) as caught:
        _request_token(client)
    error = caught.value
    assert type(error) is cls
    assert isinstance(error, discretion_sdk.BrokerError)
    assert isinstance(error, discretion_sdk.DiscretionError)
    assert (error.error, error.description, error.status_code) == (code, "because", status)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("unauthorized", discretion_sdk.InvalidClient),
        ("forbidden", discretion_sdk.AccessDenied),
        ("unavailable", discretion_sdk.TemporarilyUnavailable),
        ("payload_too_large", discretion_sdk.InvalidRequest),
        ("not_found", discretion_sdk.UnknownBrokerError),
    ],
)
def test_problem_json_error_codes_map_onto_the_same_families(
    client: discretion_sdk.BrokerClient, broker: FakeBroker, code: str, cls: type[discretion_sdk.BrokerError]
) -> None:
    body = {"type": "about:blank", "title": "Nope", "status": 418, "detail": "the detail", "error": code}
    broker.error = (418, body)
    with pytest.raises(cls) as caught:
        _request_token(client)
    assert (caught.value.error, caught.value.description) == (code, "the detail")


def test_a_503_without_a_body_is_temporarily_unavailable(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    broker.error = (503, b"<html>upstream down</html>")
    with pytest.raises(discretion_sdk.TemporarilyUnavailable):
        _request_token(client)


def test_a_502_html_page_is_an_unknown_error(client: discretion_sdk.BrokerClient, broker: FakeBroker) -> None:
    broker.error = (502, b"<html>bad gateway</html>")
    with pytest.raises(discretion_sdk.UnknownBrokerError) as caught:
        _request_token(client)
    assert (caught.value.error, caught.value.status_code) == ("unexpected_response", 502)


def test_revoke_raises_unauthorized_client_for_a_stranger(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    broker.error = (400, {"error": "unauthorized_client"})
    with pytest.raises(discretion_sdk.UnauthorizedClient):
        client.revoke("a.b.c")


def test_error_messages_never_contain_the_token_or_the_assertion(
    client: discretion_sdk.BrokerClient, broker: FakeBroker
) -> None:
    secret_token = "eyJhbGciOiJFZERTQSJ9.secret-payload.secret-signature"
    broker.error = (401, {"error": "invalid_client", "error_description": "client authentication failed"})
    with pytest.raises(discretion_sdk.InvalidClient) as caught:
        client.introspect(secret_token)
    assertion = broker.form()["client_assertion"]
    for text in (str(caught.value), repr(caught.value)):
        assert secret_token not in text
        assert assertion not in text
        assert assertion.split(".")[1] not in text
    assert str(caught.value) == "invalid_client: client authentication failed (HTTP 401)"
