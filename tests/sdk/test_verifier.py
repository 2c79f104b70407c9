"""TokenVerifier: a good token passes; each attack is refused with its own reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import discretion_sdk
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import ECAlgorithm

from tests.sdk.fakes import AGENT_ID, ISSUER, RESOURCE, FakeBroker, FakeClock, public_jwk


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: dict[str, Any], claims: dict[str, Any], sign: Any = None) -> str:
    """A compact JWS built by hand, so that tests can produce what pyjwt refuses to."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = sign(signing_input.encode()) if sign is not None else b""
    return f"{signing_input}.{b64(signature)}"


def reason(verifier: discretion_sdk.TokenVerifier, token: str, **kwargs: Any) -> str:
    with pytest.raises(discretion_sdk.InvalidToken) as caught:
        verifier.verify(token, **kwargs)
    return caught.value.reason


# -- the good token ------------------------------------------------------------------------------


def test_a_good_token_is_accepted(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, clock: FakeClock
) -> None:
    token = broker.mint(jti="jti-1", purpose="scheduling")
    verified = verifier.verify(token, required_scopes=["calendar:read"])
    assert verified.subject == "alice"
    assert verified.client_id == AGENT_ID
    assert verified.audience == (RESOURCE,)
    assert verified.scopes == ("calendar:read", "contacts.email:read")
    assert verified.jti == "jti-1"
    assert verified.grant_id == "grant-1"
    assert verified.reveal == ("PERSON",)
    assert verified.expires_at == int(clock.now) + 300
    assert verified.purpose == "scheduling"
    assert verified.act is None
    assert verified.cnf is None
    assert verified.claims["iss"] == ISSUER
    assert token not in repr(verified)


def test_delegated_token_exposes_act(verifier: discretion_sdk.TokenVerifier, broker: FakeBroker) -> None:
    act = {"sub": "agent-b", "act": {"sub": "agent-c"}}
    assert verifier.verify(broker.mint(act=act)).act == act


def test_the_jwks_is_downloaded_once_and_cached(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker
) -> None:
    for _ in range(5):
        verifier.verify(broker.mint())
    assert broker.hits["/.well-known/jwks.json"] == 1


# -- algorithm attacks ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_rejected(verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, alg: str) -> None:
    token = compact({"alg": alg, "typ": "at+jwt", "kid": broker.kid}, broker.claims())
    assert reason(verifier, token) == "bad_algorithm"
    assert reason(verifier, token + "AAAA") in {"bad_algorithm", "malformed"}


def _public_key_encodings(broker: FakeBroker) -> dict[str, bytes]:
    public = broker.key.public_key()
    return {
        "raw": public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
        "pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwk": json.dumps(broker.jwks_keys[0]).encode(),
    }


@pytest.mark.parametrize("encoding", ["raw", "pem", "der", "jwk"])
def test_hs256_signed_with_the_public_key_is_rejected(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, encoding: str
) -> None:
    # CVE-2015-9235 / CVE-2022-29217 style algorithm confusion: the public key as an HMAC secret.
    secret = _public_key_encodings(broker)[encoding]
    for alg, digest in (("HS256", hashlib.sha256), ("HS512", hashlib.sha512)):
        header = {"alg": alg, "typ": "at+jwt", "kid": broker.kid}
        token = compact(header, broker.claims(), lambda data, d=digest: hmac.new(secret, data, d).digest())
        assert reason(verifier, token) == "bad_algorithm"


def _ec_broker_key(broker: FakeBroker) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    broker.jwks_keys.append({**jwk, "kid": "broker-ec", "alg": "ES256", "use": "sig"})
    return key


def test_es256_is_rejected_when_pinned_to_eddsa(broker: FakeBroker, clock: FakeClock) -> None:
    ec_key = _ec_broker_key(broker)
    verifier = discretion_sdk.TokenVerifier(
        issuer=ISSUER, audience=RESOURCE, http_client=broker.client(), clock=clock, algorithms=["EdDSA"]
    )
    token = broker.mint(key=ec_key, algorithm="ES256", headers={"kid": "broker-ec"})
    assert reason(verifier, token) == "bad_algorithm"


