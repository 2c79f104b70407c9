"""Fail closed: with the database unreachable the broker answers 503 and issues nothing; it
recovers by itself when the database is back. Runs against PostgreSQL through a TCP proxy that the
test cuts and restores."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, make_url

from broker.api import create_app
from broker.settings import Settings
from broker.storage.db import Store
from tests.agents import TestAgent
from tests.conftest import CALENDAR_URI, ISSUER

POSTGRES = (
    os.environ.get("DISCRETION_TEST_POSTGRES_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


class CuttableProxy:
    """A TCP proxy to the database that can drop every connection and refuse new ones."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.open = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        for each in (source, target):
            with contextlib.suppress(OSError):
                each.shutdown(socket.SHUT_RDWR)
            each.close()

    def cut(self) -> None:
        """The database vanishes: live connections die, new ones are refused."""
        self.open = False
        for each in self.sockets:
            with contextlib.suppress(OSError):
                each.shutdown(socket.SHUT_RDWR)
        self.sockets.clear()

    def restore(self) -> None:
        """The database is back."""
        self.open = True

    def close(self) -> None:
        """Stop listening."""
        self.cut()
        self.listener.close()


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[Settings, CuttableProxy]]:
    url = make_url(POSTGRES)
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    try:
        admin.connect().close()
    except Exception:  # any failure to reach the server means there is nothing to test
        pytest.skip(f"PostgreSQL is not reachable at {url.host}:{url.port}")
    name = f"discretion_fail_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    proxy = CuttableProxy((url.host or "127.0.0.1", url.port or 5432))
    through_proxy = url.set(database=name, host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False
    )
    store = Store(through_proxy)
    store.migrate()
    store.dispose()
    yield Settings(data_dir=tmp_path, issuer=ISSUER, database_url=through_proxy), proxy
    proxy.close()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def test_database_outage_fails_closed_and_recovers(proxied: tuple[Settings, CuttableProxy]) -> None:
    settings, proxy = proxied
    agent = TestAgent("stranger", "Nobody", "FR")
    form = {
        "grant_type": "client_credentials",
        "subject": "alice",
        "resource": CALENDAR_URI,
        "scope": "calendar:read",
        **agent.auth_form(ISSUER),
    }
    with TestClient(create_app(settings), base_url=ISSUER, raise_server_exceptions=False) as client:
        assert client.get("/ready").status_code == 200
        assert client.post("/oauth2/token", data=form).json()["error"] == "invalid_client"

        proxy.cut()
        ready = client.get("/ready")
        assert ready.status_code == 503
        token = client.post("/oauth2/token", data={**form, **agent.auth_form(ISSUER)})
        assert token.status_code == 503
        assert token.json()["error"] == "temporarily_unavailable"
        assert token.headers["cache-control"] == "no-store"
        assert client.get("/live").status_code == 200  # the process itself is fine

        proxy.restore()
        assert client.get("/ready").status_code == 200
        assert client.post("/oauth2/token", data={**form, **agent.auth_form(ISSUER)}).status_code == 401
