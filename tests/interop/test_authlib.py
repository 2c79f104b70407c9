"""authlib (with joserfc), the reference Python OAuth client, against a real broker over HTTP:
discovery, private_key_jwt under every algorithm name, client credentials with subject, resource
and scope, DPoP, token exchange both ways, introspection, revocation, error codes as authlib
surfaces them, and authlib's own RFC 9068 access-token validator."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc6750.errors import InvalidTokenError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from joserfc import jws
from joserfc.jwk import ECKey, KeySet, OKPKey

from tests.interop.conftest import ACCESS_TOKEN, CALENDAR, EXCHANGE, SIGNING_ALGS, InteropBroker, public_of

# joserfc warns that EdDSA is deprecated by RFC 9864 (use "Ed25519"), which the broker accepts too;
# the EdDSA cases are here because clients still send it.
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning"),
]


class BrokerPrivateKeyJWT(PrivateKeyJWT):
    """authlib's private_key_jwt as the broker needs it: the key's `kid` in the header, a lifetime
    under the broker's cap (300 s by default; authlib signs for 3600 s) and a fresh `jti` for each
    request (authlib keeps a `claims` dict it was given, jti included, across requests)."""

    def __init__(self, token_endpoint: str, *, kid: str, alg: str, lifetime: int = 60) -> None:
        super().__init__(token_endpoint, alg=alg)
        self.kid = kid
        self.lifetime = lifetime

    def sign(self, auth: Any, token_endpoint: str) -> str:
        """A new assertion for each request."""
        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            claims={"jti": secrets.token_urlsafe(16)},
            header={"kid": self.kid},
            alg=self.alg,
            expires_in=self.lifetime,
        )


def _key(jwk: dict[str, str]) -> OKPKey | ECKey:
    return OKPKey.import_key(jwk) if jwk["kty"] == "OKP" else ECKey.import_key(jwk)


def client_for(broker: InteropBroker, client_id: str) -> OAuth2Client:
    """An authlib client authenticating with private_key_jwt as `client_id`."""
    jwk = broker.keys[client_id]
    auth = BrokerPrivateKeyJWT(broker.token_endpoint, kid=jwk["kid"], alg=jwk["alg"])
    # authlib revokes with client_secret_basic unless told otherwise.
    client = OAuth2Client(
        client_id, _key(jwk), token_endpoint_auth_method=auth, revocation_endpoint_auth_method=auth
    )
    client.register_client_auth_method(auth)
    return client


def client_credentials(broker: InteropBroker, client_id: str, **params: str) -> dict[str, Any]:
    """A token for alice's calendar, asked for by `client_id`."""
    form = {
        "grant_type": "client_credentials",
        "subject": "alice",
        "resource": CALENDAR,
        "scope": "calendar:read",
    }
    with client_for(broker, client_id) as client:
        return dict(client.fetch_token(broker.token_endpoint, **{**form, **params}))


def _error(call: Any) -> str:
    with pytest.raises(OAuthError) as refused:
        call()
    return str(refused.value.error)


def test_discovery_validates_as_rfc_8414_metadata(broker: InteropBroker) -> None:
    document = httpx.get(f"{broker.issuer}/.well-known/oauth-authorization-server").json()
    metadata = AuthorizationServerMetadata(document)
    # No authorization endpoint, so no response types: RFC 8414's required member is an empty
    # array, which authlib's check (written for servers with one) reads as missing.
    assert document["response_types_supported"] == []
    checks = [name for name in dir(metadata) if name.startswith("validate_")]
    assert len(checks) > 20
    for name in checks:
        if name != "validate_response_types_supported":
            getattr(metadata, name)()
    assert document["issuer"] == broker.issuer
    assert "private_key_jwt" in document["token_endpoint_auth_methods_supported"]
    assert {"EdDSA", "Ed25519", "ES256"} <= set(document["token_endpoint_auth_signing_alg_values_supported"])
    assert {"EdDSA", "Ed25519", "ES256"} <= set(document["dpop_signing_alg_values_supported"])