def test_es256_is_accepted_when_pinned_to_es256(broker: FakeBroker, clock: FakeClock) -> None:
    ec_key = _ec_broker_key(broker)
    verifier = discretion_sdk.TokenVerifier(
        issuer=ISSUER, audience=RESOURCE, http_client=broker.client(), clock=clock, algorithms=["ES256"]
    )
    token = broker.mint(key=ec_key, algorithm="ES256", headers={"kid": "broker-ec"})
    assert verifier.verify(token).subject == "alice"


def test_an_algorithm_that_does_not_match_the_keys_type_is_rejected(
    broker: FakeBroker, clock: FakeClock
) -> None:
    # Both algorithms allowed, but the kid names an Ed25519 key: ES256 must not be tried on it.
    _ec_broker_key(broker)
    verifier = discretion_sdk.TokenVerifier(
        issuer=ISSUER,
        audience=RESOURCE,
        http_client=broker.client(),
        clock=clock,
        algorithms=["EdDSA", "ES256"],
    )
    forged = broker.mint(key=ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")
    assert reason(verifier, forged) == "bad_algorithm"


@pytest.mark.parametrize("algorithms", [["none"], ["HS256"], ["EdDSA", "HS256"], [], "RS512"])
def test_a_verifier_cannot_be_configured_with_symmetric_or_no_algorithms(algorithms: Any) -> None:
    with pytest.raises(ValueError, match="algorithms"):
        discretion_sdk.TokenVerifier(issuer=ISSUER, audience=RESOURCE, algorithms=algorithms)


# -- type confusion ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typ", ["JWT", "jwt", "dpop+jwt", "client-authentication+jwt", "at+jwt2", "application/jwt"]
)
def test_wrong_typ_is_rejected(verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, typ: str) -> None:
    assert reason(verifier, broker.mint(headers={"typ": typ})) == "wrong_type"


def test_missing_typ_is_rejected(verifier: discretion_sdk.TokenVerifier, broker: FakeBroker) -> None:
    # pyjwt adds typ "JWT" by default; None removes it from the header altogether.
    token = compact({"alg": "EdDSA", "kid": broker.kid}, broker.claims(), broker.key.sign)
    assert "typ" not in jwt.get_unverified_header(token)
    assert reason(verifier, token) == "wrong_type"


