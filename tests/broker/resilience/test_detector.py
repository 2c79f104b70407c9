"""The detector alone: determinism, state round trips, bounded memory, one test per kind."""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchmarks.resilience_sim import KINDS, simulate
from broker.resilience.detector import Detection, Detector
from broker.resilience.kinds import DetectorConfig
from broker.resilience.scan import scan


@pytest.fixture(scope="module")
def week() -> Any:
    """Three simulated days, a few attackers of every kind (a tuning seed, not a held-out one)."""
    return simulate(7, days=3, orgs=6, per_kind=1)


@pytest.fixture(scope="module")
def found(week: Any) -> list[Detection]:
    """What one pass over the week finds."""
    return list(scan(week.events))


def test_feeding_in_chunks_through_stored_state_gives_the_same_detections(
    week: Any, found: list[Detection]
) -> None:
    whole = [d.to_json() for d in found]
    assert whole
    chunked: list[dict[str, Any]] = []
    state: dict[str, Any] | None = None
    for start in range(0, len(week.events), 7919):
        detector = Detector() if state is None else Detector.restore(json.loads(json.dumps(state)))
        for event in week.events[start : start + 7919]:
            chunked += [d.to_json() for d in detector.feed(event)]
        state = detector.snapshot()
    assert chunked == whole


def test_feeding_twice_is_idempotent(week: Any) -> None:
    detector = Detector()
    first = [d.id for e in week.events[:50_000] for d in detector.feed(e)]
    again = [d.id for e in week.events[:50_000] for d in detector.feed(e)]
    assert first
    assert again == []


def test_a_state_of_another_configuration_is_refused(week: Any) -> None:
    detector = Detector()
    for event in week.events[:1000]:
        detector.feed(event)
    with pytest.raises(ValueError, match="another configuration"):
        Detector.restore(detector.snapshot(), DetectorConfig(rate_floor=2.0))


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_detected(week: Any, found: list[Detection], kind: str) -> None:
    attackers = {a for attack in week.attacks if attack.kind == kind for a in attack.agents}
    assert any(d.kind == kind and attackers & set(d.agents) for d in found)


def test_every_detection_explains_itself(found: list[Detection]) -> None:
    for detection in found:
        evidence = detection.evidence
        assert set(evidence) >= {"features", "thresholds", "baseline", "detector", "components"}
        assert "updated_ms" in evidence["baseline"]
        assert evidence["detector"]["config"] == DetectorConfig().digest()


def test_crafted_shapes_cannot_grow_memory_without_bound() -> None:
    detector = Detector()
    for seq in range(1, 30_001):
        detector.feed(
            {
                "seq": seq,
                "time_ms": seq * 1000,
                "type": "token.denied",
                "actors": [f"agent-{seq % 7}"],
                "resource": "https://r.example",
                "scopes_requested": [f"s:{seq}"],
                "decision": "deny",
                "reasons": ["scope_not_granted"],
            }
        )
    assert len(detector.shapes) <= 20_000
    assert all(len(agent.recent) <= 100 for agent in detector.agents.values())


class _Log:
    """Hand-made grant-log events, in order, fed to one detector."""

    def __init__(self) -> None:
        self.detector = Detector()
        self.seq = 0
        self.found: list[Detection] = []

    def feed(self, event: dict[str, Any]) -> None:
        self.seq += 1
        self.found += self.detector.feed({"seq": self.seq, **event})

    def register(self, t: float, cid: str, org: str) -> None:
        self.feed(
            {
                "time_ms": round(t * 1000),
                "type": "agent.registered",
                "actors": [cid],
                "details": {"organization": org},
            }
        )

    def token(self, t: float, cid: str, subject: str, resource: str = "https://r.example/api") -> None:
        self.feed(
            {
                "time_ms": round(t * 1000),
                "type": "token.issued",
                "actors": [cid],
                "subject": subject,
                "resource": resource,
                "scopes_requested": ["r:read"],
                "scopes_granted": ["r:read"],
                "decision": "allow",
                "reasons": ["granted"],
            }
        )

    def kinds(self, cid: str) -> list[str]:
        return [str(d.kind) for d in self.found if cid in d.agents]


def _young_agent_at(rate: float, subjects: int) -> _Log:
    """Three peers with a day of ordinary history, then a new agent at `rate` requests/s for 200
    requests, cycling through `subjects` users."""
    log = _Log()
    for p in range(3):
        log.register(0, f"peer-{p}", "org")
    for k in range(24 * 20):  # one request every 3 minutes, each, for a day
        log.token(k * 180.0, f"peer-{k % 3}", f"u{k % 50}")
    log.register(86_400, "newbie", "org")
    for k in range(200):
        log.token(86_401 + k / rate, "newbie", f"u{k % subjects}")
    return log


def test_a_new_agent_asking_for_the_same_token_over_and_over_is_a_rate_spike() -> None:
    # 3 requests/s is under the 5/s a new agent's first batch may reach, but it is one token again
    # and again: a loop, not a backfill.
    log = _young_agent_at(3.0, subjects=1)
    spikes = [d for d in log.found if d.kind == "rate_spike"]
    assert [d.agents for d in spikes] == [("newbie",)]
    assert spikes[0].evidence["thresholds"]["repeated"] is True
    assert spikes[0].evidence["thresholds"]["rate_floor_per_s"] == DetectorConfig().rate_repeat_floor


