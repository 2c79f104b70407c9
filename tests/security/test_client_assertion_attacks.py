"""One test per attack on private_key_jwt client authentication; each gets exactly invalid_client."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.oauth.signing_keys import public_jwk
from tests.agents import TestAgent
from tests.conftest import CALENDAR_URI, ISSUER, World, auth


def _request(world: World, assertion: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "subject": "alice",
        "resource": CALENDAR_URI,
        "scope": "calendar:read",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }


def _assert_invalid_client(world: World, assertion: str) -> None:
    response = world.client.post("/oauth2/token", data=_request(world, assertion))
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "invalid_client", "error_description": "client authentication failed"}


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(world: World, **extra: object) -> dict[str, object]:
    now = int(world.clock.now)
    return {
        "iss": "travel-agent",
        "sub": "travel-agent",
        "aud": ISSUER,
        "jti": f"j-{time.time_ns()}",
        "iat": now,
        "exp": now + 60,
        **extra,
    }


@pytest.fixture
def granted(world: World) -> World:
    world.grant()
    return world


def test_valid_assertion_is_accepted(granted: World) -> None:
    assertion = granted.travel.assertion(ISSUER, now=granted.clock.now)
    assert granted.client.post("/oauth2/token", data=_request(granted, assertion)).status_code == 200


def test_token_endpoint_url_is_an_accepted_audience(granted: World) -> None:
    assertion = granted.travel.assertion(ISSUER + "/oauth2/token", now=granted.clock.now)
    assert granted.client.post("/oauth2/token", data=_request(granted, assertion)).status_code == 200


def test_alg_none_is_rejected(granted: World) -> None:
    header = {"alg": "none", "kid": granted.travel.kid, "typ": "JWT"}
    _assert_invalid_client(granted, f"{_b64(header)}.{_b64(_claims(granted))}.")


def test_empty_signature_is_rejected(granted: World) -> None:
    signed = granted.travel.assertion(ISSUER, now=granted.clock.now)
    _assert_invalid_client(granted, signed.rsplit(".", 1)[0] + ".")


def test_hs256_signed_with_the_registered_public_key_is_rejected(granted: World) -> None:
    public_x = granted.travel.jwks()["keys"][0]["x"].encode()
    header = {"alg": "HS256", "kid": granted.travel.kid}
    signing_input = f"{_b64(header)}.{_b64(_claims(granted))}".encode()
    import hashlib
    import hmac

    signature = base64.urlsafe_b64encode(hmac.new(public_x, signing_input, hashlib.sha256).digest()).rstrip(
        b"="
    )
    _assert_invalid_client(granted, f"{signing_input.decode()}.{signature.decode()}")


def test_algorithm_outside_the_keys_allow_list_is_rejected(granted: World) -> None:
    # ES256 header on an Ed25519 key id: the key's pinned algorithm is EdDSA.
    other = Ed25519PrivateKey.generate()
    token = jwt.encode(_claims(granted), other, algorithm="EdDSA", headers={"kid": granted.travel.kid})
    _, payload, signature = token.split(".")
    forged_header = _b64({"alg": "ES256", "kid": granted.travel.kid})
    _assert_invalid_client(granted, f"{forged_header}.{payload}.{signature}")


def test_signature_by_an_unregistered_key_is_rejected(granted: World) -> None:
    rogue = Ed25519PrivateKey.generate()
    _assert_invalid_client(
        granted, jwt.encode(_claims(granted), rogue, algorithm="EdDSA", headers={"kid": granted.travel.kid})
    )


def test_another_agents_key_cannot_sign_for_this_client(granted: World) -> None:
    token = jwt.encode(_claims(granted), granted.ads.key, algorithm="EdDSA", headers={"kid": granted.ads.kid})
    _assert_invalid_client(granted, token)


@pytest.mark.parametrize("kid", ["unknown", "../../etc/passwd", "' OR '1'='1", "x" * 200])
def test_unknown_or_malicious_kid_is_rejected(granted: World, kid: str) -> None:
    token = jwt.encode(_claims(granted), granted.travel.key, algorithm="EdDSA", headers={"kid": kid})
    _assert_invalid_client(granted, token)


def test_inline_jwk_header_is_ignored(granted: World) -> None:
    rogue = Ed25519PrivateKey.generate()
    headers = {"kid": granted.travel.kid, "jwk": public_jwk(rogue.public_key())}
    _assert_invalid_client(granted, jwt.encode(_claims(granted), rogue, algorithm="EdDSA", headers=headers))


@pytest.mark.parametrize("header", ["jku", "x5u"])
def test_key_url_headers_are_never_fetched(granted: World, header: str) -> None:
    # The URL points nowhere reachable; if it were fetched the test would hang or error.
    rogue = Ed25519PrivateKey.generate()
    headers = {"kid": granted.travel.kid, header: "https://attacker.invalid/keys"}
    _assert_invalid_client(granted, jwt.encode(_claims(granted), rogue, algorithm="EdDSA", headers=headers))


def test_wrong_audience_is_rejected(granted: World) -> None:
    _assert_invalid_client(
        granted, granted.travel.assertion("https://other-broker.example", now=granted.clock.now)
    )


def test_replayed_jti_is_rejected(granted: World) -> None:
    assertion = granted.travel.assertion(ISSUER, now=granted.clock.now)
    assert granted.client.post("/oauth2/token", data=_request(granted, assertion)).status_code == 200
    _assert_invalid_client(granted, assertion)


def test_jti_is_consumed_even_when_the_request_is_refused(granted: World) -> None:
    assertion = granted.travel.assertion(ISSUER, now=granted.clock.now)
    form = {**_request(granted, assertion), "resource": "https://unknown.example"}
    assert granted.client.post("/oauth2/token", data=form).json()["error"] == "invalid_target"
    _assert_invalid_client(granted, assertion)


def test_exp_too_far_ahead_is_rejected(granted: World) -> None:
    now = int(granted.clock.now)
    _assert_invalid_client(granted, granted.travel.assertion(ISSUER, now=now, exp=now + 3600))


def test_expired_assertion_is_rejected(granted: World) -> None:
    now = int(granted.clock.now)
    _assert_invalid_client(granted, granted.travel.assertion(ISSUER, now=now - 600, exp=now - 300))


def test_not_yet_valid_assertion_is_rejected(granted: World) -> None:
    now = int(granted.clock.now)
    _assert_invalid_client(granted, granted.travel.assertion(ISSUER, now=now, nbf=now + 120, exp=now + 200))


@pytest.mark.parametrize("claim", ["sub", "jti", "exp", "aud", "iss"])
def test_missing_required_claim_is_rejected(granted: World, claim: str) -> None:
    _assert_invalid_client(granted, granted.travel.assertion(ISSUER, now=granted.clock.now, **{claim: None}))


def test_sub_different_from_iss_is_rejected(granted: World) -> None:
    _assert_invalid_client(
        granted, granted.travel.assertion(ISSUER, now=granted.clock.now, sub="calendar-holder")
    )


def test_unknown_client_gets_the_same_answer_as_a_bad_signature(granted: World) -> None:
    stranger = jwt.encode(
        {**_claims(granted), "iss": "ghost", "sub": "ghost"},
        granted.travel.key,
        algorithm="EdDSA",
        headers={"kid": granted.travel.kid},
    )
    _assert_invalid_client(granted, stranger)


def test_access_token_used_as_client_assertion_is_rejected(granted: World) -> None:
    token = granted.travel.assertion(ISSUER, now=granted.clock.now, headers={"typ": "at+jwt"})
    _assert_invalid_client(granted, token)


def test_client_id_parameter_must_match_the_assertion(granted: World) -> None:
    form = {
        **_request(granted, granted.travel.assertion(ISSUER, now=granted.clock.now)),
        "client_id": "ad-agent",
    }
    response = granted.client.post("/oauth2/token", data=form)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_garbage_assertion_is_rejected(granted: World) -> None:
    _assert_invalid_client(granted, "not.a.jwt")


def test_replayed_jti_within_one_commit_group_is_accepted_once(granted: World) -> None:
    assertion = granted.travel.assertion(ISSUER, now=granted.clock.now)
    responses = granted.post_at_once("/oauth2/token", [_request(granted, assertion)] * 4)
    assert sorted(r.status_code for r in responses) == [200, 401, 401, 401]


def test_a_small_order_key_cannot_be_registered(world: World) -> None:
    # The identity point "signs" every message with R = identity, S = 0: whoever registered it,
    # anyone could authenticate as the agent. Refused at registration, not only at verification.
    registration = TestAgent("weak", "Weak Ltd", "GB").registration()
    registration["jwks"]["keys"][0]["x"] = base64.urlsafe_b64encode(b"\x01" + bytes(31)).rstrip(b"=").decode()
    response = world.client.post("/v1/agents", json=registration, headers=auth(world.admin_key))
    assert response.status_code == 422, response.text
    assert "prime order" in response.json()["detail"]


@pytest.mark.parametrize(
    "jti", ["\ud800", "a\x00b", "tab\there", "\u2028"], ids=["surrogate", "nul", "tab", "separator"]
)
def test_a_jti_that_is_not_printable_text_is_refused_as_invalid_client(granted: World, jti: str) -> None:
    # A lone surrogate cannot be encoded and PostgreSQL text cannot hold NUL: either would fail
    # the replay-cache write with a server error instead of a refusal.
    assertion = granted.travel.assertion(ISSUER, now=granted.clock.now, jti=jti)
    response = granted.client.post("/oauth2/token", data=_request(granted, assertion))
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


def _signed_by_travel(granted: World, header: dict[str, object], claims: dict[str, object]) -> str:
    # Signed by the registered key over exactly these segments, so only the parsing can refuse it.
    signing_input = f"{_b64(header)}.{_b64(claims)}"
    raw = granted.travel.key.sign(signing_input.encode())
    return f"{signing_input}.{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}"


@pytest.mark.parametrize(
    "extra",
    [{"crit": ["exp"], "exp": 1}, {"crit": ["b64"], "b64": False}, {"b64": False}],
    ids=["unknown-crit", "unencoded-payload", "b64-not-critical"],
)
def test_a_critical_or_unencoded_payload_header_is_refused(granted: World, extra: dict[str, object]) -> None:
    # RFC 7515 section 4.1.11: an extension the broker does not implement must not be ignored;
    # an unencoded payload (RFC 7797) would sign different bytes from the ones read as claims.
    header = {"alg": "EdDSA", "kid": granted.travel.kid, **extra}
    _assert_invalid_client(granted, _signed_by_travel(granted, header, _claims(granted)))


@pytest.mark.parametrize(
    "aud", [[ISSUER, 7], {"aud": ISSUER}, [], ""], ids=["non-string", "object", "empty", "blank"]
)
def test_a_malformed_audience_is_refused(granted: World, aud: object) -> None:
    header = {"alg": "EdDSA", "kid": granted.travel.kid}
    _assert_invalid_client(granted, _signed_by_travel(granted, header, _claims(granted, aud=aud)))


def test_an_audience_list_naming_the_broker_is_accepted(granted: World) -> None:
    header = {"alg": "EdDSA", "kid": granted.travel.kid}
    assertion = _signed_by_travel(
        granted, header, _claims(granted, aud=["https://elsewhere.example", ISSUER])
    )
    assert granted.client.post("/oauth2/token", data=_request(granted, assertion)).status_code == 200


@pytest.mark.parametrize(
    "token",
    ["a.b", "a.b.c.d", "e30.e30.", "W10.e30.AA", "e30.W10.AA", "eyJ=.e30.AA", "é.e30.AA"],
    ids=[
        "two-segments",
        "four-segments",
        "empty-header",
        "array-header",
        "array-claims",
        "bad-padding",
        "non-ascii",
    ],
)
def test_a_malformed_compact_serialization_is_refused(granted: World, token: str) -> None:
    _assert_invalid_client(granted, token)


def test_ed25519_name_on_an_ec_key_registration_is_refused(world: World) -> None:
    # RFC 9864's Ed25519 names one key type: it cannot pin an EC or RSA key to another algorithm.
    from cryptography.hazmat.primitives.asymmetric import ec

    from broker.oauth.signing_keys import public_jwk as broker_jwk

    jwk = {**broker_jwk(ec.generate_private_key(ec.SECP256R1()).public_key(), "ES256"), "alg": "Ed25519"}
    body = {**TestAgent("confused", "Confused Co", "DE").registration(), "jwks": {"keys": [jwk]}}
    response = world.client.post("/v1/agents", json=body, headers=auth(world.admin_key))
    assert response.status_code == 422


def test_ed25519_name_does_not_bypass_the_signature_check(granted: World) -> None:
    # Under its RFC 9864 name the signature is checked as under EdDSA: another key's fails.
    other = Ed25519PrivateKey.generate()
    token = jwt.encode(_claims(granted), other, algorithm="EdDSA", headers={"kid": granted.travel.kid})
    _, payload, signature = token.split(".")
    forged_header = _b64({"alg": "Ed25519", "kid": granted.travel.kid})
    _assert_invalid_client(granted, f"{forged_header}.{payload}.{signature}")
