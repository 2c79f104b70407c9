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
