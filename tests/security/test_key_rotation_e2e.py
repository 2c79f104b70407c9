"""Key rotation through a real `discretion serve` (two workers, each with its own agent cache) over
HTTP, on SQLite and PostgreSQL, driven by the SDK: a delegate's keys rotate while a delegation is
live, the delegation keeps working with the retiring key and is renewed onto the new one; then
the retiring key is marked compromised and is refused at once by every worker, and the token
bound to it is revoked and listed in the revocation feed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import discretion_sdk
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from discretion_wire import jwk_thumbprint

from broker.oauth.signing_keys import public_jwk
from examples.broker_process import BrokerProcess
from tests.agents import TestAgent
from tests.security.test_hardening_e2e import _postgres_database

pytestmark = pytest.mark.e2e
CALENDAR = "https://calendar.example/api"
EVENTS = CALENDAR + "/events"


def _jkt(key: Ed25519PrivateKey) -> str:
    return jwk_thumbprint(public_jwk(key.public_key()))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def broker(request: pytest.FixtureRequest) -> Iterator[tuple[BrokerProcess, dict[str, str], dict[str, str]]]:
    databases = _postgres_database() if request.param == "postgresql" else iter([None])
    database = next(databases)
    process = BrokerProcess(database_url=database, workers=2).start(timeout=120)
    try:
        admin = {"Authorization": f"Bearer {process.create_admin_key()}"}
        with httpx.Client(base_url=process.url, headers=admin, timeout=30) as http:
            alice_key = http.post("/v1/users", json={"user_id": "alice"}).raise_for_status().json()["api_key"]
        yield process, admin, {"Authorization": f"Bearer {alice_key}"}
    finally:
        process.stop()
        for _ in databases:  # drops the PostgreSQL database
            pass


def _client(broker: BrokerProcess, agent: TestAgent, **options: Any) -> discretion_sdk.BrokerClient:
    options.setdefault("private_key", agent.key)
    options.setdefault("kid", agent.kid)
    return discretion_sdk.BrokerClient(issuer=broker.issuer, client_id=agent.client_id, **options)


def test_rotate_then_delegation_lives_then_compromise_is_refused(
    broker: tuple[BrokerProcess, dict[str, str], dict[str, str]],
) -> None:
    process, admin, alice = broker
    calendar = TestAgent("calendar-holder", "Calendar Co", "DE", [CALENDAR])
    assistant = TestAgent("assistant", "Helpful Assistants", "GB")
    travel = TestAgent("travel-agent", "Wanderly Travel", "FR")
    with httpx.Client(base_url=process.url, timeout=30) as http:
        for agent in (calendar, assistant, travel):
            http.post("/v1/agents", json=agent.registration(), headers=admin).raise_for_status()
        grant = {
            "agent": "assistant",
            "resource": CALENDAR,
            "scopes": ["calendar:read"],
            "max_ttl_seconds": 600,
            "max_delegation_depth": 1,
        }
        http.post("/v1/me/grants", json=grant, headers=alice).raise_for_status()
        with _client(process, assistant) as helper:
            parent = helper.token(subject="alice", resource=CALENDAR, scopes=["calendar:read"])
            delegated = helper.exchange(parent, delegate="travel-agent")
        token = delegated.access_token
        old_key, new_key = travel.key, Ed25519PrivateKey.generate()
        assert jwt.decode(token, options={"verify_signature": False})["cnf"]["jkt"] == _jkt(old_key)

        # 1. A planned rotation: the old key retires.
        body = {"jwks": {"keys": [{**public_jwk(new_key.public_key()), "kid": "travel-2"}]}}
        rotated = http.put("/v1/agents/travel-agent/jwks", json=body, headers=admin)
        assert rotated.status_code == 200, rotated.text

        # 2. The live delegation still works at the holder (the SDK guard's verifier, reading the
        # revocation feed at every check), presented with the retiring key.
        with (
            _client(process, calendar) as holder,
            discretion_sdk.TokenVerifier(
                issuer=process.issuer, audience=CALENDAR, revocation_source=holder, revocation_poll_interval=0
            ) as verifier,
            _client(
                process, travel, private_key=new_key, kid="travel-2", retiring_keys=[old_key]
            ) as rotated_travel,
        ):

            def present(token: discretion_sdk.AccessToken, key: Ed25519PrivateKey) -> str:
                headers = rotated_travel.authorization_headers(token, "GET", EVENTS)
                verified = verifier.verify(
                    token.access_token,
                    required_scopes=["calendar:read"],
                    dpop_proof=headers["DPoP"],
                    http_method="GET",
                    http_url=EVENTS,
                )
                assert verified.dpop_jkt == _jkt(key)
                return verified.jti

            jti = present(delegated, old_key)
            # ... and is renewed onto the current key.
            renewed = rotated_travel.renew(delegated)
            present(renewed, new_key)
            assert holder.introspect(token)["active"] is True

            # 3. The retiring key is marked compromised: refused at once, its token revoked.
            body = {**body, "compromised": ["travel-agent-key-1"]}
            compromised = http.put("/v1/agents/travel-agent/jwks", json=body, headers=admin)
            assert compromised.status_code == 200, compromised.text
            assert holder.introspect(token)["active"] is False
            with pytest.raises(discretion_sdk.InvalidToken) as revoked:
                present(delegated, old_key)
            assert revoked.value.reason == "revoked"
            assert jti in {item.jti for item in holder.revocations().items}

        # Every worker refuses the compromised key at once, whatever it remembered.
        with _client(process, travel) as stale:
            for _ in range(6):
                with pytest.raises(discretion_sdk.BrokerError) as refused:
                    stale.renew(delegated)
                assert refused.value.error == "invalid_client"
                with pytest.raises(discretion_sdk.BrokerError) as refused:
                    stale.token(subject="alice", resource=CALENDAR, scopes=["calendar:read"], fresh=True)
                assert refused.value.error == "invalid_client"