@pytest.mark.parametrize("typ", ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"])
def test_typ_is_compared_case_insensitively_with_optional_prefix(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, typ: str
) -> None:
    assert verifier.verify(broker.mint(headers={"typ": typ})).subject == "alice"


# -- keys ----------------------------------------------------------------------------------------


def test_unknown_kid_triggers_one_jwks_refresh(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker
) -> None:
    verifier.verify(broker.mint())
    # The broker rotates: a new key is published and used.
    new_key = Ed25519PrivateKey.generate()
    broker.jwks_keys.append(public_jwk(new_key.public_key(), "broker-key-2"))
    token = broker.mint(key=new_key, headers={"kid": "broker-key-2"})
    assert verifier.verify(token).subject == "alice"
    assert broker.hits["/.well-known/jwks.json"] == 2


def test_kid_spraying_refreshes_the_jwks_at_most_once_per_10_seconds(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, clock: FakeClock
) -> None:
    verifier.verify(broker.mint())
    for i in range(20):
        assert reason(verifier, broker.mint(headers={"kid": f"made-up-{i}"})) == "unknown_key"
    assert broker.hits["/.well-known/jwks.json"] == 2
    clock.advance(9)
    assert reason(verifier, broker.mint(headers={"kid": "made-up-x"})) == "unknown_key"
    assert broker.hits["/.well-known/jwks.json"] == 2
    clock.advance(1)
    assert reason(verifier, broker.mint(headers={"kid": "made-up-y"})) == "unknown_key"
    assert broker.hits["/.well-known/jwks.json"] == 3


def test_missing_kid_is_rejected(verifier: discretion_sdk.TokenVerifier, broker: FakeBroker) -> None:
    assert reason(verifier, broker.mint(headers={"kid": None})) == "unknown_key"


def test_jku_x5u_and_jwk_headers_are_ignored(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker
) -> None:
    attacker = Ed25519PrivateKey.generate()
    attacker_jwk = public_jwk(attacker.public_key(), "attacker")
    headers = {
        "jku": "https://attacker.test/jwks.json",
        "x5u": "https://attacker.test/cert.pem",
        "jwk": attacker_jwk,
        "x5c": ["MIIB..."],
    }
    # Under the attacker's own kid: unknown, whatever the headers offer.
    assert (
        reason(verifier, broker.mint(key=attacker, headers={**headers, "kid": "attacker"})) == "unknown_key"
    )
    # Under the broker's kid: the broker's key is used, and the signature does not match.
    assert reason(verifier, broker.mint(key=attacker, headers=headers)) == "bad_signature"
    assert {request.url.host for request in broker.requests} == {"broker.test"}


def test_a_signature_by_another_key_is_rejected(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker
) -> None:
    assert reason(verifier, broker.mint(key=Ed25519PrivateKey.generate())) == "bad_signature"


def test_a_tampered_payload_is_rejected(verifier: discretion_sdk.TokenVerifier, broker: FakeBroker) -> None:
    header, _, signature = broker.mint().split(".")
    payload = b64(json.dumps(broker.claims(scope="calendar:*")).encode())
    assert reason(verifier, f"{header}.{payload}.{signature}") == "bad_signature"


def test_a_private_key_published_in_the_jwks_is_not_trusted(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker
) -> None:
    private = broker.key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    broker.jwks_keys[0]["d"] = b64(private)
    assert reason(verifier, broker.mint()) == "unknown_key"


def test_an_unreachable_jwks_fails_closed(broker: FakeBroker, verifier: discretion_sdk.TokenVerifier) -> None:
    broker.jwks_error = 500
    with pytest.raises(discretion_sdk.VerifierUnavailable) as caught:
        verifier.verify(broker.mint())
    assert caught.value.reason == "jwks_unavailable"


def test_a_key_removed_from_the_jwks_stops_verifying_after_max_age(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, clock: FakeClock
) -> None:
    verifier.verify(broker.mint())
    broker.jwks_keys = [public_jwk(Ed25519PrivateKey.generate().public_key(), "broker-key-2")]
    clock.advance(299)
    verifier.verify(broker.mint())
    clock.advance(1)
    assert reason(verifier, broker.mint()) == "unknown_key"


def test_a_stale_jwks_is_kept_while_the_broker_is_unreachable(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, clock: FakeClock
) -> None:
    verifier.verify(broker.mint())
    broker.jwks_error = 503
    clock.advance(301)
    assert verifier.verify(broker.mint()).subject == "alice"


# -- time ----------------------------------------------------------------------------------------


def test_expired_token_is_rejected(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, clock: FakeClock
) -> None:
    token = broker.mint()
    clock.advance(300 + 30)
    assert reason(verifier, token) == "expired"


def test_expiry_is_checked_with_30_seconds_leeway(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, clock: FakeClock
) -> None:
    token = broker.mint()
    clock.advance(300 + 29)
    assert verifier.verify(token).subject == "alice"


def test_token_not_yet_valid_beyond_leeway_is_rejected(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, clock: FakeClock
) -> None:
    now = int(clock.now)
    assert reason(verifier, broker.mint(nbf=now + 31)) == "not_yet_valid"
    assert reason(verifier, broker.mint(iat=now + 31, nbf=None)) == "not_yet_valid"
    assert verifier.verify(broker.mint(nbf=now + 30, iat=now + 30)).subject == "alice"


@pytest.mark.parametrize("exp", [True, "1900000000", None, [1], {"n": 1}])
def test_a_non_numeric_exp_is_rejected(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, exp: Any
) -> None:
    expected = "missing_claim" if exp is None else "malformed"
    assert reason(verifier, broker.mint(exp=exp)) == expected


@pytest.mark.parametrize("constant", ["Infinity", "NaN", "1e400"])
def test_an_infinite_exp_is_rejected(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, constant: str
) -> None:
    claims = json.dumps(broker.claims(exp=0)).replace('"exp": 0', f'"exp": {constant}')
    signing_input = f"{b64(json.dumps({'alg': 'EdDSA', 'typ': 'at+jwt', 'kid': broker.kid}).encode())}"
    signing_input += f".{b64(claims.encode())}"
    token = f"{signing_input}.{b64(broker.key.sign(signing_input.encode()))}"
    assert reason(verifier, token) == "malformed"


# -- issuer, audience, claims ---------------------------------------------------------------------


def test_wrong_issuer_is_rejected(verifier: discretion_sdk.TokenVerifier, broker: FakeBroker) -> None:
    for iss in ("http://other.test", ISSUER + "/", ISSUER.upper(), ""):
        assert reason(verifier, broker.mint(iss=iss)) == "wrong_issuer"


def test_wrong_audience_is_rejected(verifier: discretion_sdk.TokenVerifier, broker: FakeBroker) -> None:
    for aud in ("https://other-holder.test/api", RESOURCE + "/", ["https://a.test"], [], 7):
        assert reason(verifier, broker.mint(aud=aud)) == "wrong_audience"


def test_an_audience_list_containing_ours_is_accepted(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker
) -> None:
    verified = verifier.verify(broker.mint(aud=["https://a.test", RESOURCE]))
    assert verified.audience == ("https://a.test", RESOURCE)


def test_a_verifier_may_accept_several_audiences(broker: FakeBroker, clock: FakeClock) -> None:
    verifier = discretion_sdk.TokenVerifier(
        issuer=ISSUER, audience=["https://a.test", RESOURCE], http_client=broker.client(), clock=clock
    )
    assert verifier.verify(broker.mint()).subject == "alice"


def test_an_empty_audience_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="audience"):
        discretion_sdk.TokenVerifier(issuer=ISSUER, audience=[])


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "client_id", "scope", "iat", "exp", "jti"])
def test_missing_claims_are_rejected(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, claim: str
) -> None:
    dropped: dict[str, Any] = {claim: None}
    token = broker.mint(**dropped)
    with pytest.raises(discretion_sdk.InvalidToken) as caught:
        verifier.verify(token)
    assert (caught.value.reason, caught.value.detail) == ("missing_claim", claim)


