"""Peer comparison: node-oidc-provider (npm `oidc-provider`, OpenID Certified) under our token load.

The peer runs on this machine as a real node process (optionally a node cluster of N processes),
configured for the `client_credentials` grant with `private_key_jwt` client authentication (EdDSA)
and JWT access tokens (RFC 9068, EdDSA) for one resource indicator. The load is the one of
benchmarks/token_issuance.py: 32 keep-alive connections, a fresh client assertion (single-use `jti`,
`aud` = the issuer) per request generated before the clock starts, the same lean asyncio load
generator, the same warm-up, and a bare-HTTP floor (`GET /live`, answered by node:http before the
provider) in the same run.

    .venv/bin/python benchmarks/peer_oidc_provider.py [--seconds 20] [--concurrency 32]
        [--processes 1[,2]] [--peer-stores memory[,redis]] [--redis-url URL]
        [--with-discretion [--workers N] [--db sqlite|postgresql] [--replicas 1]]

`--processes 1,2` measures the peer once per listed process count in the same run, and
`--peer-stores memory,redis` once per store for each: `memory` is the provider's bundled adapter,
`redis` its adapter interface over Redis at `--redis-url` (benchmarks/peer/server.mjs), so that
cluster processes share the client-assertion replay cache as our replicas share theirs.
`--with-discretion` also measures our broker (plain client_credentials grants, grant log on) in the
same run and prints ours / peer: the machine is shared and noisy, so only same-run ratios mean much.

The peer keeps no durable record of what it issued. With the bundled in-memory adapter its
client-assertion replay cache is an LRU of 1,000 entries per process; with Redis it is shared and
kept until each assertion expires. The script probes it after each run. The peer is installed on
first use with `npm ci` into benchmarks/peer/node_modules (git-ignored), at the versions pinned in
benchmarks/peer/package.json (oidc-provider and, for the Redis store, ioredis).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import cast
from urllib.parse import urlencode, urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loadgen import LoadResult, form_request
from benchmarks.token_issuance import (
    ASSERTION_TYPE,
    RESOURCE,
    WARMUP,
    Identity,
    _assertion,
    _jwk,
    bare_requests,
    brokers_for,
    build_requests,
    default_workers,
    measure,
    setup,
)
from examples.broker_process import BrokerProcess, free_port

PEER_DIR = Path(__file__).resolve().parent / "peer"
SCOPE = "calendar:read calendar:write"
# Published peer figures on a 2-core machine with 32 connections (see ../shared/ANCHORS.md).
PUBLISHED = {1: 1265.0, 2: 1570.0}
RACES = 16  # fresh assertions for the race probe, each sent twice at once
PEER_STORES = {
    "memory": "in-memory adapter (replay cache: a 1,000-entry LRU per process)",
    "redis": "Redis adapter (every model and the replay cache shared by its processes; not durable)",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pinned_versions() -> dict[str, str]:
    """The npm packages and versions pinned in benchmarks/peer/package.json."""
    return dict(json.loads((PEER_DIR / "package.json").read_text())["dependencies"])


def installed_version(package: str) -> str | None:
    """The version of `package` in benchmarks/peer/node_modules, or None."""
    manifest = PEER_DIR / "node_modules" / package / "package.json"
    return str(json.loads(manifest.read_text())["version"]) if manifest.exists() else None


def executable(name: str) -> str:
    """The absolute path of `node` or `npm`."""
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} is needed to run the peer")
    return path


def ensure_installed() -> str:
    """Install the pinned peer into benchmarks/peer/node_modules unless it is there; its version."""
    pinned = pinned_versions()
    if any(installed_version(package) != want for package, want in pinned.items()):
        command = "ci" if (PEER_DIR / "package-lock.json").exists() else "install"
        print(f"installing {pinned} (npm {command}) into {PEER_DIR / 'node_modules'}")
        subprocess.run([executable("npm"), command, "--no-audit", "--no-fund"], cwd=PEER_DIR, check=True)
    return str(installed_version("oidc-provider"))


class PeerProcess:
    """benchmarks/peer/server.mjs in its own process group (the primary and its cluster workers)."""

    def __init__(
        self, processes: int, identities: list[Identity], work_dir: Path, redis_url: str | None = None
    ) -> None:
        self.port = free_port()
        self.url = self.issuer = f"http://127.0.0.1:{self.port}"
        self.processes = processes
        signing = Ed25519PrivateKey.generate()
        private = signing.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        config = {
            "issuer": self.issuer,
            "port": self.port,
            "processes": processes,
            "resource": RESOURCE,
            "scope": SCOPE,
            "signingKey": {**_jwk(signing, "peer-1"), "d": _b64(private), "alg": "EdDSA", "use": "sig"},
            "clients": [{"client_id": cid, "jwks": {"keys": [_jwk(key, "k1")]}} for cid, key in identities],
        }
        if redis_url is not None:
            # A fresh prefix per run; every key expires with what it stores (an assertion's replay
            # entry with the assertion), so nothing needs cleaning up.
            config["redis"] = {"url": redis_url, "prefix": f"discretion-peer-{secrets.token_hex(4)}:"}
        self.config_path = work_dir / f"peer-{self.port}.json"
        self.config_path.write_text(json.dumps(config))
        self.log_path = work_dir / f"peer-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> PeerProcess:
        """Start the provider and wait until its discovery document answers."""
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [executable("node"), str(PEER_DIR / "server.mjs"), str(self.config_path)],
                cwd=PEER_DIR,
                env={**os.environ, "NODE_ENV": "production"},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the peer exited: {self.log_path.read_text()[-2000:]}")
            try:
                discovery = httpx.get(f"{self.url}/.well-known/openid-configuration", timeout=1.0)
                if discovery.status_code == 200:
                    time.sleep(0.5 if self.processes > 1 else 0)  # let every cluster worker listen
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the peer did not become ready in time")

    def stop(self) -> None:
        """Stop the provider and its cluster workers."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __enter__(self) -> PeerProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def require_redis(url: str) -> None:
    """Exit with a clear message unless something listens at the Redis URL (the peer itself would
    only retry its connection and fail its first grant)."""
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=2).close()
    except OSError as exc:
        raise SystemExit(f"--peer-stores redis needs a Redis server at {url}: {exc}") from exc


