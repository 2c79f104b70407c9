"""Token issuance throughput: a real broker process (2 uvicorn workers, SQLite) under concurrent agents.

Every request carries a fresh client assertion (single-use jti), generated before the clock starts,
and every issued token is written with its grant-log record in the same transaction. Three runs in
one broker: plain bearer tokens, DPoP-bound tokens (a fresh proof per request) and token exchange
(delegation), each beside a bare-HTTP floor (`GET /live`) measured the same way in the same run, so
the figures can be compared across noisy machines.

    .venv/bin/python benchmarks/token_issuance.py [--seconds 20] [--concurrency 32] [--workers N]
        [--modes plain,dpop,exchange] [--db sqlite|postgresql] [--replicas 1]
        [--signing-algs EdDSA,ES256,RS256] [--baseline-src ../main] [--rounds 1]

`--signing-algs` runs one broker per access-token signing algorithm (DISCRETION_ACCESS_TOKEN_SIGNING_ALG)
and `--baseline-src` one more, EdDSA, from another source tree (an A/B against another commit); all
are started together and measured in turn, `--rounds` times, so their ratios come from one run.

`--db postgresql` creates (and drops) a database on the server in DISCRETION_TEST_POSTGRES_URL
(default 127.0.0.1:5432); `--replicas N` starts N broker processes on the same store, sharing one
issuer and key-encryption key, and spreads the connections over them. `--workers` is per replica
and defaults to the cores divided by the replicas (2 workers for one replica on 2 cores, 1 each
for two).

Target on the 2-core machine: >= 1,000 grants/s with p99 <= 50 ms at 32 concurrent clients.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import create_engine, make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loadgen import LoadResult, form_request, run_load
from examples.broker_process import BrokerProcess

RESOURCE = "https://calendar.example/api"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
WARMUP = 1500
# Published anchors (see ../shared/ANCHORS.md); ours is measured on this machine in this run.
ANCHORS = [
    ("Keycloak sizing guide, 2 vCPU (120/s per vCPU)", 240.0),
    ("Ory Hydra, 2 vCPU, in-memory store", 513.0),
    ("node-oidc-provider, 2 processes, no durable log (published)", 1570.0),
]
Identity = tuple[str, Ed25519PrivateKey]


def _jwk(key: Ed25519PrivateKey, kid: str | None = None) -> dict[str, str]:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}
    return {**jwk, "kid": kid} if kid else jwk


def _register(admin: httpx.Client, client_id: str, key: Ed25519PrivateKey, resources: list[str]) -> None:
    body = {
        "client_id": client_id,
        "name": client_id,
        "organization": f"Org {client_id[-1]}",
        "locale": "FR",
        "jwks": {"keys": [_jwk(key, "k1")]},
        "resource_uris": resources,
    }
    admin.post("/v1/agents", json=body).raise_for_status()


def setup(broker: BrokerProcess, agents: int, users: int) -> tuple[list[Identity], Identity]:
    """A holder, `agents` requesting agents, one delegate, and `users` users granting every agent."""
    headers = {"Authorization": f"Bearer {broker.create_admin_key()}"}
    with httpx.Client(base_url=broker.url, headers=headers) as admin:
        _register(admin, "holder", Ed25519PrivateKey.generate(), [RESOURCE])
        identities = [(f"agent-{i}", Ed25519PrivateKey.generate()) for i in range(agents)]
        delegate = ("delegate", Ed25519PrivateKey.generate())
        for client_id, key in [*identities, delegate]:
            _register(admin, client_id, key, [])
        for u in range(users):
            api_key = (
                admin.post("/v1/users", json={"user_id": f"user-{u}"}).raise_for_status().json()["api_key"]
            )
            with httpx.Client(base_url=broker.url, headers={"Authorization": f"Bearer {api_key}"}) as user:
                user.post(
                    "/v1/me/blocklist", json={"kind": "organization", "value": "Blocked Corp"}
                ).raise_for_status()
                for client_id, _ in identities:
                    grant = {
                        "agent": client_id,
                        "resource": RESOURCE,
                        "scopes": ["calendar:*"],
                        "max_ttl_seconds": 600,
                        "max_delegation_depth": 1,
                    }
                    user.post("/v1/me/grants", json=grant).raise_for_status()
    return identities, delegate


def _assertion(identity: Identity, issuer: str, now: int) -> str:
    client_id, key = identity
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": issuer,
        "jti": secrets.token_urlsafe(16),
        "iat": now,
        "exp": now + 280,
    }
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": "k1"})


def _proof(key: Ed25519PrivateKey, url: str, now: int) -> str:
    claims = {"jti": secrets.token_urlsafe(16), "htm": "POST", "htu": url, "iat": now}
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"typ": "dpop+jwt", "jwk": _jwk(key)})


def _root_tokens(broker: BrokerProcess, identities: list[Identity], users: int) -> list[tuple[Identity, str]]:
    now = int(time.time())
    roots = []
    with httpx.Client() as http:
        for i, identity in enumerate(identities):
            form = {
                "grant_type": "client_credentials",
                "subject": f"user-{i % users}",
                "resource": RESOURCE,
                "scope": "calendar:read calendar:write",
                "expires_in": "600",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": _assertion(identity, broker.issuer, now),
            }
            response = http.post(f"{broker.url}/oauth2/token", data=form).raise_for_status()
            roots.append((identity, response.json()["access_token"]))
    return roots


def build_requests(
    broker: BrokerProcess, mode: str, identities: list[Identity], users: int, count: int
) -> list[bytes]:
    """`count` requests of one mode, each with its own assertion (and proof), made before the clock starts."""
    host = f"127.0.0.1:{broker.port}"
    token_url = f"{broker.issuer}/oauth2/token"
    now = int(time.time())
    roots = _root_tokens(broker, identities, users) if mode == "exchange" else []
    requests = []
    for i in range(count):
        identity = identities[i % len(identities)]
        headers: dict[str, str] = {}
        if mode == "exchange":
            identity, root = roots[i % len(roots)]
            params = {
                "grant_type": EXCHANGE,
                "subject_token": root,
                "subject_token_type": ACCESS_TOKEN,
                "requested_actor": "delegate",
                "scope": "calendar:read",
            }
        else:
            params = {
                "grant_type": "client_credentials",
                "subject": f"user-{i % users}",
                "resource": RESOURCE,
                "scope": "calendar:read",
            }
            if mode == "dpop":
                headers["DPoP"] = _proof(identity[1], token_url, now)
        params |= {
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": _assertion(identity, broker.issuer, now),
        }
        requests.append(form_request(host, "/oauth2/token", urlencode(params).encode(), headers))
    return requests


def bare_requests(broker: BrokerProcess, count: int) -> list[bytes]:
    """`GET /live`: the server's HTTP floor in this run, for a noise-independent ratio."""
    request = (
        f"GET /live HTTP/1.1\r\nHost: 127.0.0.1:{broker.port}\r\nConnection: keep-alive\r\n\r\n".encode()
    )
    return [request] * count


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