@pytest.mark.parametrize("claim", ["sub", "client_id", "scope", "jti"])
def test_empty_or_non_string_identity_claims_are_rejected(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, claim: str
) -> None:
    empty: dict[str, Any] = {claim: ""}
    number: dict[str, Any] = {claim: 12}
    assert reason(verifier, broker.mint(**empty)) == "malformed"
    assert reason(verifier, broker.mint(**number)) == "malformed"


def test_insufficient_scope_is_its_own_error(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker
) -> None:
    token = broker.mint(scope="calendar:read")
    with pytest.raises(discretion_sdk.InsufficientScope) as caught:
        verifier.verify(token, required_scopes=["calendar:read", "calendar:write"])
    assert caught.value.required == ("calendar:read", "calendar:write")
    assert caught.value.granted == ("calendar:read",)
    assert not isinstance(caught.value, discretion_sdk.InvalidToken)


def test_required_scopes_use_the_covering_rule(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker
) -> None:
    token = broker.mint(scope="calendar:* contacts:read")
    verifier.verify(token, required_scopes=["calendar:write", "contacts.email:read"])
    verifier.verify(token, required_scopes="calendar:read contacts.phone:read")
    with pytest.raises(discretion_sdk.InsufficientScope):
        verifier.verify(token, required_scopes=["contacts:*"])


