"""Work before authentication is bounded: a DPoP proof or a registered JWKS with an RSA key whose modulus
or public exponent is out of range is refused before any signature is checked, and a scope list longer
than the cap is refused without being read whole."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from discretion_wire.scopes import MAX_SCOPES, ScopeError, parse_scopes

from broker import strict_json
from broker.oauth.agent_keys import JwkError, load_key
from tests.conftest import ISSUER, World, auth

TOKEN_URL = ISSUER + "/oauth2/token"


def _b64(value: bytes | dict[str, Any]) -> str:
    raw = json.dumps(value).encode() if isinstance(value, dict) else value
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _int_b64(number: int) -> str:
    return _b64(number.to_bytes((number.bit_length() + 7) // 8, "big"))


@pytest.fixture(scope="module")
def modulus() -> int:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers().n


def _rsa_jwk(n: int, e: int) -> dict[str, str]:
    return {"kty": "RSA", "n": _int_b64(n), "e": _int_b64(e)}


def _proof_with(jwk: dict[str, str]) -> str:
    """A proof whose header carries `jwk`; its signature is junk: it must be refused before checking."""
    header = {"typ": "dpop+jwt", "alg": "RS256", "jwk": jwk}
    claims = {"jti": secrets.token_urlsafe(16), "htm": "POST", "htu": TOKEN_URL, "iat": int(time.time())}
    return f"{_b64(header)}.{_b64(claims)}.{_b64(secrets.token_bytes(256))}"


def _token_request(world: World, proof: str) -> Any:
    form = world.token_form(world.travel)
    return world.client.post("/oauth2/token", data=form, headers={"DPoP": proof})


@pytest.mark.parametrize(
    "exponent",
    [2**3070 + 1, 2**256 + 1, 3, 65536],
    ids=["3070-bit", "just-over-2**256", "e=3", "even"],
)
def test_a_dpop_proof_key_with_an_out_of_range_exponent_is_refused(
    world: World, modulus: int, exponent: int
) -> None:
    world.grant()
    response = _token_request(world, _proof_with(_rsa_jwk(modulus, exponent)))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_dpop_proof"
    # Refused for its key, not for its (junk) signature: no RSA work was done on it.
    assert "key is refused" in response.json()["error_description"]


def test_a_dpop_proof_key_with_a_huge_modulus_is_refused_before_parsing(world: World) -> None:
    world.grant()
    huge = {"kty": "RSA", "n": "A" * 2_000, "e": "AQAB"}  # 12,000 bits, under the proof's size cap
    response = _token_request(world, _proof_with(huge))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_dpop_proof"
    assert "larger than this broker accepts" in response.json()["error_description"]


@pytest.mark.parametrize("exponent", [2**3070 + 1, 3], ids=["3070-bit", "e=3"])
def test_registering_an_rsa_key_with_an_out_of_range_exponent_is_refused(
    world: World, modulus: int, exponent: int
) -> None:
    jwk = {**_rsa_jwk(modulus, exponent), "kid": "k1", "alg": "RS256"}
    body = {
        "client_id": "odd-exponent",
        "name": "Odd",
        "organization": "Odd Co",
        "locale": "DE",
        "jwks": {"keys": [jwk]},
    }
    response = world.client.post("/v1/agents", json=body, headers=auth(world.admin_key))
    assert response.status_code == 422, response.text


def test_a_normal_rsa_key_still_registers(world: World, modulus: int) -> None:
    jwk = {**_rsa_jwk(modulus, 65537), "kid": "k1", "alg": "RS256"}
    body = {
        "client_id": "plain-rsa",
        "name": "Plain",
        "organization": "Plain Co",
        "locale": "DE",
        "jwks": {"keys": [jwk]},
    }
    response = world.client.post("/v1/agents", json=body, headers=auth(world.admin_key))
    assert response.status_code == 201, response.text


def test_a_huge_scope_list_is_refused_after_reading_no_more_than_the_cap() -> None:
    consumed = 0

    def items() -> Iterator[str]:
        nonlocal consumed
        for i in range(250_000):
            consumed += 1
            yield f"area{i}:read"

    with pytest.raises(ScopeError):
        parse_scopes(items())
    assert consumed <= MAX_SCOPES + 1


def test_a_repeated_scope_list_is_refused_after_a_bounded_read() -> None:
    consumed = 0

    def items() -> Iterator[str]:
        nonlocal consumed
        for _ in range(250_000):
            consumed += 1
            yield "calendar:read"

    with pytest.raises(ScopeError):
        parse_scopes(items())
    assert consumed <= 4 * MAX_SCOPES + 1


def test_a_400_kilobyte_scope_parameter_is_refused_unsplit(world: World) -> None:
    world.grant()
    response = world.token(world.travel, scope=" ".join(["calendar:read"] * 30_000))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def _exchange(world: World, token: str, **params: str) -> Any:
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "requested_actor": "ad-agent",
        **world.travel.auth_form(ISSUER, now=world.clock.now),
        **params,
    }
    return world.client.post("/oauth2/token", data=form)


def _longest_event(world: World) -> int:
    key = world.client.post("/v1/auditors", json={"name": "Ada"}, headers=auth(world.admin_key)).json()
    export = world.client.get("/v1/audit/export", headers=auth(key["api_key"]))
    return max(len(line) for line in export.text.splitlines())


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"resource": "https://calendar.example/" + "a" * 500_000}, "invalid_target"),
        ({"reveal": "PERSON " * 100_000}, "invalid_request"),
        ({"reveal": "X" * 500_000}, "invalid_request"),
    ],
    ids=["huge-resource", "huge-reveal-list", "huge-reveal-name"],
)
def test_a_huge_exchange_parameter_is_refused_and_never_logged(
    world: World, params: dict[str, str], error: str
) -> None:
    world.grant(max_delegation_depth=1)
    token = world.token(world.travel).json()["access_token"]
    response = _exchange(world, token, **params)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert len(response.text) < 1_000  # the description does not echo the value back
    assert _longest_event(world) < 4_096


def _ec_jwk(x: int, y: int, crv: str = "P-256", size: int = 32) -> dict[str, str]:
    return {"kty": "EC", "crv": crv, "x": _b64(x.to_bytes(size, "big")), "y": _b64(y.to_bytes(size, "big"))}


def _es256_proof_with(jwk: dict[str, str]) -> str:
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}
    claims = {"jti": secrets.token_urlsafe(16), "htm": "POST", "htu": TOKEN_URL, "iat": int(time.time())}
    return f"{_b64(header)}.{_b64(claims)}.{_b64(secrets.token_bytes(64))}"


@pytest.fixture(scope="module")
def p256_point() -> tuple[int, int]:
    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    return numbers.x, numbers.y


@pytest.mark.parametrize(
    "make",
    [
        lambda x, y: _ec_jwk(x, y + 1),
        lambda x, y: _ec_jwk(0, 0),
        lambda x, y: _ec_jwk(x, y, crv="P-384", size=48),
        lambda x, y: _ec_jwk(x, y, crv="secp256k1"),
        lambda x, y: {**_ec_jwk(x, y), "x": "A" * 3_000},
    ],
    ids=["point-off-the-curve", "point-at-zero", "curve-p384", "curve-secp256k1", "huge-coordinate"],
)
def test_a_dpop_proof_with_a_bad_ec_key_is_refused_before_any_signature_check(
    world: World, p256_point: tuple[int, int], make: Any
) -> None:
    world.grant()
    response = _token_request(world, _es256_proof_with(make(*p256_point)))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_dpop_proof"
    description = response.json()["error_description"]
    assert "key is refused" in description or "does not fit its key" in description


def test_a_huge_ec_coordinate_is_refused_before_it_is_decoded(p256_point: tuple[int, int]) -> None:
    with pytest.raises(JwkError, match="larger than this broker accepts"):
        load_key({**_ec_jwk(*p256_point), "y": "A" * 6_000}, "ES256")


def test_a_megabyte_json_body_of_values_is_refused_before_the_parser_reads_one(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[str] = []
    original = strict_json._bounded_int
    monkeypatch.setattr(strict_json, "_bounded_int", lambda text: read.append(text) or original(text))
    body = b"[" + b",".join([b"1"] * 400_000) + b"]"
    # No credentials at all: FastAPI reads a body before the route's authentication runs.
    response = world.client.post("/v1/me/grants", content=body, headers={"content-type": "application/json"})
    assert response.status_code in (401, 422), response.text
    assert read == []


def test_a_body_of_many_strings_is_refused_without_cutting_them_apart() -> None:
    body = json.dumps(["calendar:read"] * 100_000).encode()
    with pytest.raises(strict_json.StrictJSONError, match="more than"):
        strict_json.loads(body)


def test_commas_and_brackets_inside_strings_are_not_counted_as_structure() -> None:
    body = json.dumps({"a": "," * 10_000, "b": "[" * 100, "c": '\\"],{' * 1000}).encode()
    assert strict_json.loads(body)["b"] == "[" * 100