def peer_form(identity: Identity, issuer: str, now: int) -> dict[str, str]:
    """One client_credentials request body for the peer, with a fresh assertion."""
    return {
        "grant_type": "client_credentials",
        "resource": RESOURCE,
        "scope": "calendar:read",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": _assertion(identity, issuer, now),
    }


def peer_requests(peer: PeerProcess, identities: list[Identity], count: int) -> list[bytes]:
    """`count` requests, each with its own assertion (aud = the issuer), made before the clock starts."""
    host = f"127.0.0.1:{peer.port}"
    now = int(time.time())
    return [
        form_request(
            host, "/token", urlencode(peer_form(identities[i % len(identities)], peer.issuer, now)).encode()
        )
        for i in range(count)
    ]


def check_token(peer: PeerProcess, identity: Identity) -> dict[str, object]:
    """One grant by hand: the peer must answer a JWT access token for the resource."""
    form = peer_form(identity, peer.issuer, int(time.time()))
    response = httpx.post(f"{peer.url}/token", data=form, timeout=5.0)
    if response.status_code != 200:
        raise RuntimeError(f"the peer refused a grant: {response.status_code} {response.text}")
    token = response.json()["access_token"]
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    if header.get("typ") != "at+jwt" or header.get("alg") != "EdDSA" or claims.get("aud") != RESOURCE:
        raise RuntimeError(f"unexpected peer token: {header} {claims}")
    return {**header, **{k: claims[k] for k in ("aud", "scope", "client_id")}}


def replay_probe(peer: PeerProcess, identities: list[Identity], old_request: bytes) -> tuple[int, int, int]:
    """(fresh assertions replayed at once and accepted, of how many; status of an assertion from the
    start of the warm-up replayed after the run). Each send uses a new connection, as a client
    behind a load balancer would, so a cluster may route the copies to different workers."""
    tries, accepted = 8, 0
    now = int(time.time())
    for i in range(tries):
        form = peer_form(identities[i % len(identities)], peer.issuer, now)
        statuses = [httpx.post(f"{peer.url}/token", data=form, timeout=5.0).status_code for _ in range(2)]
        accepted += statuses == [200, 200]
    body = old_request.split(b"\r\n\r\n", 1)[1]
    old = httpx.post(
        f"{peer.url}/token",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=5.0,
    )
    return accepted, tries, old.status_code


