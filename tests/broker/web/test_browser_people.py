"""The console for people, in Chromium against a real broker process: the list-mode switch works
both ways, pickers preselect nothing and search the directory, every destructive action is
confirmed (and cancelling changes nothing), blocking the holder of one's own data warns, a
misspelt organization gets suggestions, pages show names instead of ids, the auditor's pages show
JSON and ISO times and say how much of the log the checkpoint covers, and error pages keep the
navigation. Each test fails on the console as it was before these fixes."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from examples.broker_process import BrokerProcess
from tests.agents import TestAgent
from tests.broker.web.conftest import shot

pytestmark = pytest.mark.e2e
CALENDAR = "https://calendar.example/api"
ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class People:
    """Agents, users and an auditor on one broker, made through the API."""

    def __init__(self, broker: BrokerProcess) -> None:
        self.broker = broker
        self.admin_key = broker.create_admin_key()
        self.admin = httpx.Client(base_url=broker.url, headers={"Authorization": f"Bearer {self.admin_key}"})
        self.calendar = TestAgent("calendar-holder", "Calendar Co", "DE", [CALENDAR])
        self.travel = TestAgent("travel-agent", "Wanderly Travel", "FR")
        self.ads = TestAgent("ad-agent", "AdTrack Inc.", "US-CA")
        for agent in (self.calendar, self.travel, self.ads):
            self.admin.post("/v1/agents", json=agent.registration()).raise_for_status()
        created = self.admin.post("/v1/auditors", json={"name": "Ann Auditor"}).raise_for_status().json()
        self.auditor_key = str(created["api_key"])

    def user(self, prefix: str) -> tuple[str, str]:
        """A new user (its id and key)."""
        user_id = f"{prefix}-{time.time_ns()}"
        body = self.admin.post("/v1/users", json={"user_id": user_id}).raise_for_status().json()
        return user_id, str(body["api_key"])

    def me(self, key: str) -> httpx.Client:
        """An API client acting as a user."""
        return httpx.Client(base_url=self.broker.url, headers={"Authorization": f"Bearer {key}"})

    def grant(self, key: str, agent: str) -> str:
        """A calendar:read grant to an agent, through the API; returns its id."""
        body = {"agent": agent, "resource": CALENDAR, "scopes": ["calendar:read"], "max_ttl_seconds": 600}
        with self.me(key) as client:
            return str(client.post("/v1/me/grants", json=body).raise_for_status().json()["grant_id"])

    def token(self, agent: TestAgent, subject: str) -> httpx.Response:
        """A client_credentials token request from `agent` for the subject's calendar."""
        form = {
            "grant_type": "client_credentials",
            "subject": subject,
            "resource": CALENDAR,
            "scope": "calendar:read",
            **agent.auth_form(self.broker.issuer, now=time.time()),
        }
        return httpx.post(f"{self.broker.url}/oauth2/token", data=form)

    def lists(self, key: str) -> dict[str, Any]:
        """A user's list mode and entries, through the API."""
        with self.me(key) as client:
            return dict(client.get("/v1/me/blocklist").raise_for_status().json())

    def grants(self, key: str) -> list[dict[str, Any]]:
        """A user's grants, through the API."""
        with self.me(key) as client:
            return list(client.get("/v1/me/grants").raise_for_status().json()["grants"])


@pytest.fixture(scope="module")
def people(broker: BrokerProcess) -> Iterator[People]:
    """The module's agents and auditor."""
    world = People(broker)
    yield world
    world.admin.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page, failing the test on any CSP violation."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    violations: list[str] = []
    tab.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    yield tab
    context.close()
    assert violations == []


def sign_in(page: Any, broker: BrokerProcess, key: str) -> None:
    """Sign in on the page with an API key."""
    page.goto(f"{broker.url}/console/signin")
    page.get_by_label("API key").fill(key)
    page.get_by_label("API key").press("Enter")
    page.wait_for_load_state()


