"""Shared fixtures: a broker app on a fresh SQLite database per test, a movable clock, agents."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url

from broker.api import create_app
from broker.services.admin import AdminService
from broker.settings import Settings
from broker.storage.db import Store
from tests.agents import TestAgent

ISSUER = "https://broker.test"
CALENDAR_URI = "https://calendar.example/api"
# The PostgreSQL leg: e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test (its server, any database).
POSTGRES_URL = os.environ.get("DISCRETION_TEST_POSTGRES_URL") or None


class Clock:
    """A clock tests can move; starts at the real time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database, copied for each test (migrating every time is slow)."""
    path = tmp_path_factory.mktemp("template") / "discretion.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.dispose()
    return path


def _postgres_admin() -> Any:
    return create_engine(POSTGRES_URL or "", isolation_level="AUTOCOMMIT")


def _database_url(name: str) -> str:
    return make_url(POSTGRES_URL or "").set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL database that each test's database is created from."""
    name = f"discretion_tmpl_{os.getpid()}"
    admin = _postgres_admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    store = Store(_database_url(name))
    store.migrate()
    store.dispose()
    yield name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Settings]:
    """Settings for a broker on its own database: SQLite, or PostgreSQL when
    DISCRETION_TEST_POSTGRES_URL is set (see the Makefile's test-postgres target)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if POSTGRES_URL is None:
        shutil.copy(request.getfixturevalue("migrated_template"), data_dir / "discretion.db")
        yield Settings(data_dir=data_dir, issuer=ISSUER, resilience_poll_seconds=0)
        return
    template = request.getfixturevalue("postgres_template")
    name = f"discretion_t_{uuid.uuid4().hex[:12]}"
    admin = _postgres_admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    # No resilience thread: tests run its rounds themselves (tests/broker/resilience).
    yield Settings(
        data_dir=data_dir, issuer=ISSUER, database_url=_database_url(name), resilience_poll_seconds=0
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def clock() -> Clock:
    """The broker's clock for this test."""
    return Clock()


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    """An HTTP client on the ASGI app (lifespan run, so the signing key exists)."""
    app = create_app(settings, clock=clock)
    with TestClient(app, base_url=ISSUER, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def admin_key(client: TestClient) -> str:
    """An admin API key."""
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    return AdminService(ctx).create_admin_key(created_by="test")


def auth(key: str) -> dict[str, str]:
    """An Authorization header for an API key."""
    return {"Authorization": f"Bearer {key}"}


@dataclass
class World:
    """The demo's cast: a calendar holder, a travel agent, an ad agent, and the user alice."""

    client: TestClient
    clock: Clock
    admin_key: str
    calendar: TestAgent
    travel: TestAgent
    ads: TestAgent
    alice_key: str

    def token(
        self,
        agent: TestAgent,
        *,
        subject: str = "alice",
        resource: str = CALENDAR_URI,
        scope: str = "calendar:read",
        **params: str,
    ) -> Any:
        """POST a token request from `agent`; returns the response."""
        form = self.token_form(agent, subject=subject, resource=resource, scope=scope, **params)
        return self.client.post("/oauth2/token", data=form)

    def token_form(
        self,
        agent: TestAgent,
        *,
        subject: str = "alice",
        resource: str = CALENDAR_URI,
        scope: str = "calendar:read",
        **params: str,
    ) -> dict[str, str]:
        """A client-credentials token request from `agent`, with a fresh client assertion."""
        return {
            "grant_type": "client_credentials",
            "subject": subject,
            "resource": resource,
            "scope": scope,
            **agent.auth_form(ISSUER, now=self.clock.now),
            **params,
        }

    def post_at_once(self, path: str, forms: list[dict[str, str]]) -> list[httpx.Response]:
        """POST the forms concurrently on the app's own event loop, as requests in flight
        together are (their writes then share one commit group: broker/storage/batch.py)."""
        app = self.client.app

        async def send() -> list[httpx.Response]:
            transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
                return list(await asyncio.gather(*(http.post(path, data=form) for form in forms)))

        assert self.client.portal is not None
        return self.client.portal.call(send)

    def grant(self, **body: Any) -> dict[str, Any]:
        """Create a grant as alice."""
        payload = {
            "agent": "travel-agent",
            "resource": CALENDAR_URI,
            "scopes": ["calendar:read"],
            "max_ttl_seconds": 600,
            **body,
        }
        response = self.client.post("/v1/me/grants", json=payload, headers=auth(self.alice_key))
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def purpose(self, code: str, description: str = "A registered purpose") -> dict[str, Any]:
        """Register a purpose as the admin (grants and token requests may only name registered ones)."""
        response = self.client.post(
            "/v1/purposes", json={"code": code, "description": description}, headers=auth(self.admin_key)
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def block(self, kind: str, value: str, **extra: Any) -> dict[str, Any]:
        """Add an entry to alice's blocklist."""
        response = self.client.post(
            "/v1/me/blocklist", json={"kind": kind, "value": value, **extra}, headers=auth(self.alice_key)
        )
        assert response.status_code in (200, 201), response.text
        return response.json()  # type: ignore[no-any-return]

    def introspect(self, token: str, holder: TestAgent | None = None) -> dict[str, Any]:
        """Introspect as the holder (the calendar by default)."""
        holder = holder or self.calendar
        form = {"token": token, **holder.auth_form(ISSUER, now=self.clock.now)}
        response = self.client.post("/oauth2/introspect", data=form)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def feed(self, holder: TestAgent | None = None, since: str = "0") -> dict[str, Any]:
        """Read the revocation feed as the holder."""
        holder = holder or self.calendar
        headers = {"Authorization": f"Bearer {holder.assertion(ISSUER, now=self.clock.now)}"}
        response = self.client.get("/v1/revocations", params={"since": since}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def world(client: TestClient, clock: Clock, admin_key: str) -> World:
    """Registered agents and a user, with no grants yet."""
    calendar = TestAgent("calendar-holder", "Calendar Co", "DE", [CALENDAR_URI])
    travel = TestAgent("travel-agent", "Wanderly Travel", "FR")
    ads = TestAgent("ad-agent", "AdTrack Inc.", "US-CA")
    for agent in (calendar, travel, ads):
        response = client.post("/v1/agents", json=agent.registration(), headers=auth(admin_key))
        assert response.status_code == 201, response.text
    response = client.post("/v1/users", json={"user_id": "alice"}, headers=auth(admin_key))
    assert response.status_code == 201, response.text
    return World(client, clock, admin_key, calendar, travel, ads, response.json()["api_key"])


@dataclass
class ChainWorld(World):
    """The demo's cast plus an assistant (the grantee) and an airline (the last hop)."""

    assistant: TestAgent = field(default_factory=lambda: TestAgent("assistant", "Helpful Assistants", "GB"))
    airline: TestAgent = field(default_factory=lambda: TestAgent("airline", "Sky Air", "IE"))


@pytest.fixture
def chain(world: World) -> ChainWorld:
    """alice's assistant may delegate twice: assistant -> travel agent -> airline."""
    world = ChainWorld(**vars(world))
    for agent in (world.assistant, world.airline):
        response = world.client.post("/v1/agents", json=agent.registration(), headers=auth(world.admin_key))
        assert response.status_code == 201
    world.grant(
        agent="assistant",
        scopes=["calendar:*"],
        max_delegation_depth=2,
        reveal=["PERSON", "EMAIL_ADDRESS"],
        max_ttl_seconds=900,
    )
    return world
