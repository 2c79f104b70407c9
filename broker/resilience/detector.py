"""The deterministic detector: grant-log events in, detections out.

Its only inputs are the events, in log order, and its only clock is their `time_ms`, so feeding
the same events gives the same detections whether they arrive one at a time in a live broker or
all at once from an auditor's export (`discretion resilience scan`). Its state is plain data that
round-trips through JSON (`snapshot` / `restore`), so replicas share it through the database and
it survives restarts. Events it writes itself (`resilience.*` except signals) are not inputs.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from broker.resilience.kinds import DEFAULT_ACTIONS, DETECTOR_VERSION, Action, DetectorConfig, Kind

TOKEN_EVENTS = frozenset({"token.issued", "token.denied", "token.delegated", "token.delegation_denied"})
SIGNALS = "resilience.signals"
RELEASED = "agent.released"
_SUBJECT_REASONS = frozenset({"unknown_subject", "no_grant"})
_MAX_KEYS = 20_000  # coordinated-request shapes remembered (oldest forgotten first)
_MAX_SET = 64  # agents remembered per shape or resource: enough to tell "some" from "none"
_HOURS_KEPT = 48
_MAX_RESOURCES = 4096  # resources watched for spikes (registered ones; oldest forgotten first)
_WEEK_HOURS = 168
_MAX_KNOWN = 512  # agents remembered per resource as its users (past that, none is new to it)
_MAX_WINDOW_AGENTS = 256  # agents remembered per resource in its short window
_MAX_SUBJECTS = 512  # subjects remembered per agent as ones it was issued a token for


def detection_id(kind: str, agents: tuple[str, ...], seq: int) -> str:
    """The id of a detection: the same wherever the detector runs on the same log."""
    return hashlib.sha256(f"{kind}|{','.join(agents)}|{seq}".encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Detection:
    """One finding, with the evidence that led to it."""

    kind: Kind
    agents: tuple[str, ...]
    seq: int
    time_ms: int
    action: Action
    evidence: dict[str, Any]

    @property
    def id(self) -> str:
        """See `detection_id`."""
        return detection_id(self.kind, self.agents, self.seq)

    def to_json(self) -> dict[str, Any]:
        """The detection as `resilience scan` prints it and the API serves it."""
        return {
            "id": self.id,
            "kind": str(self.kind),
            "agents": list(self.agents),
            "seq": self.seq,
            "time_ms": self.time_ms,
            "action": str(self.action),
            "evidence": self.evidence,
        }


@dataclass(slots=True)
class _Agent:
    org: str = ""
    first: float = -1.0
    requests: int = 0
    fast: float = 0.0
    slow: float = 0.0
    rate_t: float = 0.0
    slow_updated: float = 0.0
    # Its busiest moments: the highest fast rate of the current hour, of the hour before (held back
    # so that a spike under way is not its own baseline), and of the hours before that (decayed).
    peak_hour: int = -1
    hour_peak: float = 0.0
    held_peak: float = 0.0
    peak: float = 0.0
    # (denied, subject key, resource, scopes never granted, off-cluster) per decision, newest last.
    recent: deque[tuple[bool, str, str, tuple[str, ...], bool]] = field(
        default_factory=lambda: deque(maxlen=100)
    )
    granted: set[str] = field(default_factory=set)
    subjects: set[str] = field(default_factory=set)  # short hashes of subjects it got tokens for
    hours: dict[int, list[int]] = field(default_factory=dict)  # hour -> [requests, refusals]
    replays: deque[tuple[float, int]] = field(default_factory=deque)
    invalid_targets: int = 0
    last: dict[str, float] = field(default_factory=dict)  # kind -> when last detected
    quarantined: bool = False
    # What it asked for (subject, resource, scopes), its last requests, while it is young only.
    shapes: deque[str] = field(default_factory=deque)

    def dump(self) -> dict[str, Any]:
        return {
            "org": self.org,
            "first": self.first,
            "requests": self.requests,
            "fast": self.fast,
            "slow": self.slow,
            "rate_t": self.rate_t,
            "slow_updated": self.slow_updated,
            "peaks": [self.peak_hour, self.hour_peak, self.held_peak, self.peak],
            "recent": [list(r) for r in self.recent],
            "granted": sorted(self.granted),
            "subjects": sorted(self.subjects),
            "hours": {str(h): c for h, c in self.hours.items()},
            "replays": [list(r) for r in self.replays],
            "invalid_targets": self.invalid_targets,
            "last": self.last,
            "quarantined": self.quarantined,
            "shapes": list(self.shapes),
        }

    @classmethod
    def load(cls, data: dict[str, Any], window: int, shapes: int) -> _Agent:
        agent = cls(
            org=data["org"],
            first=data["first"],
            requests=data["requests"],
            fast=data["fast"],
            slow=data["slow"],
            rate_t=data["rate_t"],
            slow_updated=data["slow_updated"],
            granted=set(data["granted"]),
            subjects=set(data.get("subjects", ())),
            hours={int(h): c for h, c in data["hours"].items()},
            replays=deque((t, n) for t, n in data["replays"]),
            invalid_targets=data["invalid_targets"],
            last=dict(data["last"]),
            quarantined=data["quarantined"],
        )
        agent.recent = deque(((d, s, r, tuple(sc), o) for d, s, r, sc, o in data["recent"]), maxlen=window)
        agent.shapes = deque(data.get("shapes", ()), maxlen=shapes)
        agent.peak_hour, agent.hour_peak, agent.held_peak, agent.peak = data.get("peaks", (-1, 0.0, 0.0, 0.0))
        return agent


class Detector:
    """Feeds on grant-log events (as in the export: the event body, a dict) and yields detections."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        self.digest = self.config.digest()
        self._window = max(
            self.config.refusal_window,
            self.config.enum_window,
            self.config.scope_window,
            self.config.resource_window,
            self.config.off_cluster_window,
        )
        self.start: float | None = None
        self.last_seq = 0
        self.agents: dict[str, _Agent] = {}
        self.orgs: dict[str, list[str]] = {}
        self.org_resources: dict[str, dict[str, list[str]]] = {}
        self.established: dict[str, int] = {}
        self.shapes: dict[str, dict[str, Any]] = {}
        self.surge_hour = -1
        self.surge_new: list[list[Any]] = []  # [when, agent] of first requests in the long window
        self.surge_baseline = 0.0
        self.surge_updated = 0.0
        self.surge_fired = -1.0
        self.surge_hours: list[int] = []
        self.resources: dict[str, dict[str, Any]] = {}

    # -- state --------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-ready data."""
        return {
            "version": DETECTOR_VERSION,
            "config": self.digest,
            "start": self.start,
            "last_seq": self.last_seq,
            "agents": {cid: a.dump() for cid, a in self.agents.items()},
            "orgs": self.orgs,
            "org_resources": self.org_resources,
            "established": self.established,
            "shapes": self.shapes,
            "surge": [
                self.surge_hour,
                self.surge_new,
                self.surge_baseline,
                self.surge_updated,
                self.surge_fired,
                self.surge_hours,
            ],
            "resources": self.resources,
        }

    @classmethod
    def restore(cls, data: dict[str, Any], config: DetectorConfig | None = None) -> Detector:
        """A detector continuing from `snapshot()`; a state of another configuration starts over
        from the log (the caller replays it) rather than mixing two sets of thresholds."""
        detector = cls(config)
        if data.get("config") != detector.digest:
            raise ValueError("the stored detector state is of another configuration")
        detector.start = data["start"]
        detector.last_seq = data["last_seq"]
        detector.agents = {
            cid: _Agent.load(a, detector._window, detector.config.rate_repeat_window)
            for cid, a in data["agents"].items()
        }
        detector.orgs = data["orgs"]
        detector.org_resources = data["org_resources"]
        detector.established = data["established"]
        detector.shapes = data["shapes"]
        hour, new, baseline, updated, fired, hours = data["surge"]
        detector.surge_hours = list(hours)
        detector.surge_hour, detector.surge_new = hour, [list(n) for n in new]
        detector.surge_baseline, detector.surge_updated, detector.surge_fired = baseline, updated, fired
        detector.resources = data["resources"]
        return detector

    # -- feeding ------------------------------------------------------------------------------

    def feed(self, event: dict[str, Any]) -> list[Detection]:
        """One event, in log order; returns what it reveals (usually nothing)."""
        seq = int(event["seq"])
        if seq <= self.last_seq:
            return []  # already seen: feeding is idempotent across overlapping reads
        self.last_seq = seq
        kind = event["type"]
        t = event["time_ms"] / 1000.0
        if self.start is None:
            self.start = t
        if kind in TOKEN_EVENTS:
            actors = event.get("actors") or ()
            return self._decision(actors[-1], event, seq, t) if actors else []
        if kind == SIGNALS:
            return self._signals(event, seq, t)
        if kind == "agent.registered":
            org = str((event.get("details") or {}).get("organization") or "")
            for cid in event.get("actors") or ():
                self._agent(cid).org = org
                self._join(cid, org)
        elif kind == RELEASED:
            for cid in event.get("actors") or ():
                agent = self._agent(cid)
                agent.recent.clear()
                agent.replays.clear()
                agent.invalid_targets = 0
                agent.last.clear()
                agent.quarantined = False
        return []

    def _agent(self, cid: str) -> _Agent:
        agent = self.agents.get(cid)
        if agent is None:
            agent = self.agents[cid] = _Agent()
            agent.recent = deque(maxlen=self._window)
            agent.shapes = deque(maxlen=self.config.rate_repeat_window)
            self._join(cid, "")
        return agent

    def _join(self, cid: str, org: str) -> None:
        for members in self.orgs.values():
            if cid in members:
                members.remove(cid)
        self.orgs.setdefault(org, []).append(cid)

    def _decision(self, cid: str, event: dict[str, Any], seq: int, t: float) -> list[Detection]:
        cfg = self.config
        agent = self._agent(cid)
        found: list[Detection] = []
        if agent.first < 0:
            agent.first = t
            found += self._new_agent(cid, seq, t)
        agent.requests += 1
        if agent.requests == cfg.peer_min_requests:
            self.established[agent.org] = self.established.get(agent.org, 0) + 1
        # Decayed rates (requests per second); the slow one is the agent's own baseline.
        gap = max(0.0, t - agent.rate_t)
        agent.fast = agent.fast * math.exp(-gap / cfg.rate_fast_tau) + 1.0 / cfg.rate_fast_tau
        agent.slow = agent.slow * math.exp(-gap / cfg.rate_slow_tau) + 1.0 / cfg.rate_slow_tau
        agent.rate_t = max(agent.rate_t, t)
        agent.slow_updated = t
        denied = event.get("decision") != "allow"
        hour = int(t // 3600)
        if agent.peak_hour != hour:
            if agent.peak_hour >= 0:
                decay = 0.5 ** ((hour - agent.peak_hour) * 3600.0 / cfg.rate_peak_halflife)
                if hour - agent.peak_hour == 1:
                    agent.peak = max(agent.peak * decay, agent.held_peak)
                    agent.held_peak = agent.hour_peak
                else:
                    agent.peak = max(agent.peak * decay, agent.held_peak, agent.hour_peak)
                    agent.held_peak = 0.0
            agent.peak_hour, agent.hour_peak = hour, 0.0
        agent.hour_peak = max(agent.hour_peak, agent.fast)
        counts = agent.hours.get(hour)
        if counts is None:
            counts = agent.hours[hour] = [0, 0]
            for old in [h for h in agent.hours if h <= hour - _HOURS_KEPT]:
                del agent.hours[old]
            found += self._sleepless(cid, agent, hour, seq, t)
        counts[0] += 1
        counts[1] += denied
        resource = str(event.get("resource") or "")
        requested = [str(s) for s in event.get("scopes_requested") or ()]
        if not denied:
            agent.granted.update(str(s) for s in event.get("scopes_granted") or ())
        reasons = set(event.get("reasons") or ())
        subject = event.get("subject") or f"?{seq}"  # an unknown subject is a new one each time
        subject_key = ""
        if event.get("subject"):
            known_subject = _subject_hash(str(subject))
            if not denied:
                if len(agent.subjects) < _MAX_SUBJECTS:
                    agent.subjects.add(known_subject)
            elif reasons & _SUBJECT_REASONS and known_subject not in agent.subjects:
                # A subject it was issued tokens for before is not being discovered (a revoked or
                # narrowed grant): only subjects new to it count towards enumeration.
                subject_key = subject
        elif denied and reasons & _SUBJECT_REASONS:
            subject_key = subject  # unknown to the broker: a new one each time
        novel = tuple(s for s in requested if s not in agent.granted) if denied else ()
        off = self._off_cluster_request(cid, agent, resource, not denied)
        if t - agent.first < cfg.rate_history:
            agent.shapes.append(f"{subject}|{resource}|{' '.join(sorted(requested))}"[:256])
        elif agent.shapes:
            agent.shapes.clear()  # only a young agent's are needed (see `_rate`)
        agent.recent.append((denied, subject_key, resource if denied else "", novel, off))
        if agent.quarantined:
            return found
        if resource:
            found += self._resource_spike(cid, resource, seq, t)
        found += self._rate(cid, agent, seq, t)
        if denied:
            found += self._probing(cid, agent, seq, t)
            found += self._coordinated(cid, event, resource, requested, seq, t)
        elif resource or requested:
            self._shape(resource, requested, t)["allowed"] = True
        if off:
            found += self._off_cluster(cid, agent, seq, t)
        return found

    # -- per-agent kinds ----------------------------------------------------------------------

    def _detect(
        self,
        kind: Kind,
        agents: list[str],
        seq: int,
        t: float,
        features: dict[str, Any],
        thresholds: dict[str, Any],
        baseline: dict[str, Any],
    ) -> Detection:
        action = DEFAULT_ACTIONS[kind]
        for cid in agents:
            agent = self.agents[cid]
            agent.last[str(kind)] = t
            if action is Action.QUARANTINE:
                agent.quarantined = True
        evidence = {
            "features": features,
            "thresholds": thresholds,
            "baseline": baseline,
            "detector": {"version": DETECTOR_VERSION, "config": self.digest},
            "components": [
                "grant_log",
                "signals" if kind is Kind.REPLAY_PROBING else "decisions",
                "detector",
            ],
        }
        return Detection(kind, tuple(sorted(agents)), seq, round(t * 1000), action, evidence)

    def _cooling(self, agent: _Agent, kind: Kind, t: float) -> bool:
        last = agent.last.get(str(kind))
        return last is not None and t - last < self.config.cooldown

    def _rate(self, cid: str, agent: _Agent, seq: int, t: float) -> list[Detection]:
        cfg = self.config
        # An agent younger than `rate_history` has no baseline of its own yet (its slow rate is
        # still filling up): it is held to the higher new-agent floor, so a new agent's first batch
        # is not a spike against a baseline of nothing.
        young = t - agent.first < cfg.rate_history
        floor = cfg.rate_new_floor if young else cfg.rate_floor
        # A young agent asking for the same few tokens again and again is not backfilling (a
        # backfill walks through users): it is held to the lower repeat floor.
        distinct = len(set(agent.shapes))
        repeated = (
            young and len(agent.shapes) >= cfg.rate_repeat_window and distinct <= cfg.rate_repeat_distinct
        )
        if repeated:
            floor = min(floor, cfg.rate_repeat_floor)
        if agent.fast < floor or self._cooling(agent, Kind.RATE_SPIKE, t):
            return []
        others = [self.agents[p] for p in self.orgs.get(agent.org, ()) if p != cid]
        peers = [p.slow for p in others]
        peer_median = _median(peers)
        reference = peer_median if young else max(agent.slow, peer_median)
        if agent.fast < cfg.rate_factor * reference:
            return []
        # An established agent is also compared with its own busiest moments and its peers': a
        # burst the size of those it (or its organization) makes anyway is not a spike.
        peer_peak = _median([p.peak for p in others])
        usual_peak = 0.0 if young else max(agent.peak, peer_peak)
        if agent.fast < cfg.rate_peak_factor * usual_peak:
            return []
        features: dict[str, Any] = {
            "rate_per_s": round(agent.fast, 4),
            "own_baseline_per_s": round(agent.slow, 4),
            "peer_median_per_s": round(peer_median, 4),
            "peers": len(peers),
            "own_peak_per_s": round(agent.peak, 4),
            "peer_median_peak_per_s": round(peer_peak, 4),
        }
        thresholds: dict[str, Any] = {
            "rate_floor_per_s": floor,
            "factor": cfg.rate_factor,
            "factor_over_peak": cfg.rate_peak_factor,
            "new_agent": young,
        }
        if young:
            features["distinct_requests_of_last"] = [distinct, len(agent.shapes)]
            thresholds["repeat_distinct_max"] = cfg.rate_repeat_distinct
            thresholds["repeat_window"] = cfg.rate_repeat_window
            thresholds["repeated"] = repeated
        return [
            self._detect(
                Kind.RATE_SPIKE,
                [cid],
                seq,
                t,
                features,
                thresholds,
                {
                    "window_s": cfg.rate_slow_tau,
                    "updated_ms": int(agent.slow_updated * 1000),
                    "cluster": f"organization:{agent.org}",
                },
            )
        ]

    def _probing(self, cid: str, agent: _Agent, seq: int, t: float) -> list[Detection]:
        cfg = self.config
        found: list[Detection] = []
        recent = agent.recent
        since = int(agent.first * 1000)
        baseline = {
            "window": "the agent's last decisions",
            "updated_ms": int(t * 1000),
            "first_seen_ms": since,
        }
        last = list(recent)
        tail = last[-cfg.refusal_window :]
        refused = sum(1 for r in tail if r[0])
        longer = sum(1 for r in last[-cfg.refusal_long_window :] if r[0])
        burst = refused >= cfg.refusal_min or longer >= cfg.refusal_long_min
        if burst and not self._cooling(agent, Kind.REFUSAL_BURST, t):
            found.append(
                self._detect(
                    Kind.REFUSAL_BURST,
                    [cid],
                    seq,
                    t,
                    {"refusals": refused, "decisions": len(tail), "refusals_longer": longer},
                    {
                        "refusals_min": cfg.refusal_min,
                        "window_decisions": cfg.refusal_window,
                        "refusals_longer_min": cfg.refusal_long_min,
                        "longer_window": cfg.refusal_long_window,
                    },
                    baseline,
                )
            )
        subjects = {r[1] for r in last[-cfg.enum_window :] if r[1]}
        if len(subjects) >= cfg.enum_distinct and not self._cooling(agent, Kind.SUBJECT_ENUMERATION, t):
            found.append(
                self._detect(
                    Kind.SUBJECT_ENUMERATION,
                    [cid],
                    seq,
                    t,
                    {"distinct_refused_subjects": len(subjects)},
                    {"distinct_min": cfg.enum_distinct, "window_decisions": cfg.enum_window},
                    baseline,
                )
            )
        scopes = {s for r in last[-cfg.scope_window :] for s in r[3]}
        if len(scopes) >= cfg.scope_distinct and not self._cooling(agent, Kind.SCOPE_PROBING, t):
            found.append(
                self._detect(
                    Kind.SCOPE_PROBING,
                    [cid],
                    seq,
                    t,
                    {"distinct_scopes_never_granted": len(scopes), "scopes": sorted(scopes)[:20]},
                    {"distinct_min": cfg.scope_distinct, "window_decisions": cfg.scope_window},
                    baseline,
                )
            )
        found += self._resources(cid, agent, seq, t)
        return found

    def _resources(self, cid: str, agent: _Agent, seq: int, t: float) -> list[Detection]:
        cfg = self.config
        resources = {r[2] for r in list(agent.recent)[-cfg.resource_window :] if r[2]}
        score = len(resources) + agent.invalid_targets
        if score < cfg.resource_distinct or self._cooling(agent, Kind.RESOURCE_PROBING, t):
            return []
        return [
            self._detect(
                Kind.RESOURCE_PROBING,
                [cid],
                seq,
                t,
                {
                    "distinct_refused_resources": len(resources),
                    "unregistered_resources_asked": agent.invalid_targets,
                    "resources": sorted(resources)[:20],
                },
                {"score_min": cfg.resource_distinct, "window_decisions": cfg.resource_window},
                {"window": "the agent's last decisions", "updated_ms": int(t * 1000)},
            )
        ]

    def _off_cluster_request(self, cid: str, agent: _Agent, resource: str, allowed: bool) -> bool:
        """Record an allowed use of `resource`; True when too few of the agent's established peers
        were ever allowed it (one peer is not a cluster: it may be another odd one)."""
        cfg = self.config
        users = self.org_resources.setdefault(agent.org, {}).setdefault(resource, [])
        established = self.established.get(agent.org, 0) - (agent.requests >= cfg.peer_min_requests)
        off = False
        if resource and agent.org and established >= cfg.off_cluster_min_peers:
            needed = max(2, established // 10)
            peers = 0
            for p in users:
                if p != cid and self.agents[p].requests >= cfg.peer_min_requests:
                    peers += 1
                    if peers >= needed:
                        break
            off = peers < needed
        if allowed and cid not in users and len(users) < _MAX_SET:
            users.append(cid)
        return off

    def _off_cluster(self, cid: str, agent: _Agent, seq: int, t: float) -> list[Detection]:
        cfg = self.config
        count = sum(1 for r in list(agent.recent)[-cfg.off_cluster_window :] if r[4])
        if count < cfg.off_cluster_min or self._cooling(agent, Kind.OFF_CLUSTER, t):
            return []
        return [
            self._detect(
                Kind.OFF_CLUSTER,
                [cid],
                seq,
                t,
                {"requests_outside_cluster": count, "established_peers": self.established.get(agent.org, 0)},
                {
                    "requests_min": cfg.off_cluster_min,
                    "window_decisions": cfg.off_cluster_window,
                    "peers_min": cfg.off_cluster_min_peers,
                },
                {"cluster": f"organization:{agent.org}", "updated_ms": int(t * 1000)},
            )
        ]

    def _sleepless(self, cid: str, agent: _Agent, hour: int, seq: int, t: float) -> list[Detection]:
        cfg = self.config
        seen_since = (hour - cfg.sleepless_active_hours) * 3600
        if agent.quarantined or agent.first > seen_since or self._cooling(agent, Kind.SLEEPLESS, t):
            return []
        active = _active_hours(agent, hour)
        if active < cfg.sleepless_active_hours:
            return []
        peers = [
            _active_hours(self.agents[p], hour)
            for p in self.orgs.get(agent.org, ())
            if p != cid and 0 <= self.agents[p].first <= (hour - 24) * 3600
        ]
        if len(peers) < cfg.sleepless_min_peers or _median(peers) > cfg.sleepless_peer_median_max:
            return []
        return [
            self._detect(
                Kind.SLEEPLESS,
                [cid],
                seq,
                t,
                {
                    "active_hours_of_24": active,
                    "peer_median_active_hours": _median(peers),
                    "peers": len(peers),
                },
                {
                    "active_hours_min": cfg.sleepless_active_hours,
                    "peer_median_max": cfg.sleepless_peer_median_max,
                },
                {"window_s": 86400, "updated_ms": hour * 3600 * 1000, "cluster": f"organization:{agent.org}"},
            )
        ]

    # -- population kinds ---------------------------------------------------------------------

    def _warm(self, t: float, warmup: float) -> bool:
        return self.start is not None and t - self.start >= warmup

    def _shape(self, resource: str, requested: list[str], t: float) -> dict[str, Any]:
        key = resource + " " + " ".join(sorted(requested))
        shape = self.shapes.get(key)
        if shape is None:
            if len(self.shapes) >= _MAX_KEYS:
                del self.shapes[next(iter(self.shapes))]
            shape = self.shapes[key] = {"first": t, "allowed": False, "recent": {}, "fired": -1.0}
        return shape

    def _coordinated(
        self, cid: str, event: dict[str, Any], resource: str, requested: list[str], seq: int, t: float
    ) -> list[Detection]:
        cfg = self.config
        shape = self._shape(resource, requested, t)
        # Agent -> when it last asked, within the window (a dict keeps insertion order in JSON).
        recent = {a: when for a, when in shape["recent"].items() if t - when <= cfg.coordinated_window}
        recent.pop(cid, None)
        if len(recent) < _MAX_SET:
            recent[cid] = t
        shape["recent"] = recent
        novel = self._warm(shape["first"], cfg.warmup) and t - shape["first"] <= cfg.coordinated_novelty
        if shape["allowed"] or not novel:
            return []
        if shape["fired"] >= 0 and t - shape["fired"] < cfg.cooldown:
            return []
        agents = sorted(recent)
        orgs = {self.agents[a].org for a in agents}
        # Agents of one organization moving together is more likely a rollout than a conspiracy.
        if len(agents) < cfg.coordinated_agents or len(orgs) < cfg.coordinated_orgs:
            return []
        shape["fired"] = t
        return [
            self._detect(
                Kind.COORDINATED_AGENTS,
                agents,
                seq,
                t,
                {
                    "distinct_agents": len(agents),
                    "resource": resource,
                    "scopes": sorted(requested),
                    "shape_first_seen_ms": int(shape["first"] * 1000),
                    "ever_allowed": False,
                },
                {
                    "agents_min": cfg.coordinated_agents,
                    "window_s": cfg.coordinated_window,
                    "novelty_s": cfg.coordinated_novelty,
                },
                {"window": "every agent's refused requests", "updated_ms": int(t * 1000)},
            )
        ]

    def _resource_spike(self, cid: str, resource: str, seq: int, t: float) -> list[Detection]:
        """Requests to one resource from several agents in the last 10 minutes, against the
        busiest hour that resource had in the last week, against each agent's own busiest 10
        minutes on it, and from agents new to it (a sudden spike of one part of the system)."""
        cfg = self.config
        watched = self.resources.get(resource)
        if watched is None:
            if len(self.resources) >= _MAX_RESOURCES:
                del self.resources[next(iter(self.resources))]
            watched = self.resources[resource] = {
                "first": t,
                "hours": [],  # [hour, requests], oldest first, the last week
                "minutes": [],  # [minute, requests], the short window
                "agents": {},  # agent -> when it last asked, the short window
                # agent (bounded) -> [first use, hour, busiest count of that hour, usual, count,
                # when counted]: who uses this resource, and how much (decayed 10-minute counts)
                "known": {},
                "fresh": [],  # [minute, requests] from agents new to it (the last hour), short window
                "peak": 0,
                "updated": t,
                "fired": -1.0,
            }
        hour, minute = int(t // 3600), int(t // 60)
        hours = watched["hours"]
        if not hours or hours[-1][0] != hour:
            # The baseline moves once an hour: the busiest complete hour of the last week.
            while hours and hours[0][0] <= hour - _WEEK_HOURS:
                hours.pop(0)
            watched["peak"] = max((n for _, n in hours), default=0)
            watched["updated"] = hour * 3600.0
            hours.append([hour, 0])
        hours[-1][1] += 1
        minutes = watched["minutes"]
        if minutes and minutes[-1][0] == minute:
            minutes[-1][1] += 1
        else:
            span = int(cfg.spike_short // 60)
            while minutes and minutes[0][0] <= minute - span:
                minutes.pop(0)
            minutes.append([minute, 1])
        known = watched["known"]
        entry = known.get(cid)
        if entry is None and len(known) < _MAX_KNOWN:
            entry = known[cid] = [t, hour, 0.0, 0.0, 0.0, t]
        if entry is not None:
            if entry[1] != hour:
                # The agent's usual moves once an hour: the busiest decayed count of its complete
                # hours, the older ones halved every `spike_usual_halflife`.
                decay = 0.5 ** ((hour - entry[1]) * 3600.0 / cfg.spike_usual_halflife)
                entry[1], entry[2], entry[3] = hour, 0.0, max(entry[3] * decay, entry[2])
            entry[4] = entry[4] * math.exp(-(t - entry[5]) / cfg.spike_short) + 1.0
            entry[5] = t
            entry[2] = max(entry[2], entry[4])
        newcomer = entry is not None and t - entry[0] <= cfg.spike_newcomer
        fresh = watched["fresh"]
        if newcomer:
            if fresh and fresh[-1][0] == minute:
                fresh[-1][1] += 1
            else:
                fresh.append([minute, 1])
        while fresh and fresh[0][0] <= minute - int(cfg.spike_short // 60):
            fresh.pop(0)
        agents = watched["agents"]
        if cid in agents or len(agents) < _MAX_WINDOW_AGENTS:
            agents[cid] = t
        else:  # full: forget the agents that left the window, then remember this one if there is room
            agents = watched["agents"] = {a: w for a, w in agents.items() if t - w <= cfg.spike_short}
            if len(agents) < _MAX_WINDOW_AGENTS:
                agents[cid] = t
        if t - watched["first"] < cfg.spike_history:
            return []  # a day of history first, so that its busy hours are in the baseline
        if watched["fired"] >= 0 and t - watched["fired"] < cfg.spike_cooldown:
            return []
        short = sum(n for _, n in minutes)
        if short < cfg.spike_min:
            return []  # every rule needs this many requests in the window (a cheap gate)
        # Three ways to spike: far above the resource's busiest hour; several agents each far above
        # its own busiest 10 minutes on it; a crowd of agents that never used it before (a day of
        # history at least, so that its regular users are known).
        from_newcomers = sum(n for _, n in fresh)
        expected = watched["peak"] * cfg.spike_short / 3600.0
        limit = max(float(cfg.spike_min), cfg.spike_factor * expected)
        # Looking at every agent in the window is only worth it when some rule may fire: over the
        # volume limit, enough from newcomers, or this agent itself above its usual.
        above_min = cfg.spike_above_min
        rising = entry is not None and entry[4] >= max(above_min, cfg.spike_above_factor * entry[3])
        if short < limit and from_newcomers < cfg.spike_min and not rising:
            return []
        agents = watched["agents"] = {a: w for a, w in agents.items() if t - w <= cfg.spike_short}
        counts: dict[str, tuple[float, float]] = {}  # agent -> (decayed count now, its usual)
        for a in agents:
            e = known.get(a)
            if e is not None:
                counts[a] = (e[4] * math.exp(-(t - e[5]) / cfg.spike_short), e[3])
        above = sorted(
            a
            for a, (count, usual) in counts.items()
            if count >= max(above_min, cfg.spike_above_factor * usual)
        )
        from_above = sum(counts[a][0] for a in above)
        newcomers = [a for a in agents if a in known and t - known[a][0] <= cfg.spike_newcomer]
        if short >= limit and len(agents) >= cfg.spike_agents:
            rule = "volume"
        elif len(above) >= cfg.spike_agents and from_above >= cfg.spike_min:
            rule = "above_usual"
        elif from_newcomers >= cfg.spike_min and len(newcomers) >= cfg.spike_agents:
            rule = "newcomers"
        else:
            return []
        # Name the agents that make the spike, not every agent that asked: those far above their
        # own usual on it (which includes those new to it that asked more than a few times), or for
        # the newcomer rule those new to it; failing that, those furthest above their usual.
        named = sorted(newcomers) if rule == "newcomers" else above
        if not named:
            by_excess = sorted(counts, key=lambda a: (counts[a][1] - counts[a][0], a))
            named = sorted(by_excess[: cfg.spike_agents])
        watched["fired"] = t
        return [
            Detection(
                Kind.RESOURCE_SPIKE,
                tuple(named),
                seq,
                round(t * 1000),
                DEFAULT_ACTIONS[Kind.RESOURCE_SPIKE],
                {
                    "features": {
                        "resource": resource,
                        "requests_in_window": short,
                        "window_s": cfg.spike_short,
                        "distinct_agents": len(agents),
                        "busiest_hour_last_week": watched["peak"],
                        "requests_from_agents_new_to_it": from_newcomers,
                        "agents_new_to_it": len(newcomers),
                        "agents_above_their_usual": len(above),
                        "decayed_requests_from_them": round(from_above, 1),
                        "agents_named": len(named),
                        "rule": rule,
                    },
                    "thresholds": {
                        "requests_min": cfg.spike_min,
                        "factor_over_busiest_hour": cfg.spike_factor,
                        "limit": round(limit, 1),
                        "agents_min": cfg.spike_agents,
                        "newcomer_s": cfg.spike_newcomer,
                        "factor_over_own_usual": cfg.spike_above_factor,
                        "own_count_min": cfg.spike_above_min,
                    },
                    "baseline": {
                        "window": "requests to the resource per hour over the last 168 hours, "
                        "the agents that used it, and each one's busiest 10 minutes on it",
                        "updated_ms": int(watched["updated"] * 1000),
                        "first_seen_ms": int(watched["first"] * 1000),
                    },
                    "detector": {"version": DETECTOR_VERSION, "config": self.digest},
                    "components": ["grant_log", "decisions", "detector"],
                },
            )
        ]

    def _new_agent(self, cid: str, seq: int, t: float) -> list[Detection]:
        cfg = self.config
        hour = int(t // 3600)
        if hour != self.surge_hour:
            if self.surge_hour >= 0:
                # New agents per hour over the last week (hours without any count as 0); the
                # baseline is their 90th percentile, which a rare surge does not move.
                count = sum(1 for when, _ in self.surge_new if when >= self.surge_hour * 3600)
                gap = min(hour - self.surge_hour - 1, 168)
                if self._warm(self.surge_hour * 3600.0, cfg.surge_warmup):  # the first agents are no news
                    self.surge_hours = (self.surge_hours + [count] + [0] * gap)[-168:]
                ordered = sorted(self.surge_hours) or [0]
                self.surge_baseline = float(ordered[int(len(ordered) * 0.9)])
                self.surge_updated = hour * 3600.0
            self.surge_hour = hour
        self.surge_new = [[when, a] for when, a in self.surge_new if t - when <= cfg.surge_long]
        self.surge_new.append([t, cid])
        if not self._warm(t, cfg.surge_warmup) or (
            self.surge_fired >= 0 and t - self.surge_fired < cfg.surge_short
        ):
            return []
        short = [a for when, a in self.surge_new if t - when <= cfg.surge_short]
        short_limit = max(cfg.surge_short_min, self.surge_baseline + 4)
        long_limit = max(cfg.surge_long_min, 2 * self.surge_baseline + 6)
        if len(short) >= short_limit:
            agents, window = short, cfg.surge_short
        elif len(self.surge_new) >= long_limit:
            agents, window = [a for _, a in self.surge_new], cfg.surge_long
        else:
            return []
        # The surge is reported, not learnt: its agents leave the window and the baseline.
        self.surge_fired, self.surge_new = t, []
        return [
            Detection(
                Kind.NEW_AGENT_SURGE,
                tuple(sorted(agents)),
                seq,
                round(t * 1000),
                DEFAULT_ACTIONS[Kind.NEW_AGENT_SURGE],
                {
                    "features": {
                        "new_agents": len(agents),
                        "window_s": window,
                        "baseline_p90_per_hour": self.surge_baseline,
                    },
                    "thresholds": {
                        "short_limit": short_limit,
                        "long_limit": long_limit,
                    },
                    "baseline": {
                        "window": "new agents per hour over the last 168 hours",
                        "updated_ms": int(self.surge_updated * 1000),
                    },
                    "detector": {"version": DETECTOR_VERSION, "config": self.digest},
                    "components": ["grant_log", "decisions", "detector"],
                },
            )
        ]

    # -- signals ------------------------------------------------------------------------------

    def _signals(self, event: dict[str, Any], seq: int, t: float) -> list[Detection]:
        cfg = self.config
        details = event.get("details") or {}
        found: list[Detection] = []
        for cid, count in sorted((details.get("invalid_target") or {}).items()):
            agent = self.agents.get(cid)
            if agent is not None and not agent.quarantined:
                agent.invalid_targets += int(count)
                found += self._resources(cid, agent, seq, t)
        for cid, count in sorted((details.get("replays") or {}).items()):
            agent = self.agents.get(cid)
            if agent is None:
                continue
            agent.replays.append((t, int(count)))
            while agent.replays and t - agent.replays[0][0] > cfg.replay_window:
                agent.replays.popleft()
            total = sum(n for _, n in agent.replays)
            if total >= cfg.replay_min and not self._cooling(agent, Kind.REPLAY_PROBING, t):
                found.append(
                    self._detect(
                        Kind.REPLAY_PROBING,
                        [cid],
                        seq,
                        t,
                        {"replayed_assertions": total},
                        {"replays_min": cfg.replay_min, "window_s": cfg.replay_window},
                        {"window_s": cfg.replay_window, "updated_ms": int(t * 1000)},
                    )
                )
        return found


def _subject_hash(subject: str) -> str:
    return hashlib.blake2b(subject.encode(), digest_size=6).hexdigest()


def _active_hours(agent: _Agent, hour: int) -> int:
    return sum(1 for h in agent.hours if hour - 24 <= h < hour)


def _median(values: list[float] | list[int]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