def test_list_mode_switch_goes_to_allowlist_only_and_back(page: Any, people: People) -> None:
    _, key = people.user("modal")
    sign_in(page, people.broker, key)
    page.goto(f"{people.broker.url}/console/blocklist")
    assert page.inner_text("#current-mode") == "blocklist"
    page.get_by_role("switch", name="Allowlist-only mode").click()
    # Refusing everyone not allowed is destructive: it is confirmed, with what it will do.
    assert "Switch to allowlist-only mode?" in page.inner_text("h1")
    assert "Nothing is on your allowlist yet" in page.inner_text("main")
    shot(page, "confirm_mode")
    page.get_by_role("button", name="Switch to allowlist-only mode").click()
    assert "The list mode is changed." in page.inner_text(".notice")
    assert page.inner_text("#current-mode") == "allowlist only"
    assert page.get_by_role("switch").get_attribute("aria-checked") == "true"
    assert people.lists(key)["mode"] == "allowlist_only"
    page.get_by_role("switch", name="Allowlist-only mode").click()
    assert page.inner_text("#current-mode") == "blocklist"
    assert page.get_by_role("switch").get_attribute("aria-checked") == "false"
    assert people.lists(key)["mode"] == "blocklist"


def test_pickers_preselect_nothing_and_search_the_directory(page: Any, people: People) -> None:
    _, key = people.user("picky")
    sign_in(page, people.broker, key)
    page.goto(f"{people.broker.url}/console/blocklist")
    assert page.input_value("#agent-value") == ""
    assert page.input_value("#place-code") == ""
    assert page.input_value("#org-value") == ""
    # An empty pick cannot be submitted: the browser stops it and nothing is added.
    page.get_by_role("button", name="Block agent").click()
    page.get_by_role("button", name="Block country or group").click()
    assert page.url.endswith("/console/blocklist")
    assert people.lists(key)["entries"] == []
    # The pickers suggest the directory by name and organization.
    labels = page.locator("#agent-directory option").evaluate_all("os => os.map(o => o.label)")
    assert "Travel Agent (Wanderly Travel)" in labels
    assert "Germany" in page.locator("#country-list option").evaluate_all("os => os.map(o => o.label)")
    # A typed name is resolved: an agent's name to its client id, a country's name to its code.
    page.get_by_label("Agent", exact=True).fill("Travel Agent")
    page.get_by_role("button", name="Block agent").click()
    assert "Block Travel Agent (Wanderly Travel)?" in page.inner_text("h1")
    page.get_by_role("button", name="Block Travel Agent").click()
    page.get_by_label("Or type a country or group").fill("Germany")
    page.get_by_role("button", name="Block country or group").click()
    assert "Block DE (Germany)?" in page.inner_text("h1")
    page.get_by_role("button", name="Block DE (Germany)").click()
    values = {(e["kind"], e["value"]) for e in people.lists(key)["entries"]}
    assert values == {("agent", "travel-agent"), ("locale", "DE")}
    page.goto(f"{people.broker.url}/console/grants")
    assert page.input_value("#grant-agent") == ""
    assert page.input_value("#grant-resource") == ""