def race_probe(urls: tuple[str, str], forms: list[dict[str, str]]) -> int:
    """How many of `forms` (each with a fresh assertion) were accepted twice when sent at the same
    moment to both `urls` (the same one for a cluster behind one port, two replicas for ours), each
    on a new connection: a replay cache that reads before it writes lets both by."""

    async def both(form: dict[str, str]) -> bool:
        async with httpx.AsyncClient() as first, httpx.AsyncClient() as second:
            statuses = await asyncio.gather(
                first.post(urls[0], data=form, timeout=5.0), second.post(urls[1], data=form, timeout=5.0)
            )
        return all(response.status_code == 200 for response in statuses)

    async def run() -> int:
        return sum([await both(form) for form in forms])

    return asyncio.run(run())


def floor_count(args: argparse.Namespace) -> int:
    """Enough (identical, shared) `GET /live` requests for a fast floor: up to 150,000/s."""
    return WARMUP + int(args.seconds / 2 * 150_000)


def line(label: str, result: LoadResult, cpu: float) -> tuple[float, float, float]:
    """Print one result line; returns (requests/s, p99 ms, CPU ms per request)."""
    rate = result.ok / result.elapsed
    p50, p99 = result.percentile(0.50), result.percentile(0.99)
    print(
        f"  {label:<40} {rate:>8,.0f}/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
        f"server CPU {cpu * 1000:.2f} ms/req  non-200 {result.statuses or 0}  errors {result.errors}"
    )
    return rate, p99, cpu * 1000


def run_peer(
    processes: int,
    store: str,
    identities: list[Identity],
    args: argparse.Namespace,
    count: int,
    work_dir: Path,
) -> tuple[float, float, float, float]:
    """Measure the peer with `processes` node processes on `store` (memory or redis); (grants/s,
    p99, CPU ms/grant, floor/s)."""
    cluster = " (node cluster)" if processes > 1 else ""
    print(f"node-oidc-provider, {processes} process(es){cluster}, {PEER_STORES[store]}:")
    redis_url = args.redis_url if store == "redis" else None
    with PeerProcess(processes, identities, work_dir, redis_url) as peer:
        print(f"  a grant by hand: {check_token(peer, identities[0])}")
        servers = cast("list[BrokerProcess]", [peer])  # measure() needs only .port and .process
        floor_result, floor_cpu = measure(
            servers, bare_requests(servers[0], floor_count(args)), args.concurrency, args.seconds / 2
        )
        floor = line("bare HTTP floor (GET /live, node:http)", floor_result, floor_cpu)[0]
        requests = peer_requests(peer, identities, count)
        result, cpu = measure(servers, requests, args.concurrency, args.seconds)
        rate, p99, cpu_ms = line("client_credentials grants", result, cpu)
        accepted, tries, old_status = replay_probe(peer, identities, requests[0])
        now = int(time.time())
        races = [peer_form(identities[i % len(identities)], peer.issuer, now) for i in range(RACES)]
        raced = race_probe((f"{peer.url}/token",) * 2, races)
    print(
        f"  = {rate / floor:.1%} of its bare HTTP floor; "
        f"published figure {PUBLISHED.get(processes, 0):,.0f}/s"
    )
    print(
        f"  replay probe: {accepted}/{tries} fresh assertions accepted twice (new connection per send); "
        f"an assertion from the start of the warm-up, replayed after "
        f"~{WARMUP + result.ok:,} grants: HTTP {old_status} "
        f"({'accepted again' if old_status == 200 else 'rejected'}); "
        f"{raced}/{RACES} sent twice at the same moment accepted twice"
    )
    return rate, p99, cpu_ms, floor


