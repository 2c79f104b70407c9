"""Token issuance throughput: a real broker process (2 uvicorn workers, SQLite) under concurrent agents.

Every request carries a fresh client assertion (single-use jti), generated before the clock starts,
and every issued token is written with its grant-log record in the same transaction.

    .venv/bin/python benchmarks/token_issuance.py [--seconds 20] [--concurrency 32] [--workers 2]

Target on the 2-core machine: >= 1,000 grants/s with p99 <= 50 ms at 32 concurrent clients.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loadgen import form_request, run_load
from examples.broker_process import BrokerProcess

RESOURCE = "https://calendar.example/api"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Published anchors (see ../shared/ANCHORS.md); ours is measured on this machine in this run.
ANCHORS = [
    ("Keycloak sizing guide, 2 vCPU (120/s per vCPU)", 240.0),
    ("Ory Hydra, 2 vCPU, in-memory store", 513.0),
    ("node-oidc-provider, 2 processes, no durable log (published)", 1570.0),
]


def _jwk(key: Ed25519PrivateKey, kid: str) -> dict[str, str]:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
        "kid": kid,
    }


def setup(broker: BrokerProcess, agents: int, users: int) -> list[tuple[str, Ed25519PrivateKey]]:
    """Register a holder, `agents` requesting agents and `users` users, each granting every agent."""
    admin = httpx.Client(
        base_url=broker.issuer, headers={"Authorization": f"Bearer {broker.create_admin_key()}"}
    )
    holder_key = Ed25519PrivateKey.generate()
    admin.post(
        "/v1/agents",
        json={
            "client_id": "holder",
            "name": "holder",
            "organization": "Holder Co",
            "locale": "DE",
            "jwks": {"keys": [_jwk(holder_key, "h1")]},
            "resource_uris": [RESOURCE],
        },
    ).raise_for_status()
    identities = []
    for i in range(agents):
        key = Ed25519PrivateKey.generate()
        client_id = f"agent-{i}"
        admin.post(
            "/v1/agents",
            json={
                "client_id": client_id,
                "name": client_id,
                "organization": f"Org {i % 4}",
                "locale": "FR",
                "jwks": {"keys": [_jwk(key, "k1")]},
            },
        ).raise_for_status()
        identities.append((client_id, key))
    for u in range(users):
        api_key = admin.post("/v1/users", json={"user_id": f"user-{u}"}).raise_for_status().json()["api_key"]
        user = httpx.Client(base_url=broker.issuer, headers={"Authorization": f"Bearer {api_key}"})
        user.post(
            "/v1/me/blocklist", json={"kind": "organization", "value": "Blocked Corp"}
        ).raise_for_status()
        for client_id, _ in identities:
            user.post(
                "/v1/me/grants",
                json={
                    "agent": client_id,
                    "resource": RESOURCE,
                    "scopes": ["calendar:*"],
                    "max_ttl_seconds": 600,
                },
            ).raise_for_status()
    return identities


def build_requests(
    broker: BrokerProcess, identities: list[tuple[str, Ed25519PrivateKey]], users: int, count: int
) -> list[bytes]:
    """`count` token requests, each with its own signed assertion (made before the clock starts)."""
    host = f"127.0.0.1:{broker.port}"
    now = int(time.time())
    requests = []
    for i in range(count):
        client_id, key = identities[i % len(identities)]
        assertion = jwt.encode(
            {
                "iss": client_id,
                "sub": client_id,
                "aud": broker.issuer,
                "jti": secrets.token_urlsafe(16),
                "iat": now,
                "exp": now + 280,
            },
            key,
            algorithm="EdDSA",
            headers={"kid": "k1"},
        )
        body = urlencode(
            {
                "grant_type": "client_credentials",
                "subject": f"user-{i % users}",
                "resource": RESOURCE,
                "scope": "calendar:read",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
            }
        ).encode()
        requests.append(form_request(host, "/oauth2/token", body))
    return requests


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of every live process in a process group (Linux /proc)."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 of stat, after pid and comm
            total += int(fields[11]) + int(fields[12])
    return total / tick


def report(label: str, result: object, concurrency: int) -> float:
    """Print one result line and return grants/s."""
    from benchmarks.loadgen import LoadResult

    assert isinstance(result, LoadResult)
    rate = result.ok / result.elapsed
    print(
        f"{label}: {rate:,.0f} grants/s over {result.elapsed:.1f} s at {concurrency} connections; "
        f"p50 {result.percentile(0.50):.1f} ms, p99 {result.percentile(0.99):.1f} ms; "
        f"{result.ok:,} issued, non-200 {result.statuses or 0}, transport errors {result.errors}"
    )
    return rate


def main() -> None:
    """Run the benchmark and print the figures beside the anchors."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--agents", type=int, default=16)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument(
        "--max-rate", type=float, default=2500.0, help="requests to pre-generate per second of the run"
    )
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    args = parser.parse_args()

    with BrokerProcess(workers=args.workers, database_url=args.database_url) as broker:
        identities = setup(broker, args.agents, args.users)
        requests = build_requests(broker, identities, args.users, int(args.seconds * args.max_rate))
        warmup = asyncio.run(
            run_load("127.0.0.1", broker.port, requests[:2000], concurrency=args.concurrency, seconds=5)
        )
        print(f"warm-up: {warmup.ok} grants")
        assert broker.process is not None
        broker_cpu, own_cpu = group_cpu_seconds(broker.process.pid), time.process_time()
        result = asyncio.run(
            run_load(
                "127.0.0.1", broker.port, requests[2000:], concurrency=args.concurrency, seconds=args.seconds
            )
        )
        broker_cpu = group_cpu_seconds(broker.process.pid) - broker_cpu
        own_cpu = time.process_time() - own_cpu
    store = "SQLite" if args.database_url is None else args.database_url.split(":")[0]
    rate = report(f"Discretion ({args.workers} workers, {store}, grant log on)", result, args.concurrency)
    print(
        f"CPU per grant: broker {broker_cpu / max(result.ok, 1) * 1000:.2f} ms, "
        f"load generator {own_cpu / max(result.ok, 1) * 1000:.2f} ms "
        f"(broker used {broker_cpu / result.elapsed:.2f} of {os.cpu_count()} cores)"
    )
    target = "met" if rate >= 1000 and result.percentile(0.99) <= 50 else "MISSED"
    print(f"target >= 1,000 grants/s with p99 <= 50 ms: {target}")
    for name, value in ANCHORS:
        print(f"  anchor {name}: {value:,.0f} grants/s (ours / anchor = {rate / value:.2f})")
    if result.ok and len(requests) - 2000 <= result.ok + sum(result.statuses.values()) + result.errors:
        print("note: the pre-generated requests ran out before the time was up; raise --max-rate")


if __name__ == "__main__":
    main()