def test_destructive_actions_are_confirmed_and_cancel_changes_nothing(page: Any, people: People) -> None:
    _, key = people.user("careful")
    people.grant(key, "travel-agent")
    sign_in(page, people.broker, key)
    base = people.broker.url

    # Block: confirmed; cancelling leaves the list as it was.
    page.goto(f"{base}/console/blocklist")
    page.get_by_label("Organization", exact=True).fill("AdTrack Inc.")
    page.get_by_role("button", name="Add organization").click()
    assert "Block AdTrack Inc.?" in page.inner_text("h1")
    shot(page, "confirm_block")
    page.get_by_role("link", name="Cancel").click()
    assert page.url == f"{base}/console/blocklist"
    assert people.lists(key)["entries"] == []
    page.get_by_label("Organization", exact=True).fill("AdTrack Inc.")
    page.get_by_role("button", name="Add organization").click()
    page.get_by_role("button", name="Block AdTrack Inc.").click()
    assert [e["value"] for e in people.lists(key)["entries"]] == ["adtrack-inc"]

    # Remove: confirmed too.
    page.get_by_role("button", name="Remove organization AdTrack Inc.").click()
    assert "Remove AdTrack Inc. from your list?" in page.inner_text("h1")
    page.get_by_role("link", name="Cancel").click()
    assert len(people.lists(key)["entries"]) == 1
    page.get_by_role("button", name="Remove organization AdTrack Inc.").click()
    page.get_by_role("button", name="Remove the entry").click()
    assert people.lists(key)["entries"] == []

    # Revoke: the confirmation names the grant by agent and holder, not by id.
    page.goto(f"{base}/console/grants")
    page.get_by_role("button", name="Revoke the grant to Travel Agent").click()
    text = page.inner_text("main")
    assert "Revoke this grant?" in text
    assert "Travel Agent (Wanderly Travel)" in text
    assert "Calendar Holder (Calendar Co)" in text
    assert "g_" not in text
    page.get_by_role("link", name="Cancel").click()
    assert people.grants(key)[0]["revoked_at"] is None
    page.get_by_role("button", name="Revoke the grant to Travel Agent").click()
    page.get_by_role("button", name="Revoke the grant").click()
    assert "The grant is revoked" in page.inner_text(".notice")
    assert people.grants(key)[0]["revoked_at"] is not None
    page.get_by_role("button", name="Sign out").click()

    # Suspend (admin): confirmed; cancelling leaves the agent active.
    sign_in(page, people.broker, people.admin_key)
    page.goto(f"{base}/console/admin/agents")
    page.get_by_role("button", name="Suspend ad-agent").click()
    assert "Suspend Ad Agent?" in page.inner_text("h1")
    page.get_by_role("link", name="Cancel").click()
    assert "active" in page.inner_text("tr[data-agent='ad-agent']")
    page.get_by_role("button", name="Suspend ad-agent").click()
    page.get_by_role("button", name="Suspend Ad Agent").click()
    assert "suspended" in page.inner_text("tr[data-agent='ad-agent']")
    page.get_by_role("button", name="Reinstate ad-agent").click()
    assert "active" in page.inner_text("tr[data-agent='ad-agent']")


def test_blocking_the_holder_of_your_own_data_warns_first(page: Any, people: People) -> None:
    user_id, key = people.user("holder")
    people.grant(key, "travel-agent")
    assert people.token(people.travel, user_id).status_code == 200
    sign_in(page, people.broker, key)
    page.goto(f"{people.broker.url}/console/activity")
    row = page.locator("li.event[data-type='token.issued']").first
    assert "holds this data" in row.inner_text()
    row.get_by_role("button", name="Block Calendar Co").click()
    warning = page.inner_text(".warning")
    assert "Calendar Holder (Calendar Co) holds your data" in warning
    shot(page, "confirm_holder")
    page.get_by_role("link", name="Cancel").click()
    assert page.url == f"{people.broker.url}/console/activity"
    assert people.lists(key)["entries"] == []
    # The same warning on the blocklist page, for its country and for the agent itself.
    page.goto(f"{people.broker.url}/console/blocklist")
    page.get_by_label("Or type a country or group").fill("DE")
    page.get_by_role("button", name="Block country or group").click()
    assert "holds your data" in page.inner_text(".warning")
    page.goto(f"{people.broker.url}/console/blocklist")
    page.get_by_label("Agent", exact=True).fill("calendar-holder")
    page.get_by_role("button", name="Block agent").click()
    assert "holds your data" in page.inner_text(".warning")
    # Blocking another party gives no such warning.
    page.goto(f"{people.broker.url}/console/blocklist")
    page.get_by_label("Organization", exact=True).fill("Wanderly Travel")
    page.get_by_role("button", name="Add organization").click()
    assert page.locator(".warning").count() == 0
    assert people.lists(key)["entries"] == []