def run_discretion(args: argparse.Namespace, count: int) -> tuple[float, float, float, float]:
    """Measure our broker's plain client_credentials grants in this run; same tuple as run_peer."""
    store = "PostgreSQL" if args.db == "postgresql" else "SQLite"
    print(f"Discretion: {args.replicas} replica(s) x {args.workers} workers, {store}, grant log on:")
    ours = argparse.Namespace(workers=args.workers, db=args.db, replicas=args.replicas, database_url=None)
    with brokers_for(ours) as brokers:
        identities, _ = setup(brokers[0], args.agents, args.users)
        floor_result, floor_cpu = measure(
            brokers, bare_requests(brokers[0], floor_count(args)), args.concurrency, args.seconds / 2
        )
        floor = line("bare HTTP floor (GET /live)", floor_result, floor_cpu)[0]
        requests = build_requests(brokers[0], "plain", identities, args.users, count)
        result, cpu = measure(brokers, requests, args.concurrency, args.seconds)
        rate, p99, cpu_ms = line("client_credentials grants", result, cpu)
        now = int(time.time())
        races = [
            {
                "grant_type": "client_credentials",
                "subject": f"user-{i % args.users}",
                "resource": RESOURCE,
                "scope": "calendar:read",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": _assertion(identities[i % len(identities)], brokers[0].issuer, now),
            }
            for i in range(RACES)
        ]
        raced = race_probe((f"{brokers[0].url}/oauth2/token", f"{brokers[-1].url}/oauth2/token"), races)
    print(f"  = {rate / floor:.1%} of its bare HTTP floor")
    where = "to two replicas" if len({b.port for b in brokers}) > 1 else "on two connections"
    print(f"  replay probe: {raced}/{RACES} sent twice at the same moment ({where}) accepted twice")
    return rate, p99, cpu_ms, floor


def main() -> None:
    """Install the peer if needed, measure it (and ours), print the figures and the same-run ratios."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per server")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--processes", default="1", help="peer node processes: 1, 2 or a list like 1,2")
    parser.add_argument(
        "--peer-stores", default="memory", help="peer adapter: memory, redis or a list like memory,redis"
    )
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/0", help="Redis for the peer's redis store"
    )
    parser.add_argument("--agents", type=int, default=16, help="clients (agents), as in token_issuance.py")
    parser.add_argument("--max-rate", type=float, default=4000.0, help="requests to pre-generate per second")
    parser.add_argument("--with-discretion", action="store_true", help="also measure our broker in this run")
    parser.add_argument(
        "--workers", type=int, default=None, help="our workers per replica (default: cores / replicas)"
    )
    parser.add_argument("--users", type=int, default=50, help="our broker's users (--with-discretion)")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite", help="our store")
    parser.add_argument("--replicas", type=int, default=1, help="our broker processes (--with-discretion)")
    args = parser.parse_args()
    if args.workers is None:
        args.workers = default_workers(args.replicas)
    process_counts = [int(p) for p in args.processes.replace("|", ",").split(",") if p]
    stores = [s for s in args.peer_stores.split(",") if s]
    if unknown := set(stores) - set(PEER_STORES):
        parser.error(f"unknown peer store(s): {', '.join(sorted(unknown))} (memory or redis)")
    if "redis" in stores:
        require_redis(args.redis_url)
    count = WARMUP + int(args.seconds * args.max_rate)

    version = ensure_installed()
    node = subprocess.run(
        [executable("node"), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    print(
        f"Peer: oidc-provider {version} on node {node}, client_credentials + private_key_jwt (EdDSA), "
        f"JWT access tokens (EdDSA); {args.concurrency} connections, {args.seconds:g} s measured after a "
        f"5 s warm-up, {os.cpu_count()} cores shared with the load generator"
    )
    identities = [(f"agent-{i}", Ed25519PrivateKey.generate()) for i in range(args.agents)]
    peers: dict[tuple[int, str], tuple[float, float, float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="discretion-peer-") as work_dir:
        for processes in process_counts:
            for store in stores:
                peers[processes, store] = run_peer(processes, store, identities, args, count, Path(work_dir))
    ours = run_discretion(args, count) if args.with_discretion else None

    print()
    print(
        "Caveats: the peer keeps no durable log of what it issued (in memory it forgets everything at a "
        "restart; Redis keeps only what has not expired, and no order); in memory its client-assertion "
        "replay cache is a per-process LRU, not shared by cluster workers; it does no per-user grant, "
        "blocklist or policy check. Ours writes every grant with its log record in the same transaction. "
        "CPU figures are the server processes' only (not PostgreSQL's, not Redis's). The machine is "
        "shared: figures are noisy, compare only within one run."
    )
    if ours is not None:
        rate, p99, cpu, _ = ours
        for (processes, store), (peer_rate, peer_p99, peer_cpu, _) in peers.items():
            print(
                f"ours ({args.replicas}x{args.workers} workers) / peer ({processes} process(es), {store}): "
                f"grants/s {rate / peer_rate:.2f}  p99 {p99:.1f} vs {peer_p99:.1f} ms  "
                f"CPU/grant {cpu:.2f} vs {peer_cpu:.2f} ms ({cpu / peer_cpu:.2f})"
            )


if __name__ == "__main__":
    main()
