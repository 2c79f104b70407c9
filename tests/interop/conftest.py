"""Real broker processes for the interop tests, one per access-token signing algorithm, with the
agents, holder, user and grants that the clients of tests/interop use.

The clients here were not written by this project: authlib (Python) and oauth4webapi with jose
(Node, tests/interop/node). They get nothing from the SDK: only the broker's URL, their client ids
and their private keys as JWKs.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from examples.broker_process import BrokerProcess

CALENDAR = "https://calendar.example/api"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
SIGNING_ALGS = ("EdDSA", "ES256", "RS256")
NODE_DIR = Path(__file__).resolve().parent / "node"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def private_jwk(alg: str, kid: str) -> dict[str, str]:
    """A new private JWK for `alg` ("EdDSA" or "Ed25519": an Ed25519 key; "ES256": P-256)."""
    if alg in ("EdDSA", "Ed25519"):
        key = ed25519.Ed25519PrivateKey.generate()
        d = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        x = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64(x), "d": _b64(d), "kid": kid, "alg": alg}
    ec_key = ec.generate_private_key(ec.SECP256R1())
    numbers = ec_key.private_numbers()
    public = numbers.public_numbers
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64(public.x.to_bytes(32, "big")),
        "y": _b64(public.y.to_bytes(32, "big")),
        "d": _b64(numbers.private_value.to_bytes(32, "big")),
        "kid": kid,
        "alg": alg,
    }


def public_of(jwk: dict[str, str]) -> dict[str, str]:
    """The public half of a private JWK, as an admin registers it."""
    return {k: v for k, v in jwk.items() if k != "d"}


@dataclass
class InteropBroker:
    """A running broker and the parties registered on it."""

    process: BrokerProcess
    signing_alg: str
    #: client id -> private JWK (its `alg` is the one the client signs with)
    keys: dict[str, dict[str, str]] = field(default_factory=dict)
    user_key: str = ""

    @property
    def issuer(self) -> str:
        """The broker's issuer (its URL)."""
        return self.process.issuer

    @property
    def token_endpoint(self) -> str:
        """The token endpoint."""
        return f"{self.issuer}/oauth2/token"

    def grant(self, agent: str, **extra: Any) -> None:
        """alice grants `agent` calendar access (delegable once)."""
        body = {
            "agent": agent,
            "resource": CALENDAR,
            "scopes": ["calendar:*"],
            "max_ttl_seconds": 600,
            "max_delegation_depth": 1,
            **extra,
        }
        headers = {"Authorization": f"Bearer {self.user_key}"}
        httpx.post(f"{self.issuer}/v1/me/grants", json=body, headers=headers).raise_for_status()


#: The agents every broker has: the Python (authlib) ones, the Node ones, the delegate and the
#: holder, each with the algorithm its key is registered and used under.
AGENTS = {
    "py-eddsa": "EdDSA",
    "py-ed25519": "Ed25519",
    "py-es256": "ES256",
    "js-eddsa": "EdDSA",
    "js-ed25519": "Ed25519",
    "js-es256": "ES256",
    "delegate": "Ed25519",
    "calendar-holder": "EdDSA",
}


def _setup(process: BrokerProcess, signing_alg: str, keys: dict[str, dict[str, str]]) -> InteropBroker:
    broker = InteropBroker(process, signing_alg, keys)
    admin = {"Authorization": f"Bearer {process.create_admin_key()}"}
    with httpx.Client(base_url=process.url, headers=admin) as http:
        for client_id, jwk in keys.items():
            body = {
                "client_id": client_id,
                "name": client_id,
                "organization": f"{client_id} Ltd",
                "locale": "DE",
                "jwks": {"keys": [public_of(jwk)]},
                "resource_uris": [CALENDAR] if client_id == "calendar-holder" else [],
            }
            http.post("/v1/agents", json=body).raise_for_status()
        broker.user_key = (
            http.post("/v1/users", json={"user_id": "alice"}).raise_for_status().json()["api_key"]
        )
    for client_id in AGENTS:
        if client_id != "calendar-holder":
            broker.grant(client_id)
    return broker


@pytest.fixture(scope="session")
def brokers() -> Iterator[dict[str, InteropBroker]]:
    """One broker per access-token signing algorithm, started together (starting is slow on a
    loaded machine, so they start in parallel)."""
    processes = {
        alg: BrokerProcess(workers=1, extra_env={"DISCRETION_ACCESS_TOKEN_SIGNING_ALG": alg})
        for alg in SIGNING_ALGS
    }
    errors: list[BaseException] = []

    def start(process: BrokerProcess) -> None:
        try:
            process.start(timeout=240.0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(p,)) for p in processes.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        if errors:
            raise errors[0]
        # The same agents with the same keys on every broker.
        keys = {client_id: private_jwk(alg, f"{client_id}-1") for client_id, alg in AGENTS.items()}
        yield {alg: _setup(process, alg, keys) for alg, process in processes.items()}
    finally:
        for process in processes.values():
            process.stop()


@pytest.fixture(scope="session")
def broker(brokers: dict[str, InteropBroker]) -> InteropBroker:
    """The broker with the default (EdDSA) access tokens."""
    return brokers["EdDSA"]


@pytest.fixture(scope="session")
def node() -> str:
    """The node executable, with the pinned packages installed."""
    found = shutil.which("node")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("node is required in CI for the interop tests")
        pytest.skip("node is not installed")
    if not (NODE_DIR / "node_modules" / "oauth4webapi").is_dir():
        npm = shutil.which("npm")
        assert npm is not None, "npm is needed to install the pinned packages"
        result = subprocess.run(  # noqa: S603 - fixed arguments
            [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr[-3000:]
    return found