def test_misspelt_organization_gets_a_warning_and_suggestions(page: Any, people: People) -> None:
    _, key = people.user("typo")
    sign_in(page, people.broker, key)
    page.goto(f"{people.broker.url}/console/blocklist")
    page.get_by_label("Organization", exact=True).fill("AdTrak Inc")
    page.get_by_role("button", name="Add organization").click()
    assert page.inner_text("h1") == "Block AdTrak Inc?"
    assert "matches nobody today" in page.inner_text(".warning")
    shot(page, "confirm_misspelt")
    page.get_by_role("button", name="Block AdTrack Inc. instead").click()
    assert [e["value"] for e in people.lists(key)["entries"]] == ["adtrack-inc"]
    # An allow entry that matches nobody is flagged too, and can still be kept on purpose.
    page.get_by_label("Organization", exact=True).fill("Nobody Such GmbH")
    page.get_by_label("Effect").select_option("allow")
    page.get_by_role("button", name="Add organization").click()
    assert "matches nobody today" in page.inner_text(".warning")
    page.get_by_role("button", name="Allow Nobody Such GmbH").click()
    assert len(people.lists(key)["entries"]) == 2


def test_grants_and_activity_show_names_not_ids(page: Any, people: People) -> None:
    user_id, key = people.user("named")
    grant_id = people.grant(key, "travel-agent")
    assert people.token(people.travel, user_id).status_code == 200
    sign_in(page, people.broker, key)
    page.goto(f"{people.broker.url}/console/grants")
    row = page.locator(f"tr[data-grant='{grant_id}']")
    assert "Travel Agent (Wanderly Travel)" in row.locator(".grantee").inner_text()
    assert "at Calendar Holder (Calendar Co)" in row.inner_text()
    assert "travel-agent" not in row.inner_text()
    page.goto(f"{people.broker.url}/console/activity")
    text = page.inner_text("ol.timeline")
    assert grant_id not in text
    assert "g_" not in text
    issued = page.locator("li.event[data-type='token.issued']").first
    assert issued.locator("dd.agents").inner_text() == "Travel Agent (Wanderly Travel)"
    assert issued.locator("dd.holder").inner_text() == "Calendar Holder (Calendar Co)"
    created = page.locator("li.event[data-type='grant.created']").first
    assert "grant to Travel Agent (Wanderly Travel) for https://calendar.example/api at Calendar Holder" in (
        created.inner_text()
    )
    assert ISO_TIME.match(issued.locator("time").inner_text())


def test_auditor_pages_show_json_iso_times_and_true_checkpoint_coverage(page: Any, people: People) -> None:
    user_id, key = people.user("audited")
    sign_in(page, people.broker, people.auditor_key)
    page.get_by_role("button", name="Sign a checkpoint now").click()
    covered = int(page.inner_text("#cp-size"))
    assert "covers all" in page.inner_text("#verdict-status")
    # New events after the checkpoint: the verdict says how much the checkpoint covers.
    people.grant(key, "travel-agent")
    assert people.token(people.travel, user_id).status_code == 200
    page.reload()
    status = page.inner_text("#verdict-status")
    events = covered + 2
    assert f"covers {covered} of {events} events" in status
    assert "2 newer events are not covered" in status
    assert "partial" in (page.get_attribute("#verdict", "class") or "")
    shot(page, "audit_partial")
    # The decision's page: inputs as JSON, times in ISO 8601, never a Python repr.
    page.get_by_label("Subject (user ref)").fill("")
    page.get_by_label("Type", exact=True).select_option("token.issued")
    page.get_by_role("button", name="Filter").click()
    page.locator("#log-table tbody tr a").last.click()
    inputs = page.inner_text("#inputs")
    assert '["calendar:read"]' in inputs
    assert "null" in inputs
    for repr_ in ("None", "['", "True", "False"):
        assert repr_ not in inputs
    now_row = page.locator("#inputs tr", has=page.locator("th", has_text=re.compile("^now$")))
    assert ISO_TIME.match(now_row.locator("time").inner_text())
    assert ISO_TIME.match(page.inner_text("#event-time time"))
    shot(page, "audit_event_inputs")


