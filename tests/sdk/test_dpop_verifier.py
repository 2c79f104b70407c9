"""TokenVerifier with DPoP (RFC 9449): one test per check of section 4.3, each with its exact reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import discretion_sdk
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.sdk.fakes import (
    AGENT_ID,
    ISSUER,
    RESOURCE,
    FakeBroker,
    FakeClock,
    any_public_jwk,
    b64,
    make_proof,
    thumbprint,
)

URL = "https://holder.test/api/events"


@pytest.fixture
def dpop_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def token(broker: FakeBroker, dpop_key: Ed25519PrivateKey) -> str:
    """An access token bound to `dpop_key`."""
    return broker.mint(cnf={"jkt": thumbprint(any_public_jwk(dpop_key))})


def proof(key: Any, clock: FakeClock, token: str | None, **kwargs: Any) -> str:
    return make_proof(key, iat=clock.now, token=token, **kwargs)


def verify(
    verifier: Any, token: str, dpop_proof: Any, method: str = "GET", url: str = URL
) -> discretion_sdk.VerifiedToken:
    result: discretion_sdk.VerifiedToken = verifier.verify(
        token, dpop_proof=dpop_proof, http_method=method, http_url=url
    )
    return result


def dpop_reason(verifier: Any, token: str, dpop_proof: Any, method: str = "GET", url: str = URL) -> str:
    with pytest.raises(discretion_sdk.InvalidDPoPProof) as caught:
        verify(verifier, token, dpop_proof, method, url)
    assert not isinstance(caught.value, discretion_sdk.InvalidToken)
    return caught.value.reason


def token_reason(verifier: Any, token: str, **kwargs: Any) -> str:
    with pytest.raises(discretion_sdk.InvalidToken) as caught:
        verifier.verify(token, **kwargs)
    return caught.value.reason


# -- the good case -------------------------------------------------------------------------------


def test_a_bound_token_with_a_good_proof_is_accepted(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock
) -> None:
    verified = verify(verifier, token, proof(dpop_key, clock, token))
    assert verified.subject == "alice"
    assert verified.dpop_jkt == thumbprint(any_public_jwk(dpop_key))
    assert verified.cnf == {"jkt": verified.dpop_jkt}


def test_the_list_of_header_values_with_one_proof_is_accepted(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock
) -> None:
    assert verify(verifier, token, [proof(dpop_key, clock, token)]).subject == "alice"


@pytest.mark.parametrize(
    ("make_key", "alg"),
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "PS256"),
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
    ],
)
def test_other_asymmetric_algorithms_are_accepted_when_configured(
    broker: FakeBroker, clock: FakeClock, make_key: Any, alg: str
) -> None:
    verifier = discretion_sdk.TokenVerifier(
        issuer=ISSUER,
        audience=RESOURCE,
        http_client=broker.client(),
        clock=clock,
        dpop_algorithms=["EdDSA", "ES256", "PS256", "RS256"],
    )
    key = make_key()
    token = broker.mint(cnf={"jkt": thumbprint(any_public_jwk(key))})
    assert verify(verifier, token, proof(key, clock, token, alg=alg)).subject == "alice"


def test_a_proof_made_by_the_broker_client_is_accepted(
    verifier: discretion_sdk.TokenVerifier,
    broker: FakeBroker,
    agent_key: Any,
    client: discretion_sdk.BrokerClient,
) -> None:
    token = broker.mint(cnf={"jkt": client.dpop_jkt})
    headers = client.authorization_headers(token, "GET", URL + "?page=2")
    assert headers["Authorization"] == f"DPoP {token}"
    assert verify(verifier, token, headers["DPoP"]).subject == "alice"


# -- RFC 9449 section 4.3, in its order --------------------------------------------------------


def test_4_3_step1_more_than_one_dpop_header_is_refused(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock
) -> None:
    first, second = proof(dpop_key, clock, token), proof(dpop_key, clock, token)
    assert dpop_reason(verifier, token, [first, second]) == "multiple_proofs"
    # Several header fields folded into one, as proxies may do (RFC 9110 section 5.3).
    assert dpop_reason(verifier, token, f"{first}, {second}") == "multiple_proofs"


def test_4_3_step1_no_dpop_header_is_refused(verifier: discretion_sdk.TokenVerifier, token: str) -> None:
    assert dpop_reason(verifier, token, []) == "missing"


def _malformed(key: Any, clock: FakeClock, token: str) -> dict[str, str]:
    good = proof(key, clock, token)
    header, payload, signature = good.split(".")
    other_last = {"A": "B", "Q": "R", "g": "h", "w": "x"}.get(signature[-1], "A")

    def signed_payload(raw: bytes) -> str:
        signing_input = f"{header}.{b64(raw)}"
        return f"{signing_input}.{b64(key.sign(signing_input.encode()))}"

    return {
        "empty": "",
        "two parts": f"{header}.{payload}",
        "four parts": f"{good}.x",
        "header not base64": f"!!.{payload}.{signature}",
        "header not JSON": f"{b64(b'nope')}.{payload}.{signature}",
        "header an array": f"{b64(b'[1]')}.{payload}.{signature}",
        "crit header": proof(key, clock, token, header={"crit": ["htu"]}),
        "signature not base64": f"{header}.{payload}.{signature[:5]}*{signature[5:]}",
        "non-canonical signature": f"{header}.{payload}.{signature[:-1]}{other_last}",
        "payload not JSON": signed_payload(b"nope"),
        "payload an array": signed_payload(b"[]"),
        "huge": "a" * 9000,
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
        "crit header",
        "signature not base64",
        "non-canonical signature",
        "payload not JSON",
        "payload an array",
        "huge",
    ],
)
def test_4_3_step2_a_proof_that_is_not_a_well_formed_jwt_is_refused(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock, case: str
) -> None:
    assert dpop_reason(verifier, token, _malformed(dpop_key, clock, token)[case]) == "malformed"


@pytest.mark.parametrize("claim", ["jti", "htm", "htu", "iat", "ath"])
def test_4_3_step3_each_required_claim_must_be_present(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock, claim: str
) -> None:
    bad = proof(dpop_key, clock, token, claims={claim: None})
    with pytest.raises(discretion_sdk.InvalidDPoPProof) as caught:
        verify(verifier, token, bad)
    assert (caught.value.reason, caught.value.detail) == ("missing_claim", claim)


@pytest.mark.parametrize(
    "claims", [{"jti": 7}, {"jti": ""}, {"jti": "x" * 257}, {"htm": 1}, {"htu": ["x"]}, {"iat": "now"}]
)
def test_4_3_step3_claims_of_the_wrong_type_are_refused(
    verifier: discretion_sdk.TokenVerifier,
    token: str,
    dpop_key: Any,
    clock: FakeClock,
    claims: dict[str, Any],
) -> None:
    assert dpop_reason(verifier, token, proof(dpop_key, clock, token, claims=claims)) == "malformed"


@pytest.mark.parametrize("typ", ["JWT", "at+jwt", "client-authentication+jwt", "dpop", "dpop+jwt2", None])
def test_4_3_step4_typ_must_be_dpop_jwt(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock, typ: str | None
) -> None:
    assert dpop_reason(verifier, token, proof(dpop_key, clock, token, header={"typ": typ})) == "wrong_type"


@pytest.mark.parametrize("typ", ["DPoP+JWT", "application/dpop+jwt"])
def test_4_3_step4_typ_is_a_case_insensitive_media_type(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock, typ: str
) -> None:
    assert verify(verifier, token, proof(dpop_key, clock, token, header={"typ": typ})).subject == "alice"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_4_3_step5_alg_none_is_refused(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock, alg: str
) -> None:
    bad = proof(dpop_key, clock, token, alg="none", header={"alg": alg})
    assert dpop_reason(verifier, token, bad) == "bad_algorithm"


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_4_3_step5_a_symmetric_algorithm_is_refused(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock, alg: str
) -> None:
    # The proof's own public key as an HMAC secret: a proof anyone could make.
    secret = json.dumps(any_public_jwk(dpop_key)).encode()
    bad = proof(dpop_key, clock, token, alg=alg, sign_with=secret)
    assert dpop_reason(verifier, token, bad) == "bad_algorithm"


def test_4_3_step5_an_algorithm_the_holder_did_not_configure_is_refused(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, clock: FakeClock
) -> None:
    # The default is EdDSA and ES256; an RSA proof is refused before its key is even imported.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = broker.mint(cnf={"jkt": thumbprint(any_public_jwk(key))})
    assert dpop_reason(verifier, token, proof(key, clock, token, alg="PS256")) == "bad_algorithm"


def test_4_3_step5_an_algorithm_that_does_not_fit_the_key_is_refused(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock
) -> None:
    # ES256 named over an Ed25519 jwk: the key's type decides, the header cannot switch it.
    ec_key = ec.generate_private_key(ec.SECP256R1())
    bad = proof(dpop_key, clock, token, alg="ES256", sign_with=ec_key)
    assert dpop_reason(verifier, token, bad) == "bad_key"


def test_4_3_step6_a_signature_by_another_key_is_refused(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock
) -> None:
    bad = proof(dpop_key, clock, token, sign_with=Ed25519PrivateKey.generate())
    assert dpop_reason(verifier, token, bad) == "bad_signature"


def test_4_3_step6_a_tampered_payload_is_refused(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock
) -> None:
    header, _, signature = proof(dpop_key, clock, token).split(".")
    payload = json.dumps({"jti": "j", "htm": "DELETE", "htu": URL, "iat": int(clock.now)}).encode()
    assert dpop_reason(verifier, token, f"{header}.{b64(payload)}.{signature}") == "bad_signature"


def _private_members(key: Any) -> dict[str, str]:
    if isinstance(key, Ed25519PrivateKey):
        raw = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return {"d": b64(raw)}
    return {"d": b64(key.private_numbers().private_value.to_bytes(32, "big"))}


@pytest.mark.parametrize("kind", ["OKP", "EC"])
def test_4_3_step7_a_jwk_holding_a_private_key_is_refused(
    broker: FakeBroker, verifier: discretion_sdk.TokenVerifier, clock: FakeClock, kind: str
) -> None:
    key: Any = Ed25519PrivateKey.generate() if kind == "OKP" else ec.generate_private_key(ec.SECP256R1())
    jwk = {**any_public_jwk(key), **_private_members(key)}
    token = broker.mint(cnf={"jkt": thumbprint(jwk)})
    assert dpop_reason(verifier, token, proof(key, clock, token, header={"jwk": jwk})) == "private_key"


@pytest.mark.parametrize("jwk", [None, "a-string", {"kty": "OKP", "crv": "Ed448", "x": "AA"}, {"kty": "OKP"}])
def test_4_3_step7_a_proof_without_a_usable_public_jwk_is_refused(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock, jwk: Any
) -> None:
    assert dpop_reason(verifier, token, proof(dpop_key, clock, token, header={"jwk": jwk})) == "bad_key"


@pytest.mark.parametrize(("htm", "method"), [("POST", "GET"), ("get", "GET"), ("GET", "HEAD")])
def test_4_3_step8_htm_must_be_the_request_method(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock, htm: str, method: str
) -> None:
    bad = proof(dpop_key, clock, token, htm=htm)
    assert dpop_reason(verifier, token, bad, method=method) == "wrong_method"


@pytest.mark.parametrize(
    "htu",
    [
        "https://other.test/api/events",
        "https://holder.test/api/other",
        "https://holder.test/api/events/",
        "https://holder.test/api",
        "http://holder.test/api/events",
        "https://holder.test:8443/api/events",
        "https://holder.test.evil/api/events",
        "/api/events",
        "not a url",
        "ftp://holder.test/api/events",
    ],
)
def test_4_3_step9_htu_must_be_the_request_url(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock, htu: str
) -> None:
    assert dpop_reason(verifier, token, proof(dpop_key, clock, token, htu=htu)) == "wrong_url"


@pytest.mark.parametrize(
    "htu",
    [
        "https://holder.test/api/events?page=2",
        "https://holder.test/api/events#top",
        "HTTPS://Holder.Test/api/events",
        "https://holder.test:443/api/events",
        "https://holder.test/api/./x/../events",
        "https://holder.test/%61pi/events",
    ],
)
def test_4_3_step9_htu_is_compared_after_normalization(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock, htu: str
) -> None:
    good = proof(dpop_key, clock, token, htu=htu)
    assert verify(verifier, token, good, url=URL + "?page=3").subject == "alice"


@pytest.fixture
def nonces(clock: FakeClock) -> discretion_sdk.DPoPNonces:
    return discretion_sdk.DPoPNonces(secret=b"0123456789abcdef", interval=60, clock=clock)


@pytest.fixture
def nonce_verifier(
    broker: FakeBroker, clock: FakeClock, nonces: discretion_sdk.DPoPNonces
) -> Iterator[discretion_sdk.TokenVerifier]:
    with discretion_sdk.TokenVerifier(
        issuer=ISSUER, audience=RESOURCE, http_client=broker.client(), clock=clock, dpop_nonce=nonces
    ) as verifier:
        yield verifier


@pytest.mark.parametrize("nonce", [None, "", "made-up", 42])
def test_4_3_step10_a_missing_or_unknown_nonce_is_use_dpop_nonce(
    nonce_verifier: discretion_sdk.TokenVerifier,
    nonces: discretion_sdk.DPoPNonces,
    token: str,
    dpop_key: Any,
    clock: FakeClock,
    nonce: Any,
) -> None:
    with pytest.raises(discretion_sdk.UseDPoPNonce) as caught:
        verify(nonce_verifier, token, proof(dpop_key, clock, token, claims={"nonce": nonce}))
    assert caught.value.reason == "use_dpop_nonce"
    assert caught.value.nonce == nonces.current()
    assert isinstance(caught.value, discretion_sdk.InvalidDPoPProof)


def test_4_3_step10_a_stale_nonce_is_use_dpop_nonce(
    nonce_verifier: discretion_sdk.TokenVerifier,
    nonces: discretion_sdk.DPoPNonces,
    token: str,
    dpop_key: Any,
    clock: FakeClock,
) -> None:
    old = nonces.current()
    clock.advance(120)
    assert dpop_reason(nonce_verifier, token, proof(dpop_key, clock, token, claims={"nonce": old})) == (
        "use_dpop_nonce"
    )


def test_4_3_step10_the_current_or_previous_nonce_is_accepted(
    nonce_verifier: discretion_sdk.TokenVerifier,
    nonces: discretion_sdk.DPoPNonces,
    token: str,
    dpop_key: Any,
    clock: FakeClock,
) -> None:
    nonce = nonces.current()
    assert verify(nonce_verifier, token, proof(dpop_key, clock, token, claims={"nonce": nonce}))
    clock.advance(60)  # the next window: the previous nonce still passes
    assert verify(nonce_verifier, token, proof(dpop_key, clock, token, claims={"nonce": nonce}))


def test_4_3_step10_without_a_nonce_source_nonces_are_not_required(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock
) -> None:
    assert verify(verifier, token, proof(dpop_key, clock, token, claims={"nonce": "anything"}))


@pytest.mark.parametrize("age", [91, 3600, -31, -3600])
def test_4_3_step11_iat_outside_the_window_is_refused(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock, age: float
) -> None:
    # Default window: 60 s, plus the verifier's 30 s leeway either side.
    bad = make_proof(dpop_key, iat=clock.now - age, token=token)
    assert dpop_reason(verifier, token, bad) == "iat_out_of_window"


@pytest.mark.parametrize("age", [90, 0, -30])
def test_4_3_step11_iat_inside_the_window_is_accepted(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock, age: float
) -> None:
    assert verify(verifier, token, make_proof(dpop_key, iat=clock.now - age, token=token))


def test_4_3_step11_the_window_is_configurable(broker: FakeBroker, clock: FakeClock, dpop_key: Any) -> None:
    verifier = discretion_sdk.TokenVerifier(
        issuer=ISSUER, audience=RESOURCE, http_client=broker.client(), clock=clock, leeway=0, dpop_max_age=5
    )
    token = broker.mint(cnf={"jkt": thumbprint(any_public_jwk(dpop_key))})
    assert verify(verifier, token, make_proof(dpop_key, iat=clock.now - 5, token=token))
    assert dpop_reason(verifier, token, make_proof(dpop_key, iat=clock.now - 6, token=token)) == (
        "iat_out_of_window"
    )


def test_4_3_step12_ath_must_hash_this_access_token(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, token: str, dpop_key: Any, clock: FakeClock
) -> None:
    # A proof captured with another token of the same key is no good for this one.
    other = broker.mint(cnf={"jkt": thumbprint(any_public_jwk(dpop_key))})
    assert dpop_reason(verifier, token, proof(dpop_key, clock, other)) == "bad_ath"
    assert dpop_reason(verifier, token, proof(dpop_key, clock, token, claims={"ath": b64(b"x" * 32)})) == (
        "bad_ath"
    )


def test_4_3_step13_the_proof_key_must_be_the_one_the_token_is_bound_to(
    verifier: discretion_sdk.TokenVerifier, token: str, clock: FakeClock
) -> None:
    # A thief with the token and a key of their own: a perfect proof, of the wrong key.
    thief = Ed25519PrivateKey.generate()
    assert dpop_reason(verifier, token, proof(thief, clock, token)) == "jkt_mismatch"


def test_11_1_a_replayed_proof_is_refused(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock
) -> None:
    good = proof(dpop_key, clock, token)
    assert verify(verifier, token, good)
    clock.advance(5)
    assert dpop_reason(verifier, token, good) == "replayed"


def test_11_1_a_jti_is_single_use_even_in_another_proof(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock
) -> None:
    assert verify(verifier, token, proof(dpop_key, clock, token, claims={"jti": "once"}))
    again = proof(dpop_key, clock, token, htm="POST", claims={"jti": "once"})
    assert dpop_reason(verifier, token, again, method="POST") == "replayed"


def test_11_1_the_replay_cache_forgets_proofs_once_they_are_too_old(
    broker: FakeBroker, clock: FakeClock, token: str, dpop_key: Any
) -> None:
    verifier = discretion_sdk.TokenVerifier(
        issuer=ISSUER, audience=RESOURCE, http_client=broker.client(), clock=clock, dpop_replay_cache_size=1
    )
    good = proof(dpop_key, clock, token)
    assert verify(verifier, token, good)
    clock.advance(90)
    # Still inside the window: still remembered, and the cache is full.
    assert dpop_reason(verifier, token, good) == "replayed"
    with pytest.raises(discretion_sdk.VerifierUnavailable) as caught:
        verify(verifier, token, proof(dpop_key, clock, token))
    assert caught.value.reason == "dpop_replay_cache_full"
    clock.advance(1)
    # Past the window: the old proof fails on its iat, and its jti has made room for a new one.
    assert dpop_reason(verifier, token, good) == "iat_out_of_window"
    assert verify(verifier, token, proof(dpop_key, clock, token))


def test_11_1_refused_proofs_are_not_remembered(
    broker: FakeBroker, clock: FakeClock, token: str, dpop_key: Any
) -> None:
    verifier = discretion_sdk.TokenVerifier(
        issuer=ISSUER, audience=RESOURCE, http_client=broker.client(), clock=clock, dpop_replay_cache_size=1
    )
    thief = Ed25519PrivateKey.generate()
    for _ in range(3):
        assert dpop_reason(verifier, token, proof(thief, clock, token)) == "jkt_mismatch"
    assert verify(verifier, token, proof(dpop_key, clock, token))


# -- bound and unbound tokens --------------------------------------------------------------------


def test_a_bound_token_presented_without_a_proof_is_refused(
    verifier: discretion_sdk.TokenVerifier, token: str
) -> None:
    assert token_reason(verifier, token) == "sender_constrained"


def test_a_proof_with_a_token_bound_to_no_key_is_refused(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, dpop_key: Any, clock: FakeClock
) -> None:
    bearer = broker.mint()
    kwargs = {"dpop_proof": proof(dpop_key, clock, bearer), "http_method": "GET", "http_url": URL}
    assert token_reason(verifier, bearer, **kwargs) == "not_sender_constrained"
    assert verifier.verify(bearer).cnf is None


@pytest.mark.parametrize("cnf", [{"x5t#S256": "abc"}, {"jkt": ""}, {"jkt": 5}])
def test_a_confirmation_other_than_jkt_is_refused(
    verifier: discretion_sdk.TokenVerifier,
    broker: FakeBroker,
    dpop_key: Any,
    clock: FakeClock,
    cnf: dict[str, Any],
) -> None:
    token = broker.mint(cnf=cnf)
    kwargs = {"dpop_proof": proof(dpop_key, clock, token), "http_method": "GET", "http_url": URL}
    assert token_reason(verifier, token, **kwargs) == "sender_constrained"


def test_the_token_itself_is_checked_before_the_proof(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock
) -> None:
    clock.advance(400)
    kwargs = {"dpop_proof": proof(dpop_key, clock, token), "http_method": "GET", "http_url": URL}
    assert token_reason(verifier, token, **kwargs) == "expired"


def test_required_scopes_still_apply_to_dpop_tokens(
    verifier: discretion_sdk.TokenVerifier, token: str, dpop_key: Any, clock: FakeClock
) -> None:
    with pytest.raises(discretion_sdk.InsufficientScope):
        verifier.verify(
            token,
            required_scopes=["calendar:write"],
            dpop_proof=proof(dpop_key, clock, token),
            http_method="GET",
            http_url=URL,
        )


@pytest.mark.parametrize(("method", "url"), [(None, URL), ("GET", None), ("", URL)])
def test_a_proof_without_the_request_is_a_programming_error(
    verifier: discretion_sdk.TokenVerifier, token: str, method: str | None, url: str | None
) -> None:
    with pytest.raises(ValueError, match="http_method and http_url"):
        verifier.verify(token, dpop_proof="x.y.z", http_method=method, http_url=url)


@pytest.mark.parametrize("algorithms", [["HS256"], ["none"], [], ["EdDSA", "HS256"]])
def test_dpop_algorithms_must_be_asymmetric(algorithms: list[str]) -> None:
    with pytest.raises(ValueError, match="dpop_algorithms"):
        discretion_sdk.TokenVerifier(issuer=ISSUER, audience=RESOURCE, dpop_algorithms=algorithms)


def test_the_default_dpop_algorithms_are_eddsa_under_both_names_and_es256(
    verifier: discretion_sdk.TokenVerifier,
) -> None:
    assert verifier.dpop_algorithms == ("EdDSA", "Ed25519", "ES256")


def test_delegated_tokens_expose_their_actor_chain(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, token: str
) -> None:
    act = {"sub": "agent-c", "act": {"sub": "agent-b", "act": {"sub": AGENT_ID}}}
    assert verifier.verify(broker.mint(act=act)).actors == ("agent-c", "agent-b", AGENT_ID)
    assert verifier.verify(broker.mint()).actors == ()


@pytest.mark.parametrize("act", [{"sub": 3}, {"act": {"sub": "a"}}, {"sub": "b", "act": "a"}, {"sub": ""}])
def test_a_malformed_actor_chain_is_refused(
    verifier: discretion_sdk.TokenVerifier, broker: FakeBroker, act: Any
) -> None:
    assert token_reason(verifier, broker.mint(act=act)) == "malformed"


@pytest.mark.anyio
async def test_the_async_verifier_checks_proofs_too(
    broker: FakeBroker, clock: FakeClock, token: str, dpop_key: Any
) -> None:
    verifier = discretion_sdk.AsyncTokenVerifier(
        issuer=ISSUER, audience=RESOURCE, http_client=broker.async_client(), clock=clock
    )
    good = proof(dpop_key, clock, token)
    verified = await verifier.verify(token, dpop_proof=good, http_method="GET", http_url=URL)
    assert verified.subject == "alice"
    with pytest.raises(discretion_sdk.InvalidDPoPProof, match="replayed"):
        await verifier.verify(token, dpop_proof=good, http_method="GET", http_url=URL)
    with pytest.raises(discretion_sdk.InvalidToken, match="sender_constrained"):
        await verifier.verify(token)
    await verifier.aclose()


# -- helpers: nonces (thumbprints and URL normalization are tested in tests/wire) ---------------


def test_nonces_rotate_and_processes_sharing_a_secret_agree(clock: FakeClock) -> None:
    one = discretion_sdk.DPoPNonces(secret=b"s" * 32, interval=60, clock=clock)
    two = discretion_sdk.DPoPNonces(secret=b"s" * 32, interval=60, clock=clock)
    other = discretion_sdk.DPoPNonces(secret=b"t" * 32, interval=60, clock=clock)
    nonce = one.current()
    assert two.is_valid(nonce)
    assert not other.is_valid(nonce)
    clock.advance(60)
    assert one.current() != nonce
    assert one.is_valid(nonce)
    clock.advance(60)
    assert not one.is_valid(nonce)
    assert b"s" * 32 not in repr(one).encode()
    # The nonce is a MAC of the window, not something guessable from the time alone.
    window = int(clock.now // 60)
    assert one.current() == b64(hmac.new(b"s" * 32, window.to_bytes(8, "big"), hashlib.sha256).digest()[:24])


def test_nonces_refuse_a_short_secret() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        discretion_sdk.DPoPNonces(secret=b"short")


def test_4_3_step7_a_small_order_proof_key_is_refused(
    broker: FakeBroker, verifier: discretion_sdk.TokenVerifier, dpop_key: Any, clock: FakeClock
) -> None:
    # The identity point "signs" everything (R = identity, S = 0 passes OpenSSL's check), so a
    # proof under it proves nothing about who holds the token.
    identity = b"\x01" + bytes(31)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64(identity)}
    token = broker.mint(cnf={"jkt": thumbprint(jwk)})
    header, claims, _ = proof(dpop_key, clock, token, header={"jwk": jwk}).split(".")
    forged = f"{header}.{claims}.{_b64(identity + bytes(32))}"
    assert dpop_reason(verifier, token, forged) == "bad_key"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
