"""Resilience against a real broker: normal agents and attackers in real time, then the export.

Starts `discretion serve` (2 workers, SQLite, resilience enforcing, 1-second rounds), registers
three organizations of normal agents that users have granted, and runs each at one request every
1.5-3.5 s with ordinary refusals. After a warm-up, one attacker of each kind that shows within
a minute starts: subject enumeration, scope probing, resource probing (unregistered resources),
replayed assertions, a refusal burst and a rate spike (a new agent asking for the same token at
`--spike-rate` requests/s, up to 8 in flight; the rate it achieved is printed, since a loaded
machine may not let it reach the target). It reports, per attacker, how many of its
requests it sent before the detection and the delay between the triggering event and the
detection being visible at `GET /v1/detections`; for normal agents, any throttle or quarantine;
and whether `resilience scan` of the auditor export finds exactly the detections the broker made.

    .venv/bin/python benchmarks/resilience_live.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import secrets
import sys
import time
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from broker.resilience.scan import read_export, scan
from examples.broker_process import BrokerProcess

RESOURCE = "https://calendar.example/api"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ATTACKS = (
    "subject_enumeration",
    "scope_probing",
    "resource_probing",
    "replay_probing",
    "refusal_burst",
    "rate_spike",
)


class Agent:
    """A registered agent that signs its own client assertions."""

    def __init__(self, client_id: str, org: str) -> None:
        self.client_id, self.org = client_id, org
        self.key = Ed25519PrivateKey.generate()
        self.sent: list[float] = []

    def jwk(self) -> dict[str, str]:
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
            "kid": "k1",
        }

    def form(self, issuer: str, **params: str) -> dict[str, str]:
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": issuer,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + 120,
        }
        assertion = jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": "k1"})
        return {
            "grant_type": "client_credentials",
            "resource": RESOURCE,
            "scope": "calendar:read",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
            **params,
        }


def setup(
    broker: BrokerProcess, normal: list[Agent], attackers: dict[str, Agent], users: int
) -> dict[str, str]:
    admin_key = broker.create_admin_key()
    headers = {"Authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=broker.url, headers=headers, timeout=30) as admin:
        holder = Agent("holder", "Holder Inc")
        everyone = [holder, *normal, *attackers.values()]
        for agent in everyone:
            body = {
                "client_id": agent.client_id,
                "name": agent.client_id,
                "organization": agent.org,
                "locale": "FR",
                "jwks": {"keys": [agent.jwk()]},
                "resource_uris": [RESOURCE] if agent is holder else [],
            }
            admin.post("/v1/agents", json=body).raise_for_status()
        for u in range(users):
            key = admin.post("/v1/users", json={"user_id": f"user-{u}"}).raise_for_status().json()["api_key"]
            with httpx.Client(base_url=broker.url, headers={"Authorization": f"Bearer {key}"}) as user:
                for agent in [*normal, *attackers.values()]:
                    grant = {
                        "agent": agent.client_id,
                        "resource": RESOURCE,
                        "scopes": ["calendar:read"],
                        "max_ttl_seconds": 600,
                    }
                    user.post("/v1/me/grants", json=grant).raise_for_status()
        # A user who granted nobody: requests for them are refused (no_grant), the same subject each time.
        admin.post("/v1/users", json={"user_id": "stranger-0"}).raise_for_status()
        auditor = admin.post("/v1/auditors", json={"name": "bench"}).raise_for_status().json()["api_key"]
    return {"admin": admin_key, "auditor": auditor}


async def normal_traffic(
    http: httpx.AsyncClient, broker: BrokerProcess, agent: Agent, until: float, users: int, rng: random.Random
) -> dict[int, int]:
    statuses: dict[int, int] = {}
    while time.time() < until:
        subject = f"user-{rng.randrange(users)}" if rng.random() > 0.05 else f"stranger-{rng.randrange(3)}"
        response = await http.post("/oauth2/token", data=agent.form(broker.issuer, subject=subject))
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        await asyncio.sleep(rng.uniform(1.5, 3.5))
    return statuses


async def flood(
    http: httpx.AsyncClient, broker: BrokerProcess, agent: Agent, until: float, rate: float
) -> None:
    """The rate-spike attacker: one request every 1/rate seconds, at most 8 in flight."""
    in_flight: set[asyncio.Future[httpx.Response]] = set()
    due = time.time()
    while time.time() < until:
        due = max(due + 1.0 / rate, time.time())
        await asyncio.sleep(max(0.0, due - time.time()))
        if len(in_flight) >= 8:
            _, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        agent.sent.append(time.time())
        form = agent.form(broker.issuer, subject="user-1")
        in_flight.add(asyncio.ensure_future(http.post("/oauth2/token", data=form)))
    if in_flight:
        await asyncio.wait(in_flight)


async def attack(
    http: httpx.AsyncClient,
    broker: BrokerProcess,
    kind: str,
    agent: Agent,
    until: float,
    rng: random.Random,
    spike_rate: float,
) -> None:
    if kind == "rate_spike":
        await flood(http, broker, agent, until, spike_rate)
        return
    n = 0
    replayed = agent.form(broker.issuer, subject="user-0")
    while time.time() < until:
        n += 1
        if kind == "subject_enumeration":
            form = agent.form(broker.issuer, subject=f"probe-{n}")
        elif kind == "scope_probing":
            form = agent.form(broker.issuer, subject="user-0", scope=f"calendar:read calendar:probe{n}")
        elif kind == "resource_probing":
            form = agent.form(broker.issuer, subject="user-0", resource=f"https://probe{n}.example/api")
        elif kind == "replay_probing":
            form = replayed
        else:
            form = agent.form(broker.issuer, subject="stranger-0")  # refusal_burst
        agent.sent.append(time.time())
        await http.post("/oauth2/token", data=form)
        await asyncio.sleep(rng.uniform(0.3, 0.7))


async def watch(http: httpx.AsyncClient, keys: dict[str, str], until: float, seen: dict[str, float]) -> None:
    headers = {"Authorization": f"Bearer {keys['admin']}"}
    while time.time() < until:
        listed = (await http.get("/v1/detections", params={"limit": 1000}, headers=headers)).json()[
            "detections"
        ]
        for d in listed:
            seen.setdefault(d["id"], time.time())
        await asyncio.sleep(0.2)


async def run(broker: BrokerProcess, args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    orgs = ["Alpha Travel", "Beta Health", "Gamma Retail"]
    normal = [Agent(f"normal-{o}-{i}", org) for o, org in enumerate(orgs) for i in range(args.per_org)]
    attackers = {kind: Agent(f"attacker-{kind}", orgs[i % 3]) for i, kind in enumerate(ATTACKS)}
    keys = setup(broker, normal, attackers, args.users)
    start = time.time()
    end = start + args.seconds
    seen: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=broker.url, timeout=30) as http:
        tasks = [normal_traffic(http, broker, a, end, args.users, rng) for a in normal]
        await asyncio.sleep(0)
        warm = start + args.warmup

        async def later(kind: str, agent: Agent) -> None:
            await asyncio.sleep(max(0.0, warm - time.time()))
            await attack(http, broker, kind, agent, end, rng, args.spike_rate)

        results = await asyncio.gather(
            *tasks, *(later(k, a) for k, a in attackers.items()), watch(http, keys, end + 5, seen)
        )
        headers = {"Authorization": f"Bearer {keys['admin']}"}
        detections = (await http.get("/v1/detections", params={"limit": 1000}, headers=headers)).json()[
            "detections"
        ]
        export = (
            await http.get("/v1/audit/export", headers={"Authorization": f"Bearer {keys['auditor']}"})
        ).text
    events = list(read_export(export.splitlines()))
    times = {e["seq"]: e["time_ms"] / 1000 for e in events}
    normal_ids = {a.client_id for a in normal}
    print(
        f"{len(normal)} normal agents, {sum(sum(r.values()) for r in results[: len(normal)])} "
        "normal requests, "
        f"{len(events)} log events in {args.seconds:.0f} s"
    )
    for kind, agent in attackers.items():
        hits = [d for d in detections if agent.client_id in d["agents"] and d["kind"] == kind]
        if not hits:
            print(f"  {kind:22} NOT DETECTED ({len(agent.sent)} requests)")
            continue
        d = min(hits, key=lambda h: h["seq"])
        trigger = times.get(d["evidence"].get("trigger_seq", d["seq"]), times.get(d["seq"], 0.0))
        sent = sum(1 for t in agent.sent if t <= trigger + 0.001)
        print(
            f"  {kind:22} detected after {sent:4d} requests; visible {seen[d['id']] - trigger:5.2f} s after "
            f"its trigger; action {d['action']}"
        )
    spiker = attackers["rate_spike"].sent
    if len(spiker) > 1:
        achieved = (len(spiker) - 1) / (spiker[-1] - spiker[0])
        first10 = sum(1 for t in spiker if t <= spiker[0] + 10) / 10
        print(
            f"  rate_spike attacker: target {args.spike_rate:.1f}/s, achieved {achieved:.1f}/s over "
            f"{len(spiker)} requests ({first10:.1f}/s in its first 10 s)"
        )
    acted = {a for d in detections for a in d["agents"] if a in normal_ids and d["action"] != "observe"}
    observed = {a for d in detections for a in d["agents"] if a in normal_ids and d["action"] == "observe"}
    statuses: dict[int, int] = {}
    for r in results[: len(normal)]:
        for code, n in r.items():
            statuses[code] = statuses.get(code, 0) + n
    print(
        f"  normal agents throttled or quarantined: {len(acted)} {sorted(acted)}; observed only: "
        f"{len(observed - acted)}; their answers {dict(sorted(statuses.items()))}"
    )
    live = {d["id"] for d in detections}
    scanned = {d.id for d in scan(events)}
    print(
        f"  scan of the export: {len(scanned)} detections, live {len(live)}, identical"
        if scanned == live
        else f"DIFFERENT: missing {live - scanned}, extra {scanned - live}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--per-org", type=int, default=5)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--spike-rate", type=float, default=20.0, help="the rate-spike attacker's target rate"
    )
    args = parser.parse_args()
    env = {"DISCRETION_RESILIENCE_MODE": "enforce", "DISCRETION_RESILIENCE_POLL_SECONDS": "1"}
    broker = BrokerProcess(workers=2, extra_env=env)
    broker.start(timeout=180.0)  # a loaded shared machine can take a minute to start two workers
    try:
        asyncio.run(run(broker, args))
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