@pytest.mark.parametrize("client_id", ["py-eddsa", "py-ed25519", "py-es256"])
def test_private_key_jwt_client_credentials_under_each_algorithm(
    broker: InteropBroker, client_id: str
) -> None:
    for _ in range(2):  # a second request needs a fresh jti
        token = client_credentials(broker, client_id)
        assert token["token_type"] == "Bearer"
        assert token["scope"] == "calendar:read"
    header = jws.extract_compact(token["access_token"].encode()).protected
    assert header["typ"] == "at+jwt"


def test_authlibs_stock_private_key_jwt_is_refused_for_its_hour_long_assertion(broker: InteropBroker) -> None:
    # Without the changes of BrokerPrivateKeyJWT: authlib signs for an hour, over the broker's cap.
    jwk = broker.keys["py-eddsa"]
    auth = PrivateKeyJWT(broker.token_endpoint, headers={"kid": jwk["kid"]}, alg="EdDSA")
    with OAuth2Client("py-eddsa", _key(jwk), token_endpoint_auth_method=auth) as client:
        client.register_client_auth_method(auth)
        error = _error(
            lambda: client.fetch_token(
                broker.token_endpoint,
                grant_type="client_credentials",
                subject="alice",
                resource=CALENDAR,
                scope="calendar:read",
            )
        )
    assert error == "invalid_client"


def dpop_proof(jwk: dict[str, str], url: str, *, access_token: str | None = None) -> str:
    """A DPoP proof built with joserfc (RFC 9449 section 4.2)."""
    import base64
    import hashlib
    import json

    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16),
        "htm": "POST",
        "htu": url,
        "iat": int(time.time()),
    }
    if access_token is not None:
        digest = hashlib.sha256(access_token.encode()).digest()
        claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    header = {
        "typ": "dpop+jwt",
        "alg": jwk["alg"],
        "jwk": {k: v for k, v in public_of(jwk).items() if k != "kid"},
    }
    payload = json.dumps(claims).encode()
    return jws.serialize_compact(header, payload, _key(jwk), algorithms=[jwk["alg"]])


@pytest.mark.parametrize("client_id", ["py-ed25519", "py-es256"])
def test_dpop_binds_the_token(broker: InteropBroker, client_id: str) -> None:
    proof = dpop_proof(broker.keys[client_id], broker.token_endpoint)
    with client_for(broker, client_id) as client:
        token = client.fetch_token(
            broker.token_endpoint,
            grant_type="client_credentials",
            headers={"DPoP": proof},
            subject="alice",
            resource=CALENDAR,
            scope="calendar:read",
        )
    assert token["token_type"] == "DPoP"
    claims = jws.extract_compact(token["access_token"].encode()).payload
    assert b'"cnf"' in claims


def test_token_exchange_with_requested_actor(broker: InteropBroker) -> None:
    root = client_credentials(broker, "py-ed25519", scope="calendar:read calendar:write")["access_token"]
    with client_for(broker, "py-ed25519") as client:
        token = client.fetch_token(
            broker.token_endpoint,
            grant_type=EXCHANGE,
            subject_token=root,
            subject_token_type=ACCESS_TOKEN,
            requested_actor="delegate",
            scope="calendar:read",
        )
    assert token["issued_token_type"] == ACCESS_TOKEN
    assert token["token_type"] == "DPoP"  # bound to the delegate's key


def test_token_exchange_with_actor_token(broker: InteropBroker) -> None:
    handed = client_credentials(broker, "py-ed25519", scope="calendar:read calendar:write")["access_token"]
    with client_for(broker, "delegate") as delegate:
        own = delegate.fetch_token(
            broker.token_endpoint,
            grant_type="client_credentials",
            subject="alice",
            resource=CALENDAR,
            scope="calendar:read",
        )["access_token"]
        token = delegate.fetch_token(
            broker.token_endpoint,
            grant_type=EXCHANGE,
            subject_token=handed,
            subject_token_type=ACCESS_TOKEN,
            actor_token=own,
            actor_token_type=ACCESS_TOKEN,
            audience=CALENDAR,
            scope="calendar:read",
        )
    assert token["issued_token_type"] == ACCESS_TOKEN


