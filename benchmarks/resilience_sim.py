"""A simulated week of grant-log events: normal agents and attackers of every detection kind.

Normal agents keep their organization's hours (some organizations run around the clock), work at
their own rate with bursts, get ordinary refusals (a user who never granted, an unknown subject, a
scope the grant lacks, retried), and new ones join now and then. Attackers behave normally until
their attack starts, then attack fast, slowly, at their normal rate and hours ("mimic"), or at
that pace with every other request an ordinary one ("mixed"). The events have the shape the
broker writes (broker/grantlog/events.py), so the same detector reads them
(`broker.resilience.scan`). Everything is drawn from one seeded RNG.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

DAY = 86400.0
HOUR = 3600.0
KINDS = (
    "rate_spike",
    "refusal_burst",
    "subject_enumeration",
    "scope_probing",
    "resource_probing",
    "replay_probing",
    "sleepless",
    "off_cluster",
    "coordinated_agents",
    "new_agent_surge",
    "resource_spike",
)
PACES = ("fast", "slow", "mimic", "mixed")


@dataclass
class Org:
    """An organization: its resources, scopes and working hours (None: around the clock)."""

    name: str
    resources: list[str]
    start_hour: int | None
    length: int


@dataclass
class Agent:
    """A simulated agent."""

    client_id: str
    org: Org
    rate: float  # requests per active hour
    refusal: float
    users: list[str]
    joined: float
    shift: int
    private: str | None = None


@dataclass
class Attack:
    """One attacker instance: the ground truth a detection is scored against."""

    kind: str
    pace: str
    agents: list[str]
    start: float
    requests: list[tuple[float, str]] = field(default_factory=list)  # (time, agent) of attack requests


@dataclass
class Week:
    """The simulated log and its ground truth."""

    events: list[dict[str, Any]]
    attacks: list[Attack]
    normal: list[str]
    unseen: list[Attack] = field(default_factory=list)  # attack styles the detector was not tuned on


class _Builder:
    def __init__(self, seed: int, days: int) -> None:
        self.rng = random.Random(seed)
        self.days = days
        self.end = days * DAY
        self.reqs: list[tuple[float, int, dict[str, Any]]] = []  # (time, order, event without seq)
        self.replays: dict[tuple[int, str], int] = {}  # (10-second window, agent) -> count
        self.invalid: dict[tuple[int, str], int] = {}
        self.order = 0

    def add(self, t: float, event: dict[str, Any]) -> None:
        if 0 <= t < self.end:
            self.order += 1
            self.reqs.append((t, self.order, event))

    def token(
        self,
        t: float,
        agent: Agent,
        *,
        resource: str,
        scopes: list[str],
        allow: bool,
        subject: str | None,
        reason: str = "granted",
    ) -> None:
        self.add(
            t,
            {
                "type": "token.issued" if allow else "token.denied",
                "actors": [agent.client_id],
                "subject": subject,
                "resource": resource,
                "scopes_requested": scopes,
                "scopes_granted": scopes if allow else [],
                "decision": "allow" if allow else "deny",
                "reasons": [reason],
                "details": {},
            },
        )

    def normal_request(self, t: float, agent: Agent) -> None:
        rng = self.rng
        resource = agent.private if agent.private and rng.random() < 0.1 else rng.choice(agent.org.resources)
        scopes = [f"{resource.rsplit('/', 1)[-1]}:read"]
        subject = rng.choice(agent.users)
        if rng.random() >= agent.refusal:
            self.token(t, agent, resource=resource, scopes=scopes, allow=True, subject=subject)
            return
        roll = rng.random()
        if roll < 0.5:
            # A user who never granted (or revoked), retried a few times.
            for k in range(rng.choice((1, 1, 2, 3, 5))):
                self.token(
                    t + 2 * k,
                    agent,
                    resource=resource,
                    scopes=scopes,
                    allow=False,
                    subject=subject,
                    reason="no_grant",
                )
        elif roll < 0.75:
            self.token(
                t,
                agent,
                resource=resource,
                scopes=[*scopes, scopes[0].replace(":read", ":write")],
                allow=False,
                subject=subject,
                reason="scope_not_granted",
            )
        else:
            self.token(
                t,
                agent,
                resource=resource,
                scopes=scopes,
                allow=False,
                subject=None,
                reason="unknown_subject",
            )
        if rng.random() < 0.01:
            self.replay(t + 1, agent.client_id)

    def replay(self, t: float, client_id: str) -> None:
        key = (int(t // 10), client_id)
        self.replays[key] = self.replays.get(key, 0) + 1

    def active(self, agent: Agent, t: float) -> bool:
        org = agent.org
        if org.start_hour is None:
            return True
        hour = (int(t // HOUR) + agent.shift) % 24
        return (hour - org.start_hour) % 24 < org.length

    def normal_traffic(self, agent: Agent, until: float) -> None:
        """The agent's ordinary week up to `until`: Poisson arrivals in its hours, bursts, and a
        little off-hours work."""
        rng = self.rng
        hour = int(agent.joined // HOUR)
        while hour * HOUR < min(until, self.end):
            base = hour * HOUR
            on = self.active(agent, base)
            rate = agent.rate if on else (agent.rate / 10 if rng.random() < 0.03 else 0.0)
            t = base + rng.expovariate(rate / HOUR) if rate else base + HOUR
            while t < base + HOUR:
                if t >= agent.joined and t < until:
                    self.normal_request(t, agent)
                t += rng.expovariate(rate / HOUR)
            if on and rng.random() < 0.05:
                start, size = base + rng.uniform(0, HOUR), rng.randint(15, 50)
                span = rng.uniform(60, 180)
                for k in range(size):
                    if start + k * span / size < until:
                        self.normal_request(start + k * span / size, agent)
            hour += 1

    def events(self) -> list[dict[str, Any]]:
        for (window, cid), count in self.replays.items():
            self.add(
                window * 10 + 10,
                {"type": "resilience.signals", "actors": [], "details": {"replays": {cid: count}}},
            )
        for (window, cid), count in self.invalid.items():
            self.add(
                window * 10 + 10,
                {"type": "resilience.signals", "actors": [], "details": {"invalid_target": {cid: count}}},
            )
        self.reqs.sort(key=lambda r: (r[0], r[1]))
        out = []
        for seq, (t, _, body) in enumerate(self.reqs, start=1):
            out.append(
                {
                    "seq": seq,
                    "time_ms": round(t * 1000),
                    "subject": None,
                    "resource": None,
                    "scopes_requested": [],
                    "scopes_granted": [],
                    "decision": None,
                    "reasons": [],
                    **body,
                }
            )
        return out


def simulate(seed: int, *, days: int = 7, orgs: int = 12, per_kind: int = 8, unseen: int = 0) -> Week:
    """A week of traffic from `seed`: about 10 normal agents per organization and `per_kind`
    attackers of every kind (paces rotating fast, slow, mimic, mixed); with `unseen`, that many
    attackers of each style in `UNSEEN` as well (drawn after everything else, so the rest of the
    week is the same with or without them)."""
    b = _Builder(seed, days)
    rng = b.rng
    all_orgs = []
    for o in range(orgs):
        around_clock = o % 4 == 3
        resources = [f"https://svc{o}-{r}.example/api{r}" for r in range(rng.randint(2, 3))]
        all_orgs.append(
            Org(f"org{o}", resources, None if around_clock else rng.randint(6, 10), rng.randint(8, 12))
        )
    normal: list[Agent] = []
    serial = 0

    def make(org: Org, joined: float, prefix: str = "agent") -> Agent:
        nonlocal serial
        serial += 1
        users = [f"u{rng.randrange(5000)}" for _ in range(rng.randint(20, 200))]
        agent = Agent(
            f"{prefix}-{serial}",
            org,
            rng.uniform(5, 60),
            rng.uniform(0.01, 0.08),
            users,
            joined,
            rng.randint(-1, 1),
        )
        if rng.random() < 0.05:
            agent.private = f"https://private-{serial}.example/api"
        b.add(
            max(0.0, joined - 1),
            {"type": "agent.registered", "actors": [agent.client_id], "details": {"organization": org.name}},
        )
        return agent

    for org in all_orgs:
        for _ in range(rng.randint(6, 14)):
            normal.append(make(org, 0.0))
    # New agents join through the week, one to three a day.
    for day in range(days):
        for _ in range(rng.randint(1, 3)):
            normal.append(make(rng.choice(all_orgs), day * DAY + rng.uniform(0, DAY)))
    for agent in normal:
        b.normal_traffic(agent, b.end)
        if agent.joined > 0 and rng.random() < 0.5:
            # A new agent's first batch: a backfill of 100-600 requests at 1-4 a second.
            t, rate = agent.joined, rng.uniform(1.0, 4.0)
            for _ in range(rng.randint(100, 600)):
                t += rng.expovariate(rate)
                b.normal_request(t, agent)

    attacks: list[Attack] = []
    resting = [o for o in all_orgs if o.start_hour is not None]
    for kind in KINDS:
        for i in range(per_kind):
            pace = PACES[i % len(PACES)]
            start = rng.uniform(2 * DAY, (days - 2) * DAY)
            attacks.append(_attack(b, kind, pace, start, all_orgs, resting, make))
    extra = [
        _unseen(b, style, rng.uniform(2 * DAY, (days - 2) * DAY), all_orgs, make)
        for _ in range(unseen)
        for style in UNSEEN
    ]
    return Week(b.events(), attacks, [a.client_id for a in normal], extra)


# Attack styles added after the detector's version 3 rules were written, scored on their own:
# a resource spike spread thin over 20 agents (about one request a minute each, for half an hour),
# a rate spike that ramps up over half an hour to 8 requests/s, and a brand-new agent that floods at
# 8 requests/s with ordinary-looking requests (many subjects).
UNSEEN = ("spread", "ramp", "new_flood")


def _unseen(b: _Builder, style: str, start: float, orgs: list[Org], make: Any) -> Attack:
    rng = b.rng
    if style == "spread":
        members = [make(orgs[(k * 5 + int(start)) % len(orgs)], 0.0, "spread") for k in range(20)]
        for member in members:
            b.normal_traffic(member, b.end)
        target = rng.choice(rng.choice(orgs).resources)
        attack = Attack("resource_spike", style, [m.client_id for m in members], start)
        for member in members:
            t = start + rng.uniform(0, 60)
            while t < start + 1800:
                allow = rng.random() < 0.5
                b.token(
                    t,
                    member,
                    resource=target,
                    scopes=[f"{target.rsplit('/', 1)[-1]}:read"],
                    allow=allow,
                    subject=rng.choice(member.users),
                    reason="granted" if allow else "no_grant",
                )
                attack.requests.append((t, member.client_id))
                t += rng.expovariate(1 / 60)
        attack.requests.sort()
        return attack
    if style == "ramp":
        agent = make(rng.choice(orgs), 0.0, "ramp")
        b.normal_traffic(agent, start)
        attack = Attack("rate_spike", style, [agent.client_id], start)
        t = start
        while len(attack.requests) < 600:
            rate = max(agent.rate / HOUR, 8.0 * min(1.0, (t - start) / 1800))
            t += rng.expovariate(rate)
            b.normal_request(t, agent)
            attack.requests.append((t, agent.client_id))
        return attack
    # new_flood: registered at the start, then 400 ordinary-looking requests at 8 a second.
    agent = make(rng.choice(orgs), start, "flood")
    attack = Attack("rate_spike", style, [agent.client_id], start)
    t = start
    for _ in range(400):
        t += rng.expovariate(8.0)
        b.normal_request(t, agent)
        attack.requests.append((t, agent.client_id))
    return attack


def _paced(b: _Builder, agent: Agent, pace: str, start: float, count: int) -> list[float]:
    """When an attacker sends its `count` attack requests."""
    rng = b.rng
    times, t = [], start
    while len(times) < count and t < b.end:
        if pace == "fast":
            t += rng.expovariate(2.0)
        elif pace == "slow":
            t += rng.expovariate(1 / 600)
        else:  # mimic and mixed: at its normal rate, in its normal hours
            t += rng.expovariate(agent.rate / HOUR)
            while not b.active(agent, t):
                t += HOUR
        times.append(t)
    return times


def _attack(
    b: _Builder, kind: str, pace: str, start: float, orgs: list[Org], resting: list[Org], make: Any
) -> Attack:
    rng = b.rng
    org = rng.choice(resting if kind in ("sleepless", "off_cluster") else orgs)
    if kind == "new_agent_surge":
        n = rng.choice((12, 20, 40))
        spread = {"fast": 300.0, "slow": 3000.0, "mimic": 1800.0, "mixed": 1200.0}[pace]
        attack = Attack(kind, pace, [], start)
        for _ in range(n):
            agent = make(rng.choice(orgs), start + rng.uniform(0, spread), "surge")
            attack.agents.append(agent.client_id)
            t = agent.joined
            b.normal_request(t, agent)
            attack.requests.append((t, agent.client_id))
            b.normal_traffic(agent, b.end)
        return attack
    if kind == "resource_spike":
        # Several agents (of several organizations, each with an ordinary history) turn on one
        # resource at once: 400 requests over 5 minutes (fast), 30 (slow), or 20 at Poisson
        # timing within the target's working hours, half of them ordinary requests (mixed).
        n = rng.choice((4, 6, 10))
        members = [make(orgs[(k * 7 + int(start)) % len(orgs)], 0.0, "spike") for k in range(n)]
        for member in members:
            b.normal_traffic(member, b.end)
        target_org = rng.choice(orgs)
        target = rng.choice(target_org.resources)
        span = {"fast": 300.0, "slow": 1800.0, "mimic": 1200.0, "mixed": 1200.0}[pace]
        attack = Attack(kind, pace, [m.client_id for m in members], start)
        t = start
        while len(attack.requests) < 400 and t < b.end:
            t += rng.expovariate(400 / span)
            member = rng.choice(members)
            attack.requests.append((t, member.client_id))
            if pace == "mixed" and rng.random() < 0.5:
                b.normal_request(t, member)
                continue
            allow = rng.random() < 0.5
            b.token(
                t,
                member,
                resource=target,
                scopes=[f"{target.rsplit('/', 1)[-1]}:read"],
                allow=allow,
                subject=rng.choice(member.users),
                reason="granted" if allow else "no_grant",
            )
        return attack
    if kind == "coordinated_agents":
        n = rng.choice((6, 8, 12))
        members = [make(orgs[(k * 5 + int(start)) % len(orgs)], 0.0, "coord") for k in range(n)]
        for member in members:
            b.normal_traffic(member, b.end)
        target = rng.choice(orgs).resources[0]
        crafted = [f"{target.rsplit('/', 1)[-1]}:read", f"admin:export-{rng.randrange(10**6)}"]
        attack = Attack(kind, pace, [m.client_id for m in members], start)
        for member in members:
            offset = {"fast": 120.0, "slow": 3000.0, "mimic": 1800.0, "mixed": 600.0}[pace]
            for k in range(3):
                t = start + rng.uniform(0, offset) + k * offset
                b.token(
                    t,
                    member,
                    resource=target,
                    scopes=crafted,
                    allow=False,
                    subject=rng.choice(member.users),
                    reason="no_grant",
                )
                attack.requests.append((t, member.client_id))
        return attack
    agent = make(org, 0.0, "mallory")
    b.normal_traffic(agent, start)
    attack = Attack(kind, pace, [agent.client_id], start)
    if kind == "sleepless":
        # Normal pace, but every hour of the day, from the attack on.
        saved = agent.org
        agent.org = Org(saved.name, saved.resources, None, 24)
        t = start
        while t < min(b.end, start + 2 * DAY):
            t += rng.expovariate(agent.rate / HOUR)
            b.normal_request(t, agent)
            attack.requests.append((t, agent.client_id))
        agent.org = saved
        return attack
    count = 400
    if kind == "rate_spike":
        rate = {"fast": 8.0, "slow": 1.5, "mimic": 3.0, "mixed": 2.0}[pace]
        t = start
        for _ in range(count):
            t += rng.expovariate(rate)
            b.normal_request(t, agent)
            attack.requests.append((t, agent.client_id))
        return attack
    other = [o for o in orgs if o is not org]
    probes = 0
    for t in _paced(b, agent, pace, start, count):
        attack.requests.append((t, agent.client_id))
        if pace == "mixed" and rng.random() < 0.5:
            b.normal_request(t, agent)  # every other one looks ordinary
            continue
        probes += 1
        resource = rng.choice(org.resources)
        read = f"{resource.rsplit('/', 1)[-1]}:read"
        if kind == "refusal_burst":
            if rng.random() < 0.85:
                b.token(
                    t,
                    agent,
                    resource=resource,
                    scopes=[read],
                    allow=False,
                    subject=agent.users[probes % 2],
                    reason="no_grant",
                )
            else:
                b.normal_request(t, agent)
        elif kind == "subject_enumeration":
            if rng.random() < 0.5:
                b.token(
                    t,
                    agent,
                    resource=resource,
                    scopes=[read],
                    allow=False,
                    subject=None,
                    reason="unknown_subject",
                )
            else:
                b.token(
                    t,
                    agent,
                    resource=resource,
                    scopes=[read],
                    allow=False,
                    subject=f"u{rng.randrange(5000)}",
                    reason="no_grant",
                )
        elif kind == "scope_probing":
            probe = rng.choice(
                (
                    "write",
                    "delete",
                    "admin",
                    "export",
                    "share",
                    "*",
                    "manage",
                    "owner",
                    "billing",
                    "keys",
                    "audit",
                    "sudo",
                )
            )
            b.token(
                t,
                agent,
                resource=resource,
                scopes=[read, f"{read.split(':')[0]}:{probe}"],
                allow=False,
                subject=rng.choice(agent.users),
                reason="scope_not_granted",
            )
        elif kind == "resource_probing":
            if rng.random() < 0.3:
                key = (int(t // 10), agent.client_id)
                b.invalid[key] = b.invalid.get(key, 0) + 1
            else:
                target = rng.choice(rng.choice(other).resources)
                b.token(
                    t,
                    agent,
                    resource=target,
                    scopes=[f"{target.rsplit('/', 1)[-1]}:read"],
                    allow=False,
                    subject=rng.choice(agent.users),
                    reason="no_grant",
                )
        elif kind == "replay_probing":
            b.replay(t, agent.client_id)
        elif kind == "off_cluster":
            target = rng.choice(rng.choice(other).resources)
            b.token(
                t,
                agent,
                resource=target,
                scopes=[f"{target.rsplit('/', 1)[-1]}:read"],
                allow=True,
                subject=rng.choice(agent.users),
            )
    return attack