def test_a_new_agents_backfill_through_many_users_is_not_a_rate_spike() -> None:
    log = _young_agent_at(3.0, subjects=100)
    assert "rate_spike" not in log.kinds("newbie")


def _busy_resource(log: _Log, regulars: list[str], every: float) -> list[tuple[float, str]]:
    """Requests of regular users of one resource for two days (one every `every` seconds each),
    and on the first day one hour of 3,000 requests from 30 batch agents that then go quiet, which
    makes the resource's busiest hour large."""
    for cid in regulars:
        log.register(0, cid, f"org-{cid[-1]}")
    for b in range(30):
        log.register(0, f"batch-{b}", "batch")
    events = [
        (k * every + i * 7, cid) for k in range(int(2 * 86_400 / every)) for i, cid in enumerate(regulars)
    ]
    events += [(36_000 + k * 1.2, f"batch-{k % 30}") for k in range(3000)]
    return events


def test_a_resource_spike_by_its_own_regular_users_is_found_against_their_own_usual() -> None:
    # 160 requests in 10 minutes is far under twice the resource's busiest hour (3,000) and none
    # of the agents is new to it: only each agent's rise over its own busiest 10 minutes shows.
    log = _Log()
    regulars = [f"reg-{i}" for i in range(6)]
    events = _busy_resource(log, regulars, 300.0)
    start = 2 * 86_400.0 - 3600
    events += [(start + k * 600 / 160, regulars[k % 4]) for k in range(160)]
    for t, cid in sorted(events):
        log.token(t, cid, "u1")
    spikes = [d for d in log.found if d.kind == "resource_spike"]
    assert len(spikes) == 1
    assert spikes[0].evidence["features"]["rule"] == "above_usual"
    # It names the four that made it, not the two regular users that asked as usual meanwhile.
    assert spikes[0].agents == ("reg-0", "reg-1", "reg-2", "reg-3")


def test_a_resource_spike_of_agents_new_to_it_names_only_them() -> None:
    log = _Log()
    regulars = [f"reg-{i}" for i in range(4)]
    crowd = [f"crowd-{i}" for i in range(5)]
    events = _busy_resource(log, regulars, 60.0)
    for cid in crowd:
        log.register(0, cid, "org")
    # Five agents that never used it, 15 requests each in 5 minutes.
    events += [(2 * 86_400.0 - 1800 + k * 4, crowd[k % 5]) for k in range(75)]
    for t, cid in sorted(events):
        log.token(t, cid, "u1")
    spikes = [d for d in log.found if d.kind == "resource_spike"]
    assert len(spikes) == 1
    assert spikes[0].evidence["features"]["rule"] == "newcomers"
    assert spikes[0].agents == tuple(crowd)


def test_subjects_an_agent_was_issued_tokens_for_are_not_counted_as_enumeration() -> None:
    # Thirty users granted the agent and got tokens for it, then revoked their grants: the agent's
    # refused requests for them are not a walk through unknown users.
    log = _Log()
    log.register(0, "agent", "org")
    for k in range(30):
        log.token(k * 60.0, "agent", f"u{k}")
    for k in range(60):
        log.feed(
            {
                "time_ms": round((3600 + k * 60) * 1000),
                "type": "token.denied",
                "actors": ["agent"],
                "subject": f"u{k % 30}",
                "resource": "https://r.example/api",
                "scopes_requested": ["r:read"],
                "scopes_granted": [],
                "decision": "deny",
                "reasons": ["no_grant"],
            }
        )
    assert "subject_enumeration" not in log.kinds("agent")
    # The same refusals for users it never had a token for are.
    for k in range(20):
        log.feed(
            {
                "time_ms": round((8000 + k * 60) * 1000),
                "type": "token.denied",
                "actors": ["agent"],
                "subject": f"stranger-{k}",
                "resource": "https://r.example/api",
                "scopes_requested": ["r:read"],
                "scopes_granted": [],
                "decision": "deny",
                "reasons": ["no_grant"],
            }
        )
    assert "subject_enumeration" in log.kinds("agent")


def test_a_burst_the_size_of_the_agents_own_usual_bursts_is_not_a_rate_spike() -> None:
    log = _Log()
    for p in range(4):
        log.register(0, f"peer-{p}", "org")
    events = [(k * 120.0 + p, f"peer-{p}") for k in range(3 * 720) for p in range(4)]
    # peer-0 bursts at 2 requests/s for a minute on the first day, and again 26 hours later.
    for start in (7200.0, 7200.0 + 26 * 3600):
        events += [(start + k / 2, "peer-0") for k in range(120)]
    for t, cid in sorted(events):
        log.token(t, cid, f"u{int(t) % 40}")
    spikes = [d for d in log.found if d.kind == "rate_spike"]
    # The first burst is news; the second is the size of the first (halved every 3 days) and is not.
    assert [(d.agents, d.time_ms < 86_400_000) for d in spikes] == [(("peer-0",), True)]
