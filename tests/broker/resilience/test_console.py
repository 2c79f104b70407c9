"""Detections in the console: admins see the evidence and the plot and release; auditors read."""

from __future__ import annotations

from broker.resilience.service import Resilience
from tests.broker.grantlog.helpers import auditor_key
from tests.broker.web.helpers import csrf_of, sign_in
from tests.conftest import World


def _quarantine(world: World) -> None:
    world.grant()
    for _ in range(5):
        assert world.token(world.travel).status_code == 200
    for n in range(20):
        world.token(world.travel, subject=f"user-{n}")
    resilience: Resilience = world.client.app.state.resilience  # type: ignore[attr-defined]
    assert resilience.run_once()


def test_admin_reviews_the_evidence_and_releases(world: World) -> None:
    _quarantine(world)
    sign_in(world.client, world.admin_key)
    listing = world.client.get("/console/admin/detections")
    assert listing.status_code == 200
    assert "subject enumeration" in listing.text
    assert "distinct refused subjects" in listing.text
    assert "Release travel-agent" in listing.text
    profile = world.client.get("/console/admin/detections", params={"agent": "travel-agent"})
    assert "<polyline" in profile.text
    assert "Peers&#39; median" in profile.text or "Peers' median" in profile.text
    released = world.client.post(
        "/console/admin/agents/travel-agent/release",
        data={"csrf": csrf_of(listing.text)},
        follow_redirects=True,
    )
    assert released.status_code == 200
    assert "released" in released.text
    assert world.token(world.travel).status_code == 200


def test_release_without_the_form_token_is_refused(world: World) -> None:
    _quarantine(world)
    sign_in(world.client, world.admin_key)
    refused = world.client.post("/console/admin/agents/travel-agent/release", data={"csrf": "forged"})
    assert refused.status_code == 403
    assert world.token(world.travel).status_code == 403


def test_auditor_reads_detections_without_release_buttons(world: World) -> None:
    _quarantine(world)
    sign_in(world.client, auditor_key(world))
    listing = world.client.get("/console/audit/detections")
    assert listing.status_code == 200
    assert "subject enumeration" in listing.text
    assert "Release" not in listing.text
    assert world.client.get("/console/admin/detections").status_code in (303, 403)


def test_users_see_detections_of_agents_that_asked_for_their_data(world: World) -> None:
    _quarantine(world)
    sign_in(world.client, world.alice_key)
    activity = world.client.get("/console/activity")
    assert activity.status_code == 200
    assert "behaving unusually" in activity.text
    assert "subject enumeration; the agent was quarantined" in activity.text


def test_users_see_no_detections_of_agents_that_never_asked_for_their_data(world: World) -> None:
    for n in range(20):
        world.token(world.ads, subject=f"user-{n}")
    resilience: Resilience = world.client.app.state.resilience  # type: ignore[attr-defined]
    assert resilience.run_once()
    sign_in(world.client, world.alice_key)
    assert "behaving unusually" not in world.client.get("/console/activity").text


def test_auditors_see_detections_beside_the_decisions(world: World) -> None:
    _quarantine(world)
    sign_in(world.client, auditor_key(world))
    log = world.client.get("/console/audit", params={"agent": "travel-agent"})
    assert log.status_code == 200
    assert 'id="audit-detections"' in log.text
    assert "subject enumeration" in log.text
    # The decisions of the detected agent carry a link to its detections.
    assert "/console/audit/detections?agent=travel-agent" in log.text
    assert 'class="badge deny" href="/console/audit/detections?agent=travel-agent"' in log.text