def test_a_sender_constrained_token_is_refused_as_a_bearer_token(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker
) -> None:
    token = broker.mint(cnf={"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})
    assert reason(verifier, token) == "sender_constrained"
    # The switch that once accepted a bound token without its proof is gone (RFC 9449 section 7.1).
    with pytest.raises(TypeError):
        verifier.verify(token, allow_sender_constrained=True)  # type: ignore[call-arg]


@pytest.mark.parametrize("claim", [("reveal", "PERSON"), ("reveal", [1]), ("act", "x"), ("grant_id", 3)])
def test_optional_claims_of_the_wrong_type_are_rejected(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, claim: tuple[str, Any]
) -> None:
    assert reason(verifier, broker.mint(**dict([claim]))) == "malformed"


# -- malformed input -----------------------------------------------------------------------------


def _malformed_tokens(broker: FakeBroker) -> dict[str, str]:
    good = broker.mint()
    header, payload, signature = good.split(".")
    hdr = b64(json.dumps({"alg": "EdDSA", "typ": "at+jwt", "kid": broker.kid}).encode())

    def signed(payload_bytes: bytes) -> str:
        signing_input = f"{hdr}.{b64(payload_bytes)}"
        return f"{signing_input}.{b64(broker.key.sign(signing_input.encode()))}"

    last = signature[-1]
    other_last = {"A": "B", "Q": "R", "g": "h", "w": "x"}.get(last, "A")
    return {
        "empty": "",
        "two parts": f"{header}.{payload}",
        "four parts": f"{good}.x",
        "header not base64": f"!!.{payload}.{signature}",
        "header not JSON": f"{b64(b'nope')}.{payload}.{signature}",
        "header an array": f"{b64(b'[1]')}.{payload}.{signature}",
        "padded signature": f"{good}==",
        "junk in signature": f"{header}.{payload}.{signature[:10]}*{signature[10:]}",
        "non-canonical signature": f"{header}.{payload}.{signature[:-1]}{other_last}",
        "payload not JSON": signed(b"nope"),
        "payload an array": signed(b"[]"),
        "huge": "a" * 20000,
        "crit header": broker.mint(headers={"crit": ["exp"]}),
    }


@pytest.mark.parametrize(
    "case",
    [
        "empty",
        "two parts",
        "four parts",
        "header not base64",
        "header not JSON",
        "header an array",
        "padded signature",
        "junk in signature",
        "non-canonical signature",
        "payload not JSON",
        "payload an array",
        "huge",
        "crit header",
    ],
)
def test_malformed_tokens_are_rejected(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, case: str
) -> None:
    assert reason(verifier, _malformed_tokens(broker)[case]) == "malformed"


def test_the_verifier_never_fetches_anything_but_the_configured_jwks(
    broker: FakeBroker, verifier: discretion_sdk.TokenVerifier
) -> None:
    verifier.verify(broker.mint())
    assert [str(r.url) for r in broker.requests] == [f"{ISSUER}/.well-known/jwks.json"]


def test_verifier_repr_names_issuer_and_audience(verifier: discretion_sdk.TokenVerifier) -> None:
    assert (
        repr(verifier) == f"TokenVerifier(issuer={ISSUER!r}, audience=[{RESOURCE!r}], "
        "algorithms=['ES256', 'Ed25519', 'EdDSA', 'RS256'])"
    )


def test_own_http_client_is_closed(broker: FakeBroker) -> None:
    verifier = discretion_sdk.TokenVerifier(issuer=ISSUER, audience=RESOURCE)
    verifier.close()
    assert isinstance(verifier._http, httpx.Client)
    assert verifier._http.is_closed
