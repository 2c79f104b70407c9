"""Detections in a real browser against a real broker process: an agent enumerating users is
quarantined by the live detector within seconds, the admin sees its rate and refusals plotted
against its organization's band and releases it, and the user sees the detection."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from examples.broker_process import BrokerProcess
from tests.agents import TestAgent
from tests.broker.web.conftest import browser as browser  # the console tests' Chromium fixture
from tests.broker.web.conftest import shot

pytestmark = pytest.mark.e2e
CALENDAR = "https://calendar.example/api"


@pytest.fixture(scope="module")
def broker() -> Iterator[BrokerProcess]:
    """A real broker, enforcing, its detector polling every half second."""
    env = {"DISCRETION_RESILIENCE_MODE": "enforce", "DISCRETION_RESILIENCE_POLL_SECONDS": "0.5"}
    process = BrokerProcess(extra_env=env)
    process.start(timeout=180.0)
    yield process
    process.stop()


def _sign_in(page: Any, broker: BrokerProcess, key: str) -> None:
    page.goto(f"{broker.url}/console/signin")
    page.get_by_label("API key").fill(key)
    page.get_by_label("API key").press("Enter")
    page.wait_for_load_state()


def test_admin_sees_the_plot_and_releases_a_quarantined_agent(browser: Any, broker: BrokerProcess) -> None:
    admin_key = broker.create_admin_key()
    admin = httpx.Client(base_url=broker.url, headers={"Authorization": f"Bearer {admin_key}"})
    calendar = TestAgent("calendar-holder", "Calendar Co", "DE", [CALENDAR])
    travel = TestAgent("travel-agent", "Wanderly Travel", "FR")
    for agent in (calendar, travel):
        admin.post("/v1/agents", json=agent.registration()).raise_for_status()
    alice_key = admin.post("/v1/users", json={"user_id": "alice"}).raise_for_status().json()["api_key"]
    grant = {
        "agent": "travel-agent",
        "resource": CALENDAR,
        "scopes": ["calendar:read"],
        "max_ttl_seconds": 600,
    }
    httpx.post(
        f"{broker.url}/v1/me/grants", json=grant, headers={"Authorization": f"Bearer {alice_key}"}
    ).raise_for_status()

    def token(subject: str) -> httpx.Response:
        form = {
            "grant_type": "client_credentials",
            "subject": subject,
            "resource": CALENDAR,
            "scope": "calendar:read",
            **travel.auth_form(broker.issuer, now=time.time()),
        }
        return httpx.post(f"{broker.url}/oauth2/token", data=form)

    assert all(token("alice").status_code == 200 for _ in range(5))
    for n in range(20):
        token(f"user-{n}")
    sent = time.monotonic()
    while time.monotonic() - sent < 30:
        if admin.get("/v1/agents/travel-agent").json()["status"] == "quarantined":
            break
        time.sleep(0.2)
    seen = time.monotonic() - sent
    assert admin.get("/v1/agents/travel-agent").json()["status"] == "quarantined", seen
    assert token("alice").status_code == 403

    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(15_000)
    page = context.new_page()
    _sign_in(page, broker, admin_key)
    page.goto(f"{broker.url}/console/admin/detections?agent=travel-agent")
    plot = page.locator("svg.chart-svg").first
    assert plot.is_visible()
    assert page.locator("svg.chart-svg polyline").count() >= 2
    assert "subject enumeration" in page.inner_text("main")
    shot(page, "admin_detections")
    page.get_by_role("button", name="Release travel-agent").first.click()
    page.wait_for_load_state()
    assert admin.get("/v1/agents/travel-agent").json()["status"] == "active"
    deadline = time.monotonic() + 10
    while token("alice").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert token("alice").status_code == 200

    page.get_by_role("button", name="Sign out").click()
    _sign_in(page, broker, alice_key)
    page.goto(f"{broker.url}/console/activity")
    assert "behaving unusually" in page.inner_text("main")
    shot(page, "activity_detections")
    context.close()
    admin.close()
