"""The console in a real browser against a real broker process: the issue's scenario (a user
blocks an organization on the page, its agent is refused, an auditor finds the refusal and its
reason), CSRF and session-fixation attempts, and a screenshot of every page."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from examples.broker_process import BrokerProcess
from tests.agents import TestAgent
from tests.broker.web.conftest import shot

pytestmark = pytest.mark.e2e
CALENDAR = "https://calendar.example/api"


class Cast:
    """The scenario's people and agents on one broker."""

    def __init__(self, broker: BrokerProcess) -> None:
        self.broker = broker
        self.admin_key = broker.create_admin_key()
        self.admin = httpx.Client(base_url=broker.url, headers={"Authorization": f"Bearer {self.admin_key}"})
        self.calendar = TestAgent("calendar-holder", "Calendar Co", "DE", [CALENDAR])
        self.travel = TestAgent("travel-agent", "Wanderly Travel", "FR")
        self.ads = TestAgent("ad-agent", "AdTrack Inc.", "US-CA")
        for agent in (self.calendar, self.travel):
            self.admin.post("/v1/agents", json=agent.registration()).raise_for_status()
        self.alice_key = self.user("alice")

    def user(self, user_id: str) -> str:
        """Create a user through the API; returns its key."""
        return str(
            self.admin.post("/v1/users", json={"user_id": user_id}).raise_for_status().json()["api_key"]
        )

    def token(self, agent: TestAgent, subject: str = "alice") -> httpx.Response:
        """A client_credentials token request from `agent` for the subject's calendar."""
        form = {
            "grant_type": "client_credentials",
            "subject": subject,
            "resource": CALENDAR,
            "scope": "calendar:read",
            **agent.auth_form(self.broker.issuer, now=time.time()),
        }
        return httpx.post(f"{self.broker.url}/oauth2/token", data=form)

    def entries(self, key: str) -> list[dict[str, Any]]:
        """A user's list entries, read through the API."""
        response = httpx.get(f"{self.broker.url}/v1/me/blocklist", headers={"Authorization": f"Bearer {key}"})
        return list(response.raise_for_status().json()["entries"])


@pytest.fixture(scope="module")
def cast(broker: BrokerProcess) -> Iterator[Cast]:
    """Agents and alice on the module's broker."""
    world = Cast(broker)
    yield world
    world.admin.close()


def sign_in(page: Any, broker: BrokerProcess, key: str) -> None:
    """Sign in on the page with an API key, using the keyboard like a person would."""
    page.goto(f"{broker.url}/console/signin")
    page.get_by_label("API key").fill(key)
    page.get_by_label("API key").press("Enter")
    page.wait_for_load_state()


def test_block_on_the_page_refuses_the_agent_and_the_auditor_finds_why(browser: Any, cast: Cast) -> None:
    broker, url = cast.broker, cast.broker.url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)

    sign_in(page, broker, "dsc_adm_0000.not-a-key")
    assert "That API key is not valid." in page.inner_text("#form-error")
    shot(page, "signin")

    # The admin registers the ad agent on the page (organization and locale attested) and an auditor.
    sign_in(page, broker, cast.admin_key)
    assert page.url == f"{url}/console/admin/agents"
    page.get_by_label("Client id").fill("ad-agent")
    page.get_by_label("Name", exact=True).fill("Ad Agent")
    page.get_by_label("Organization (attested)").fill("AdTrack Inc.")
    page.get_by_label("Locale (attested): country or subdivision code").fill("US-CA")
    page.get_by_label("Public keys (JWKS JSON)").fill(json.dumps(cast.ads.jwks()))
    page.get_by_role("button", name="Register agent").click()
    assert "The agent is registered." in page.inner_text(".notice")
    assert "US-CA (California, United States)" in page.inner_text("tr[data-agent='ad-agent']")
    shot(page, "admin_agents")
    page.get_by_role("link", name="Users and auditors").click()
    page.get_by_label("New auditor's name").fill("Ann Auditor")
    page.get_by_role("button", name="Create auditor and key").click()
    auditor_key = page.input_value("#new-key")
    assert auditor_key.startswith("dsc_aud_")
    shot(page, "admin_people")
    page.get_by_role("button", name="Sign out").click()

    # Alice grants the ad agent's whole organization access; the agent gets a token.
    sign_in(page, broker, cast.alice_key)
    assert page.url == f"{url}/console/grants"
    page.get_by_label("every agent of an organization").check()
    page.get_by_label("Organization", exact=True).fill("AdTrack Inc.")
    page.get_by_label("Resource (at its holder)").select_option(CALENDAR)
    page.get_by_role("group", name="Reveal in clear").get_by_label("email address").check()
    page.get_by_role("button", name="Create grant").click()
    assert "The grant is in force." in page.inner_text(".notice")
    assert cast.token(cast.ads).status_code == 200
    shot(page, "grants")

    # She sees the issued token in her activity and blocks the organization (after confirming).
    page.get_by_role("link", name="Activity").click()
    row = page.locator("li.event[data-type='token.issued']").first
    assert "Ad Agent (AdTrack Inc.)" in row.inner_text()
    row.get_by_role("button", name="Block AdTrack Inc.").click()
    page.get_by_role("button", name="Block AdTrack Inc.").click()
    assert page.url.startswith(f"{url}/console/activity")
    assert "Added." in page.inner_text(".notice")
    assert [e["value"] for e in cast.entries(cast.alice_key)] == ["adtrack-inc"]

    # The agent is refused from now on; the refusal shows in her timeline with its reason.
    refused = cast.token(cast.ads)
    assert refused.status_code == 403
    assert refused.json()["error"] == "access_denied"
    page.reload()
    denied = page.locator("li.event[data-type='token.denied']").first
    assert "you blocked this organization" in denied.inner_text()
    shot(page, "activity")

    # The blocklist page: the entry, and a search for a region by name.
    page.get_by_role("link", name="Blocklist").click()
    page.get_by_label("Search by name or code").fill("california")
    page.get_by_label("Search by name or code").press("Enter")
    assert "California" in page.inner_text("ul.results")
    shot(page, "blocklist")
    page.get_by_role("button", name="Sign out").click()

    # The auditor finds the refusal by filtering the log, then opens its reconstruction.
    sign_in(page, broker, auditor_key)
    assert page.url == f"{url}/console/audit"
    page.get_by_role("button", name="Sign a checkpoint now").click()
    assert "the log verifies against it" in page.inner_text("#verdict-status")
    page.get_by_label("Decision", exact=True).select_option("deny")
    page.get_by_label("Reason", exact=True).select_option("blocked_organization")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#log-table tbody tr")
    assert rows.count() == 1
    assert "ad-agent" in rows.first.inner_text()
    assert "blocked_organization" in rows.first.inner_text()
    page.get_by_label("Agent (any position)").fill("")
    page.get_by_label("Reason", exact=True).select_option("")
    page.get_by_label("Decision", exact=True).select_option("")
    page.get_by_role("button", name="Filter").click()
    shot(page, "audit")
    page.get_by_label("Decision", exact=True).select_option("deny")
    page.get_by_role("button", name="Filter").click()
    page.locator("#log-table tbody tr a").first.click()
    assert "blocked_organization" in page.inner_text("#reconstruction")
    assert "same outcome" in page.inner_text("#replay-status")
    assert "Included in the signed checkpoint" in page.inner_text("#proof-status")
    shot(page, "audit_event")
    with page.expect_download() as download:
        page.goto(f"{url}/console/audit")
        page.get_by_role("link", name="OCSF JSON").click()
    assert json.loads(download.value.path().read_text())[0]["class_uid"] == 6003
    assert violations == []
    context.close()


