"""oauth4webapi and jose (Node), clients this project did not write, against real brokers over
HTTP: discovery, private_key_jwt with Ed25519 under both names and with ES256, client credentials
with subject, resource and scope, DPoP, token exchange both ways, introspection, revocation, the
error codes as oauth4webapi surfaces them, and RFC 9068 validation of the tokens by jose's
jwtVerify and oauth4webapi's validateJwtAccessToken for EdDSA, ES256 and RS256.

The packages are pinned in tests/interop/node/package-lock.json and installed with `npm ci` (by
.ci/run, or here when node_modules is missing). Without node the tests skip, except in CI, where
a missing node fails them.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests.interop.conftest import CALENDAR, NODE_DIR, InteropBroker

pytestmark = pytest.mark.e2e


def run(node: str, brokers: dict[str, InteropBroker], case: str) -> Any:
    """Run one case of interop.mjs; returns what it printed."""
    config = {
        "brokers": {alg: b.issuer for alg, b in brokers.items()},
        "keys": brokers["EdDSA"].keys,  # the same on every broker
        "resource": CALENDAR,
    }
    env = {**os.environ, "INTEROP_CONFIG": json.dumps(config)}
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [node, "interop.mjs", case], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_discovery(node: str, brokers: dict[str, InteropBroker]) -> None:
    seen = run(node, brokers, "discovery")
    assert seen["token_endpoint"] == brokers["EdDSA"].token_endpoint


@pytest.mark.parametrize("name", ["ed25519", "eddsa", "es256"])
def test_private_key_jwt_client_credentials(node: str, brokers: dict[str, InteropBroker], name: str) -> None:
    assert run(node, brokers, f"client_credentials:{name}") == {
        "token_type": "bearer",
        "scope": "calendar:read",
    }


def test_dpop(node: str, brokers: dict[str, InteropBroker]) -> None:
    assert run(node, brokers, "dpop")["token_type"] == "dpop"


@pytest.mark.parametrize("way", ["requested_actor", "actor_token"])
def test_token_exchange(node: str, brokers: dict[str, InteropBroker], way: str) -> None:
    seen = run(node, brokers, f"exchange:{way}")
    assert seen == {
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "client_id": "delegate",
    }


def test_introspection_and_revocation(node: str, brokers: dict[str, InteropBroker]) -> None:
    assert run(node, brokers, "introspection_and_revocation") == {
        "before": True,
        "after": False,
        "client_id": "js-es256",
    }


def test_error_codes_as_oauth4webapi_surfaces_them(node: str, brokers: dict[str, InteropBroker]) -> None:
    seen = run(node, brokers, "errors")
    assert {name: (e["error"], e["status"]) for name, e in seen.items()} == {
        "invalid_scope": ("invalid_scope", 400),
        "invalid_target": ("invalid_target", 400),
        "access_denied": ("access_denied", 403),
        "invalid_client": ("invalid_client", 401),
        "exchange_requested_token_type": ("invalid_request", 400),
        "exchange_audience": ("invalid_target", 400),
        "exchange_subject_token": ("invalid_request", 400),
    }


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "RS256"])
def test_rfc_9068_validation_by_jose_and_oauth4webapi(
    node: str, brokers: dict[str, InteropBroker], alg: str
) -> None:
    assert run(node, brokers, f"validate:{alg}") == {"alg": alg, "sub": "alice", "client_id": "js-ed25519"}