@pytest.mark.parametrize(
    ("path", "status", "title"),
    [
        ("/console/audit", 403, "Not for this key"),
        ("/console/no-such-page", 404, "Not found"),
        ("/console/activity?before=0", 422, "Request refused"),
    ],
)
def test_error_pages_keep_the_navigation(
    page: Any, people: People, path: str, status: int, title: str
) -> None:
    _, key = people.user("lost")
    sign_in(page, people.broker, key)
    response = page.goto(f"{people.broker.url}{path}")
    assert response.status == status
    assert page.inner_text("h1") == title
    nav = page.get_by_role("navigation", name="Console")
    assert nav.get_by_role("link", name="Grants").is_visible()
    nav.get_by_role("link", name="Blocklist").click()
    assert page.url == f"{people.broker.url}/console/blocklist"
    # Outside the console, errors stay JSON for API clients.
    assert (
        httpx.get(f"{people.broker.url}/v1/no-such-thing").headers["content-type"].startswith("application/")
    )


def test_organizations_are_picked_from_the_directory_by_any_name(page: Any, people: People) -> None:
    # An organization with a legal-name alias and a domain, a subsidiary, and an agent of it.
    people.admin.post(
        "/v1/organizations",
        json={"id": "adcorp", "name": "AdCorp", "aliases": ["AdCorp GmbH"], "domains": ["adcorp.example"]},
    ).raise_for_status()
    people.admin.post(
        "/v1/organizations", json={"id": "adcorp-labs", "name": "AdCorp Labs", "parent": "adcorp"}
    ).raise_for_status()
    labs = TestAgent("labs-agent", "adcorp-labs", "PR")
    people.admin.post("/v1/agents", json=labs.registration()).raise_for_status()
    user_id, key = people.user("orgs")
    people.grant(key, "labs-agent")
    sign_in(page, people.broker, key)
    base = people.broker.url
    # The server-side search finds an organization by alias, as typed with a Cyrillic capital A (U+0410).
    found = page.evaluate(
        "q => fetch('/console/organizations?q=' + q).then(r => r.json())", "\u0410dCorp gmbh"
    )
    assert found["organizations"][0]["id"] == "adcorp"
    page.goto(f"{base}/console/blocklist")
    options = page.locator("#organizations option").evaluate_all("os => os.map(o => o.value + ' ' + o.label)")
    assert any("AdCorp GmbH" in o and "adcorp.example" in o for o in options)
    # Typing the domain picks the organization; the block covers its subsidiary's agent.
    page.get_by_label("Organization", exact=True).fill("adcorp.example")
    page.get_by_role("button", name="Add organization").click()
    assert page.inner_text("h1") == "Block AdCorp?"
    page.get_by_role("button", name="Block AdCorp").click()
    assert [e["value"] for e in people.lists(key)["entries"]] == ["adcorp"]
    assert people.token(labs, user_id).status_code == 403
    assert "AdCorp" in page.locator("table.data tbody tr").first.inner_text()
    # A group of countries is picked by name.
    page.get_by_label("Or type a country or group").fill("European Union")
    page.get_by_role("button", name="Block country or group").click()
    assert page.inner_text("h1") == "Block EU (European Union)?"
    # A grant to an organization: a misspelt name gets a hint; an alias names it.
    page.goto(f"{base}/console/grants")
    page.get_by_label("every agent of an organization").check()
    page.get_by_label("Organization", exact=True).fill("AdKorp")
    page.get_by_label("Resource (at its holder)").select_option(CALENDAR)
    page.get_by_role("button", name="Create grant").click()
    assert "No registered organization is called “AdKorp”. Did you mean AdCorp" in page.inner_text(
        "#form-error"
    )
    page.get_by_label("Organization", exact=True).fill("AdCorp GmbH")
    page.get_by_role("button", name="Create grant").click()
    assert "The grant is in force." in page.inner_text(".notice")
    assert "every agent of AdCorp" in page.locator("td.grantee").first.inner_text()