class _Attacker(BaseHTTPRequestHandler):
    """Serves one page that posts a form to the broker as soon as it loads."""

    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_: Any) -> None:
        return


@pytest.fixture
def attacker_site() -> Iterator[tuple[str, type[_Attacker]]]:
    """Another origin on the same host (another port: same site, so SameSite does not help)."""
    handler = type("Handler", (_Attacker,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("token", ["", "forged-token"])
def test_cross_site_form_post_is_refused(
    browser: Any, cast: Cast, attacker_site: tuple[str, type[_Attacker]], token: str
) -> None:
    origin, handler = attacker_site
    context = browser.new_context()
    context.set_default_timeout(10_000)
    page = context.new_page()
    sign_in(page, cast.broker, cast.alice_key)
    before = cast.entries(cast.alice_key)
    handler.body = f"""<!doctype html><form id=f method=post action="{cast.broker.url}/console/blocklist">
        <input name=csrf value="{token}"><input name=kind value=agent><input name=value value=travel-agent>
        </form><script>document.getElementById('f').submit()</script>""".encode()
    with page.expect_navigation(url=f"{cast.broker.url}/console/blocklist"):
        page.goto(origin)
    assert "Form refused" in page.inner_text("h1")
    assert cast.entries(cast.alice_key) == before
    context.close()


def test_session_fixation_fails(browser: Any, cast: Cast) -> None:
    broker = cast.broker
    # The attacker learns a pre-session cookie and signs in with their own key to get a real
    # session cookie, then plants both in the victim's browser.
    mallory_key = cast.user(f"mallory-{time.time_ns()}")
    attacker = browser.new_context()
    attacker_page = attacker.new_page()
    sign_in(attacker_page, broker, mallory_key)
    attacker_cookies = {c["name"]: c["value"] for c in attacker.cookies()}
    planted = [
        {"name": "discretion-pre", "value": "attacker-knows-this", "url": broker.url},
        {"name": "discretion-session", "value": "attacker-chosen-session-id", "url": broker.url},
    ]
    victim = browser.new_context()
    victim.add_cookies(planted)
    page = victim.new_page()
    sign_in(page, broker, cast.alice_key)
    assert page.url == f"{broker.url}/console/grants"
    session = {c["name"]: c["value"] for c in victim.cookies()}["discretion-session"]
    assert session not in ("attacker-chosen-session-id", attacker_cookies["discretion-session"])
    # Neither planted value opens alice's console, and mallory's own session stays mallory's.
    for value in ("attacker-chosen-session-id", attacker_cookies["discretion-session"]):
        probe = httpx.get(f"{broker.url}/console/blocklist", cookies={"discretion-session": value})
        assert "alice" not in probe.text
    assert cast.entries(mallory_key) == []
    # Signing in again mints yet another session id.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, broker, cast.alice_key)
    assert {c["name"]: c["value"] for c in victim.cookies()}["discretion-session"] != session
    attacker.close()
    victim.close()