def measure(
    brokers: list[BrokerProcess], requests: list[bytes], concurrency: int, seconds: float
) -> tuple[LoadResult, float]:
    """Run the load over every replica; returns the result and the brokers' CPU seconds per
    successful request."""
    ports = [b.port for b in brokers]
    groups = [b.process.pid for b in brokers if b.process is not None]
    asyncio.run(run_load("127.0.0.1", ports, requests[:WARMUP], concurrency=concurrency, seconds=5))
    before = sum(group_cpu_seconds(g) for g in groups)
    result = asyncio.run(
        run_load("127.0.0.1", ports, requests[WARMUP:], concurrency=concurrency, seconds=seconds)
    )
    cpu = sum(group_cpu_seconds(g) for g in groups) - before
    if WARMUP + result.ok + sum(result.statuses.values()) + result.errors >= len(requests):
        print("  note: the pre-generated requests ran out before the time was up; raise --max-rate")
    return result, cpu / max(result.ok, 1)


def line(label: str, result: LoadResult, cpu: float) -> float:
    """Print one result line and return requests/s."""
    rate = result.ok / result.elapsed
    print(
        f"{label:<34} {rate:>8,.0f}/s  p50 {result.percentile(0.50):6.1f} ms  "
        f"p99 {result.percentile(0.99):6.1f} ms  broker CPU {cpu * 1000:.2f} ms/req  "
        f"non-200 {result.statuses or 0}  errors {result.errors}"
    )
    return rate