def test_introspection_and_revocation(broker: InteropBroker) -> None:
    token = client_credentials(broker, "py-es256")["access_token"]
    introspect = f"{broker.issuer}/oauth2/introspect"
    with client_for(broker, "calendar-holder") as holder:
        active = holder.introspect_token(introspect, token=token).json()
        assert active["active"] is True
        assert active["client_id"] == "py-es256"
        assert holder.revoke_token(f"{broker.issuer}/oauth2/revoke", token=token).status_code == 200
        assert holder.introspect_token(introspect, token=token).json() == {"active": False}


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"scope": "calendar:read nonsense::"}, "invalid_scope"),
        ({"resource": "https://nowhere.example/api"}, "invalid_target"),
        ({"subject": "nobody"}, "access_denied"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
    ],
)
def test_error_codes_as_authlib_surfaces_them(
    broker: InteropBroker, params: dict[str, str], error: str
) -> None:
    assert _error(lambda: client_credentials(broker, "py-eddsa", **params)) == error


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"requested_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request"),
        ({"actor_token": "x"}, "invalid_request"),  # without actor_token_type
        ({"audience": "https://elsewhere.example"}, "invalid_target"),
        ({"subject_token": "not-a-token"}, "invalid_request"),  # RFC 8693 section 2.2.2
    ],
)
def test_token_exchange_error_codes(broker: InteropBroker, params: dict[str, str], error: str) -> None:
    root = client_credentials(broker, "py-eddsa", scope="calendar:read calendar:write")["access_token"]
    form = {
        "subject_token": root,
        "subject_token_type": ACCESS_TOKEN,
        "requested_actor": "delegate",
        **params,
    }
    if "actor_token" in params:
        form.pop("requested_actor")
    with client_for(broker, "py-eddsa") as client:
        assert _error(lambda: client.fetch_token(broker.token_endpoint, grant_type=EXCHANGE, **form)) == error


def test_a_wrong_key_is_invalid_client(broker: InteropBroker) -> None:
    jwk = {**broker.keys["py-eddsa"]}
    stranger = OKPKey.generate_key("Ed25519")
    auth = BrokerPrivateKeyJWT(broker.token_endpoint, kid=jwk["kid"], alg="EdDSA")
    with OAuth2Client("py-eddsa", stranger, token_endpoint_auth_method=auth) as client:
        client.register_client_auth_method(auth)
        form = {"subject": "alice", "resource": CALENDAR, "scope": "calendar:read"}
        fetch = lambda: client.fetch_token(broker.token_endpoint, grant_type="client_credentials", **form)  # noqa: E731
        assert _error(fetch) == "invalid_client"


class BrokerTokenValidator(JWTBearerTokenValidator):
    """authlib's RFC 9068 validator with the broker's published keys."""

    def __init__(self, broker: InteropBroker) -> None:
        super().__init__(issuer=broker.issuer, resource_server=CALENDAR)
        self._jwks = httpx.get(f"{broker.issuer}/.well-known/jwks.json").json()

    def get_jwks(self) -> KeySet:
        """The broker's JWKS."""
        return KeySet.import_key_set(self._jwks)


@pytest.mark.parametrize("signing_alg", ["ES256", "RS256"])
def test_authlibs_rfc_9068_validator_accepts_the_tokens(
    brokers: dict[str, InteropBroker], signing_alg: str
) -> None:
    broker = brokers[signing_alg]
    token = client_credentials(broker, "py-eddsa")["access_token"]
    validator = BrokerTokenValidator(broker)
    claims = validator.authenticate_token(token)
    assert claims.header["alg"] == signing_alg
    validator.validate_token(claims, ["calendar:read"], request=None)
    assert claims["sub"] == "alice"
    assert claims["client_id"] == "py-eddsa"


def test_authlibs_validator_refuses_eddsa_tokens_by_default(brokers: dict[str, InteropBroker]) -> None:
    # joserfc's default algorithms are HS256, RS256 and ES256: a holder on authlib's stock
    # validator needs a broker signing with RS256 (RFC 9068 section 2.1) or ES256.
    broker = brokers["EdDSA"]
    token = client_credentials(broker, "py-eddsa")["access_token"]
    with pytest.raises(InvalidTokenError):
        BrokerTokenValidator(broker).authenticate_token(token)


def test_every_signing_algorithm_has_a_broker(brokers: dict[str, InteropBroker]) -> None:
    assert set(brokers) == set(SIGNING_ALGS)
    for alg, broker in brokers.items():
        keys = httpx.get(f"{broker.issuer}/.well-known/jwks.json").json()["keys"]
        assert [k["alg"] for k in keys] == [alg]
