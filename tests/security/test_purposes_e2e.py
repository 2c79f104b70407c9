"""Registered purposes through a real `discretion serve` over HTTP, on SQLite and PostgreSQL: the
admin registers a purpose, the user's grant lists it, and an agent's token request naming an
unregistered, retired or confusable purpose is refused before the grant log, whose export then holds
only registered codes."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import create_engine, make_url

from examples.broker_process import BrokerProcess
from tests.agents import TestAgent

pytestmark = pytest.mark.e2e
POSTGRES = (
    os.environ.get("DISCRETION_TEST_POSTGRES_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CALENDAR = "https://calendar.example/api"


@dataclass
class Live:
    """A running broker with a holder, a travel agent, alice and an auditor."""

    broker: BrokerProcess
    admin: dict[str, str]
    alice: dict[str, str]
    auditor: dict[str, str]
    travel: TestAgent

    def token(self, **params: str) -> httpx.Response:
        form = {
            "grant_type": "client_credentials",
            "subject": "alice",
            "resource": CALENDAR,
            "scope": "calendar:read",
            **self.travel.auth_form(self.broker.issuer),
            **params,
        }
        return httpx.post(f"{self.broker.url}/oauth2/token", data=form, timeout=30)

    def events(self) -> list[dict[str, Any]]:
        export = httpx.get(f"{self.broker.url}/v1/audit/export", headers=self.auditor, timeout=30)
        assert export.status_code == 200
        return [json.loads(line)["event"] for line in export.text.splitlines()]


def _postgres_database() -> Iterator[str]:
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    try:
        admin.connect().close()
    except Exception:  # any failure to reach the server means there is nothing to test
        pytest.skip("PostgreSQL is not reachable")
    name = f"discretion_purposes_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def live(request: pytest.FixtureRequest) -> Iterator[Live]:
    databases = _postgres_database() if request.param == "postgresql" else iter([None])
    database = next(databases)
    broker = BrokerProcess(database_url=database).start(timeout=120)
    try:
        admin = {"Authorization": f"Bearer {broker.create_admin_key()}"}
        calendar = TestAgent("calendar-holder", "Calendar Co", "DE", [CALENDAR])
        travel = TestAgent("travel-agent", "Wanderly Travel", "FR")
        with httpx.Client(base_url=broker.url, headers=admin, timeout=30) as http:
            for agent in (calendar, travel):
                http.post("/v1/agents", json=agent.registration()).raise_for_status()
            alice_key = http.post("/v1/users", json={"user_id": "alice"}).raise_for_status().json()["api_key"]
            auditor_key = http.post("/v1/auditors", json={"name": "Ada"}).raise_for_status().json()["api_key"]
            for code, description in (
                ("trip-planning", "Plan and book travel"),
                ("expenses", "File expenses"),
            ):
                http.post("/v1/purposes", json={"code": code, "description": description}).raise_for_status()
        alice = {"Authorization": f"Bearer {alice_key}"}
        grant = {
            "agent": "travel-agent",
            "resource": CALENDAR,
            "scopes": ["calendar:read"],
            "max_ttl_seconds": 600,
            "purposes": ["trip-planning", "expenses"],
        }
        httpx.post(f"{broker.url}/v1/me/grants", json=grant, headers=alice, timeout=30).raise_for_status()
        yield Live(broker, admin, alice, {"Authorization": f"Bearer {auditor_key}"}, travel)
    finally:
        broker.stop()
        for _ in databases:  # drops the PostgreSQL database
            pass


def _token_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if str(e.get("type", "")).startswith("token.")]


def test_a_registered_purpose_on_the_grant_is_issued_and_logged_as_its_code(live: Live) -> None:
    response = live.token(purpose="trip-planning")
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["purpose"] == "trip-planning"
    issued = [e for e in _token_events(live.events()) if e.get("jti") == claims["jti"]]
    assert issued[0]["details"]["inputs"]["purpose"] == "trip-planning"


@pytest.mark.parametrize(
    "purpose",
    ["not-registered", "x" * 2048, "trip\x00planning", "trip-p\u0406anning"],
    ids=["unregistered", "2kb", "nul", "cyrillic-confusable"],
)
def test_an_unregistered_or_malformed_purpose_is_refused_and_never_logged(live: Live, purpose: str) -> None:
    before = live.events()
    response = live.token(purpose=purpose)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    added = live.events()[len(before) :]
    # Background events (checkpoints, detector signals) may land meanwhile; no token decision may,
    # and no event may carry the text.
    assert _token_events(added) == []
    escaped = json.dumps(purpose)[1:-1]
    assert not [e for e in added if purpose in json.dumps(e, ensure_ascii=False) or escaped in json.dumps(e)]


def test_a_retired_purpose_is_refused_at_once_and_the_other_keeps_working(live: Live) -> None:
    assert live.token(purpose="expenses").status_code == 200
    retired = httpx.delete(f"{live.broker.url}/v1/purposes/expenses", headers=live.admin, timeout=30)
    assert retired.status_code == 200
    refused = live.token(purpose="expenses")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_request"
    assert live.token(purpose="trip-planning").status_code == 200
    kinds = [(e["type"], e["details"].get("code")) for e in live.events() if e["type"].startswith("purpose.")]
    assert ("purpose.retired", "expenses") in kinds


def test_the_log_holds_only_registered_purpose_codes(live: Live) -> None:
    listed = httpx.get(f"{live.broker.url}/v1/purposes", headers=live.alice, timeout=30).json()["purposes"]
    registered = {p["code"] for p in listed}
    logged = set()
    for event in live.events():
        details = event.get("details") or {}
        inputs = details.get("inputs") or {}
        if inputs.get("purpose") is not None:
            logged.add(inputs["purpose"])
        logged.update(details.get("purposes") or ())
    assert logged
    assert logged <= registered