def default_workers(replicas: int) -> int:
    """One broker process per core in all: more processes than cores split each event loop's
    requests so thin that commit groups shrink and every grant costs more (measured on PostgreSQL,
    2 cores: 2 replicas x 2 workers 764 grants/s at 1.58 ms CPU each, 2 x 1 1,300-1,500/s)."""
    return max(1, (os.cpu_count() or 2) // replicas)


class SourceBrokerProcess(BrokerProcess):
    """A broker run from another source tree (its broker and SDK packages ahead of this one's on
    the path, this venv's dependencies), for an A/B against another commit in the same run."""

    def __init__(self, src: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.src = src
        # Worker processes import the broker afresh: they find it through the path and the cwd.
        self.env["PYTHONPATH"] = f"{src}:{src / 'sdk'}"

    def _cli(self) -> list[str]:
        path = [str(self.src), str(self.src / "sdk")]
        code = (
            f"import os, sys; os.chdir({str(self.src)!r}); sys.path[0:0] = {path!r}; "
            "from broker.process.cli import main; main()"
        )
        return [sys.executable, "-c", code]


@contextmanager
def brokers_for(
    args: argparse.Namespace, extra_env: dict[str, str] | None = None, src: Path | None = None
) -> Iterator[list[BrokerProcess]]:
    """`--replicas` broker processes on one store (SQLite file or a fresh PostgreSQL database),
    sharing one issuer and one key-encryption key as replicas behind a load balancer do."""
    kek = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    shared = {
        "DISCRETION_KEY_ENCRYPTION_KEY": kek,
        "DISCRETION_ISSUER": "http://broker.bench",
        **(extra_env or {}),
    }
    if args.resilience is not None:
        shared["DISCRETION_RESILIENCE_MODE"] = args.resilience
    database_url, admin = args.database_url, None
    if args.db == "postgresql" and database_url is None:
        server = (
            os.environ.get("DISCRETION_TEST_POSTGRES_URL")
            or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
        name = f"discretion_bench_{os.getpid()}_{secrets.token_hex(4)}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        database_url = make_url(server).set(database=name).render_as_string(hide_password=False)
    with tempfile.TemporaryDirectory(prefix="discretion-bench-") as data_dir:
        started: list[BrokerProcess] = []
        try:
            for _ in range(args.replicas):
                options: dict[str, Any] = {
                    "workers": args.workers,
                    "database_url": database_url,
                    "data_dir": Path(data_dir),
                    "extra_env": shared,
                }
                process = BrokerProcess(**options) if src is None else SourceBrokerProcess(src, **options)
                started.append(process.start(timeout=240.0))  # slow starts on a loaded machine
            yield started
        finally:
            for process in started:
                process.stop()
            if admin is not None:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.dispose()


def main() -> None:
    """Run the benchmark and print the figures beside the anchors."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per mode")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None, help="per replica (default: cores / replicas)")
    parser.add_argument("--agents", type=int, default=16)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--modes", default="plain,dpop,exchange")
    parser.add_argument("--max-rate", type=float, default=2500.0, help="requests to pre-generate per second")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--replicas", type=int, default=1, help="broker processes sharing the store")
    parser.add_argument("--database-url", default=None, help="an existing empty database instead of --db's")
    parser.add_argument("--signing-algs", default="EdDSA", help="access-token algorithms, one broker each")
    parser.add_argument("--baseline-src", default=None, help="another source tree's broker, EdDSA, beside")
    parser.add_argument("--rounds", type=int, default=1, help="measure every broker this many times in turn")
    parser.add_argument(
        "--resilience",
        choices=("off", "dry_run", "enforce"),
        default=None,
        help="the brokers' DISCRETION_RESILIENCE_MODE (default: inherited), for same-run on/off A/Bs",
    )
    args = parser.parse_args()
    if args.workers is None:
        args.workers = default_workers(args.replicas)
    modes = [m for m in args.modes.split(",") if m]
    count = WARMUP + int(args.seconds * args.max_rate)

    store = "PostgreSQL" if args.db == "postgresql" or args.database_url else "SQLite"
    print(
        f"Discretion token endpoint: {args.replicas} replica(s) x {args.workers} workers, {store}, "
        f"grant log on, {args.concurrency} connections, {os.cpu_count()} cores shared with the load generator"
    )
    configs: dict[str, tuple[dict[str, str], Path | None]] = {
        alg: ({"DISCRETION_ACCESS_TOKEN_SIGNING_ALG": alg}, None)
        for alg in args.signing_algs.split(",")
        if alg
    }
    if args.baseline_src:
        configs["EdDSA, baseline"] = ({}, Path(args.baseline_src).resolve())
    with ExitStack() as stack:
        started = {
            label: stack.enter_context(brokers_for(args, env, src)) for label, (env, src) in configs.items()
        }
        users = {label: setup(brokers[0], args.agents, args.users)[0] for label, brokers in started.items()}
        results: dict[tuple[str, str], list[float]] = {}
        floors: dict[str, list[float]] = {}
        for round_ in range(args.rounds):
            for label, brokers in started.items():
                broker = brokers[0]
                print(f"-- {label} (round {round_ + 1})")
                floor_result, floor_cpu = measure(
                    brokers, bare_requests(broker, count * 3), args.concurrency, args.seconds / 2
                )
                floors.setdefault(label, []).append(
                    line("bare HTTP floor (GET /live)", floor_result, floor_cpu)
                )
                for mode in modes:
                    requests = build_requests(broker, mode, users[label], args.users, count)
                    result, cpu = measure(brokers, requests, args.concurrency, args.seconds)
                    rate = line(f"{mode} grants", result, cpu)
                    results.setdefault((label, mode), []).extend([rate, result.percentile(0.99)])
    print()
    for (label, mode), values in results.items():
        rates, p99s = values[0::2], values[1::2]
        rate, p99, floor = sum(rates) / len(rates), max(p99s), sum(floors[label]) / len(floors[label])
        target = "met" if rate >= 1000 and p99 <= 50 else "MISSED"
        print(
            f"{label} {mode}: {rate:,.0f} grants/s = {rate / floor:.1%} of the bare HTTP floor; "
            f"target >= 1,000/s with p99 <= 50 ms: {target}"
        )
    first = next(iter(configs))
    for label, mode in results:
        if label != first and (first, mode) in results:
            ours, theirs = results[(label, mode)][0::2], results[(first, mode)][0::2]
            print(f"  {label} / {first} ({mode}): {sum(ours) / sum(theirs):.2f} of the grants/s, same run")
    if (first, "plain") in results:
        plain = results[(first, "plain")][0]
        for name, value in ANCHORS:
            print(f"  anchor {name}: {value:,.0f} grants/s (ours / anchor = {plain / value:.2f})")


if __name__ == "__main__":
    main()
