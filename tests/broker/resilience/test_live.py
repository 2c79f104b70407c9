"""The live detector in a broker: responses at the token endpoint, release, evidence, the scan of
an export reproducing every detection, state shared across replicas and restarts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from broker.api import create_app
from broker.process.cli import app
from broker.resilience.scan import read_export, scan
from broker.resilience.service import Resilience
from broker.settings import Settings
from tests.agents import TestAgent
from tests.broker.grantlog.helpers import auditor_key
from tests.conftest import ISSUER, World, auth


def _resilience(world: World) -> Resilience:
    return world.client.app.state.resilience  # type: ignore[attr-defined,no-any-return]


def _enumerate(world: World, count: int = 20, agent: TestAgent | None = None, first: int = 0) -> None:
    for n in range(first, first + count):
        response = world.token(agent or world.travel, subject=f"user-{n}")
        assert response.status_code == 403, response.text


def _export(world: World) -> list[dict[str, Any]]:
    key = auditor_key(world)
    response = world.client.get("/v1/audit/export", headers=auth(key))
    assert response.status_code == 200
    return list(read_export(response.text.splitlines()))


def test_subject_enumeration_quarantines_and_revokes_live_tokens(world: World) -> None:
    world.grant()
    live = world.token(world.travel)
    assert live.status_code == 200
    _enumerate(world)
    found = _resilience(world).run_once()
    assert [d.kind for d in found] == ["subject_enumeration"]
    refused = world.token(world.travel)
    assert refused.status_code == 403
    assert refused.json()["error"] == "access_denied"
    agent = world.client.get("/v1/agents/travel-agent", headers=auth(world.admin_key)).json()
    assert agent["status"] == "quarantined"
    # Its live token is revoked and listed in the holder's revocation feed.
    jti = world.introspect(live.json()["access_token"])
    assert jti == {"active": False}
    assert len(world.feed()["revocations"]) == 1


def test_detection_carries_its_evidence(world: World) -> None:
    _enumerate(world)
    _resilience(world).run_once()
    listed = world.client.get(
        "/v1/detections", params={"agent": "travel-agent"}, headers=auth(world.admin_key)
    )
    assert listed.status_code == 200
    (detection,) = listed.json()["detections"]
    evidence = detection["evidence"]
    assert detection["kind"] == "subject_enumeration"
    assert detection["action"] == "quarantine"
    assert evidence["features"]["distinct_refused_subjects"] >= 18
    assert evidence["thresholds"]["distinct_min"] == 18
    assert "updated_ms" in evidence["baseline"]
    assert evidence["detector"]["version"]
    assert evidence["detector"]["config"]
    # Auditors see the same; other roles do not.
    key = auditor_key(world)
    assert (
        world.client.get("/v1/detections", headers=auth(key)).json()["detections"][0]["id"] == detection["id"]
    )
    assert world.client.get("/v1/detections", headers=auth(world.alice_key)).status_code == 403
    assert world.client.get("/v1/detections").status_code == 401


def test_release_lets_a_quarantined_agent_back(world: World) -> None:
    world.grant()
    _enumerate(world)
    _resilience(world).run_once()
    released = world.client.post("/v1/agents/travel-agent/release", headers=auth(world.admin_key))
    assert released.status_code == 200
    assert world.token(world.travel).status_code == 200
    agent = world.client.get("/v1/agents/travel-agent", headers=auth(world.admin_key)).json()
    assert agent["status"] == "active"
    (detection,) = world.client.get("/v1/detections", headers=auth(world.admin_key)).json()["detections"]
    assert detection["status"] == "released"
    # The release is in the log, and the detector starts the agent afresh: no re-detection.
    assert _resilience(world).run_once() == []


def test_release_needs_an_admin(world: World) -> None:
    _enumerate(world)
    _resilience(world).run_once()
    assert (
        world.client.post("/v1/agents/travel-agent/release", headers=auth(world.alice_key)).status_code == 403
    )
    assert world.token(world.travel).status_code == 403


def _established(world: World, agent: TestAgent) -> None:
    # An agent seen an hour ago has a baseline of its own and is held to the ordinary rate floor
    # (a brand-new agent is held to the higher new-agent floor: the test below).
    assert world.token(agent).status_code == 200
    world.clock.advance(3601)


def test_rate_spike_throttles_with_retry_after(world: World) -> None:
    world.grant()
    _established(world, world.travel)
    for _ in range(70):
        assert world.token(world.travel).status_code == 200
    found = _resilience(world).run_once()
    assert "rate_spike" in [d.kind for d in found]
    throttled = world.token(world.travel)
    assert throttled.status_code == 429
    assert throttled.json()["error"] == "slow_down"
    assert 1 <= int(throttled.headers["retry-after"]) <= 60
    agent = world.client.get("/v1/agents/travel-agent", headers=auth(world.admin_key)).json()
    assert agent["status"] == "throttled"
    # The throttle runs out by itself.
    world.clock.advance(601)
    _resilience(world).refresh()
    assert world.token(world.travel).status_code == 200


def test_a_new_agents_first_batch_is_not_a_rate_spike(world: World) -> None:
    # 70 requests in a minute from an agent with no history: under the new-agent floor (5/s).
    world.grant()
    for _ in range(70):
        assert world.token(world.travel).status_code == 200
    assert "rate_spike" not in [d.kind for d in _resilience(world).run_once()]
    assert world.token(world.travel).status_code == 200


def test_replayed_assertions_are_observed_not_punished(world: World) -> None:
    world.grant()
    form = world.token_form(world.travel)
    assert world.client.post("/oauth2/token", data=form).status_code == 200
    for _ in range(9):
        assert world.client.post("/oauth2/token", data=form).json()["error"] == "invalid_client"
    found = _resilience(world).run_once()
    assert [(d.kind, d.action) for d in found] == [("replay_probing", "observe")]
    assert world.token(world.travel).status_code == 200


def test_unauthenticated_noise_is_bounded(world: World) -> None:
    guard = _resilience(world).guard
    for n in range(1000):
        guard.count("auth_failures", f"nobody-{n}" * 50)
    counts = guard.take()
    assert counts is not None
    assert len(counts["auth_failures"]) == 256
    assert all(len(name) <= 128 for name in counts["auth_failures"])
    assert counts["overflow"] == 1000 - 256


def test_dry_run_records_without_acting(world: World) -> None:
    _resilience(world).enforce = False
    _resilience(world).guard.enforce = False
    _enumerate(world)
    (detection,) = _resilience(world).run_once()
    assert detection.kind == "subject_enumeration"
    assert world.token(world.travel).status_code == 403  # refused by policy (unknown subject), not quarantine
    world.grant()
    assert world.token(world.travel).status_code == 200
    listed = world.client.get("/v1/detections", headers=auth(world.admin_key)).json()["detections"]
    assert listed[0]["applied"] is False


def test_scan_of_the_export_reproduces_every_live_detection(world: World) -> None:
    world.grant()
    resilience = _resilience(world)
    _established(world, world.travel)
    for _ in range(70):
        world.token(world.travel)
    resilience.run_once()
    _enumerate(world, 20, world.ads)
    form = world.token_form(world.calendar)
    for _ in range(9):
        world.client.post("/oauth2/token", data=form)
    resilience.run_once()
    live = {
        d["id"]
        for d in world.client.get("/v1/detections", headers=auth(world.admin_key)).json()["detections"]
    }
    assert len(live) >= 3
    scanned = {d.id for d in scan(_export(world))}
    assert live <= scanned
    assert scanned == live


def test_state_is_shared_across_replicas_and_restarts(world: World, settings: Settings) -> None:
    first = _resilience(world)
    first.persist_seconds = 0
    _enumerate(world, 10)
    assert first.run_once() == []
    # A second replica (another app on the same database) only enforces while the first leads.
    app = create_app(settings, clock=world.clock)
    with TestClient(app, base_url=ISSUER) as other:
        second: Resilience = other.app.state.resilience  # type: ignore[attr-defined]
        _enumerate(world, 10, first=10)  # 20 distinct subjects in the window
        assert second.run_once() == []
        # The first stops (its lease runs out); the second takes over from the saved state.
        world.clock.advance(first.lease_seconds + 1)
        found = second.run_once()
        assert [d.kind for d in found] == ["subject_enumeration"]
        assert second._version >= 2  # continued from the saved state, not restarted
        # It enforces at once; the first, back, sees the response and records nothing twice.
        refused = other.post("/oauth2/token", data=world.token_form(world.travel))
        assert refused.status_code == 403
        assert first.run_once() == []
    listed = world.client.get("/v1/detections", headers=auth(world.admin_key)).json()["detections"]
    assert [d["agents"] for d in listed] == [["travel-agent"]]
    assert world.token(world.travel).status_code == 403


def test_resilience_scan_command_prints_the_live_detections(world: World, tmp_path: Path) -> None:
    _enumerate(world, 20, world.ads)
    (live,) = _resilience(world).run_once()
    export = world.client.get("/v1/audit/export", headers=auth(auditor_key(world)))
    path = tmp_path / "export.jsonl"
    path.write_text(export.text)
    result = CliRunner().invoke(app, ["resilience", "scan", "--log", str(path), "--compare"])
    assert result.exit_code == 0, result.output
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["id"] for d in printed] == [live.id]
    assert printed[0]["evidence"] == live.evidence


def test_resilience_scan_compare_fails_when_a_detection_is_not_reproduced(
    world: World, tmp_path: Path
) -> None:
    _enumerate(world, 20, world.ads)
    _resilience(world).run_once()
    export = world.client.get("/v1/audit/export", headers=auth(auditor_key(world))).text.splitlines()
    # Drop the refusals that made the detection: the recorded detection is no longer reproduced.
    kept = [line for line in export if '"token.denied"' not in line]
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(kept) + "\n")
    result = CliRunner().invoke(app, ["resilience", "scan", "--log", str(path), "--compare"])
    assert result.exit_code == 1
    assert "recorded but not reproduced" in result.output
