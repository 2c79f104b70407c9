"""Detection kinds, the responses they call for, and the detector's configuration."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from enum import StrEnum

DETECTOR_VERSION = "3"


class Kind(StrEnum):
    """What a detection says an agent (or a group of agents) did."""

    RATE_SPIKE = "rate_spike"
    REFUSAL_BURST = "refusal_burst"
    SUBJECT_ENUMERATION = "subject_enumeration"
    SCOPE_PROBING = "scope_probing"
    RESOURCE_PROBING = "resource_probing"
    REPLAY_PROBING = "replay_probing"
    SLEEPLESS = "sleepless"
    OFF_CLUSTER = "off_cluster"
    COORDINATED_AGENTS = "coordinated_agents"
    NEW_AGENT_SURGE = "new_agent_surge"
    RESOURCE_SPIKE = "resource_spike"


class Action(StrEnum):
    """The graded responses, mildest first."""

    OBSERVE = "observe"
    THROTTLE = "throttle"
    QUARANTINE = "quarantine"


# Probing is intent (quarantine); volume may be a bug or a busy day (throttle); the rest are unusual
# but not harmful by themselves (observe, for an admin to look at). Replays only observe: replaying
# a captured assertion proves possession of a spent assertion, not of the agent's key, so acting on
# it would let an eavesdropper get an honest agent cut off.
DEFAULT_ACTIONS: dict[Kind, Action] = {
    Kind.RATE_SPIKE: Action.THROTTLE,
    Kind.REFUSAL_BURST: Action.THROTTLE,
    Kind.SUBJECT_ENUMERATION: Action.QUARANTINE,
    Kind.SCOPE_PROBING: Action.QUARANTINE,
    Kind.RESOURCE_PROBING: Action.QUARANTINE,
    Kind.REPLAY_PROBING: Action.OBSERVE,
    Kind.SLEEPLESS: Action.OBSERVE,
    Kind.OFF_CLUSTER: Action.OBSERVE,
    Kind.COORDINATED_AGENTS: Action.THROTTLE,
    Kind.NEW_AGENT_SURGE: Action.OBSERVE,
    Kind.RESOURCE_SPIKE: Action.OBSERVE,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorConfig:
    """Every threshold the detector uses; its hash goes into each detection's evidence."""

    # Request rate: exponentially decayed estimators (requests per second).
    rate_fast_tau: float = 60.0
    rate_slow_tau: float = 6 * 3600.0
    rate_floor: float = 1.0
    rate_factor: float = 10.0
    # ... and above this many times its own busiest fast rate (hours before the last, halved every
    # `rate_peak_halflife`) and its peers' median of theirs.
    rate_peak_factor: float = 1.5
    rate_peak_halflife: float = 3 * 86400.0
    # An agent with less history than this has no baseline of its own to spike against: it is held
    # to the new-agent floor instead (a first batch or backfill is ordinary; flooding is not).
    rate_history: float = 3600.0
    rate_new_floor: float = 5.0
    # ... unless it asks for the same few tokens over and over: a token lives for minutes, so the
    # same subject, resource and scopes several times a second is a loop or a flood, not a backfill
    # (which walks through users): then `rate_repeat_floor` is its floor.
    rate_repeat_floor: float = 2.0
    rate_repeat_window: int = 30
    rate_repeat_distinct: int = 3
    # Windows counted in the agent's own decisions, so slow attackers are judged like fast ones.
    refusal_window: int = 40
    refusal_min: int = 30
    refusal_long_window: int = 100
    refusal_long_min: int = 40
    enum_window: int = 100
    enum_distinct: int = 18
    scope_window: int = 100
    scope_distinct: int = 8
    resource_window: int = 100
    resource_distinct: int = 6
    replay_window: float = 86400.0
    replay_min: int = 8
    # Sleepless: active hours of the last 24 against the peers'.
    sleepless_active_hours: int = 22
    sleepless_peer_median_max: int = 16
    sleepless_min_peers: int = 2
    # Off-cluster: requests to resources none of the agent's established peers ever used.
    off_cluster_window: int = 100
    off_cluster_min: int = 18
    peer_min_requests: int = 20
    off_cluster_min_peers: int = 3
    # Coordination: one denied request shape from many agents, shortly after it first appeared.
    coordinated_window: float = 3600.0
    coordinated_agents: int = 5
    coordinated_orgs: int = 2
    coordinated_novelty: float = 6 * 3600.0
    # New-agent surge: agents making their first request in the last 10 minutes or hour, against
    # a decayed baseline of new agents per hour.
    surge_short: float = 600.0
    surge_short_min: int = 6
    surge_long: float = 3600.0
    surge_long_min: int = 10
    # Resource spike: requests to one resource from several agents in the last 10 minutes, against
    # the busiest 10 minutes that resource's busiest hour of the last week implies.
    spike_short: float = 600.0
    spike_min: int = 60
    spike_factor: float = 2.0
    spike_agents: int = 3
    spike_newcomer: float = 3600.0  # an agent is new to a resource this long after its first use
    spike_history: float = 86400.0
    # ... or several agents each well above its own busiest 10 minutes on the resource (a decayed
    # 10-minute count; the busiest of each complete hour, halved every `spike_usual_halflife`).
    # These (and agents new to the resource) are the agents a spike names.
    spike_above_factor: float = 3.0
    spike_above_min: float = 5.0
    spike_usual_halflife: float = 3 * 86400.0
    spike_cooldown: float = 3600.0
    # Kinds judged against the population wait this long into the log before they fire: shapes
    # first seen and agents first seen in the warm-up are the baseline, not news.
    warmup: float = 6 * 3600.0
    surge_warmup: float = 86400.0
    cooldown: float = 86400.0
    throttle_seconds: float = 600.0
    retry_after: int = 60

    def digest(self) -> str:
        """A short hash of the configuration and the detector version."""
        data = json.dumps({"version": DETECTOR_VERSION, **asdict(self)}, sort_keys=True).encode()
        return hashlib.sha256(data).hexdigest()[:16]
