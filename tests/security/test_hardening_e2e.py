"""The hardening of the broker, through a real `discretion serve` over HTTP, on SQLite and PostgreSQL:
metrics behind a token, strict JSON and strict form integers, the grant log's size budget and
registered purposes, the scope-list cap, bounded RSA and EC keys before authentication, DPoP proofs
only with registered keys, and `audit verify` over the exported bytes. (Sessions, API keys and the
sign-in limit have their own end-to-end tests with the accounts work.)"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, make_url

from broker.grantlog.budget import MAX_EVENT_BYTES, is_digest
from broker.grantlog.events import canonical_json
from examples.broker_process import BrokerProcess
from tests.agents import TestAgent

pytestmark = pytest.mark.e2e
POSTGRES = (
    os.environ.get("DISCRETION_TEST_POSTGRES_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CALENDAR = "https://calendar.example/api"
METRICS_TOKEN = secrets.token_urlsafe(24)
LONGEST_SCOPES = " ".join(f"s{i:02d}." + "a" * 118 + ":read" for i in range(32))


@dataclass
class Live:
    """A running broker with the demo's cast registered and alice's grant to the travel agent."""

    broker: BrokerProcess
    admin: dict[str, str]
    alice: dict[str, str]
    auditor: dict[str, str]
    travel: TestAgent
    ads: TestAgent

    @property
    def token_url(self) -> str:
        return f"{self.broker.url}/oauth2/token"

    def token_form(self, agent: TestAgent | None = None, **params: str) -> dict[str, str]:
        agent = agent or self.travel
        return {
            "grant_type": "client_credentials",
            "subject": "alice",
            "resource": CALENDAR,
            "scope": "calendar:read",
            **agent.auth_form(self.broker.issuer),
            **params,
        }

    def token(
        self, *, headers: dict[str, str] | None = None, agent: TestAgent | None = None, **params: str
    ) -> httpx.Response:
        form = self.token_form(agent, **params)
        return httpx.post(self.token_url, data=form, headers=headers, timeout=30)

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
    name = f"discretion_hardening_{uuid.uuid4().hex[:10]}"
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
    env = {"DISCRETION_METRICS_TOKEN": METRICS_TOKEN}
    broker = BrokerProcess(database_url=database, extra_env=env).start(timeout=120)
    try:
        admin = {"Authorization": f"Bearer {broker.create_admin_key()}"}
        calendar = TestAgent("calendar-holder", "Calendar Co", "DE", [CALENDAR])
        travel = TestAgent("travel-agent", "Wanderly Travel", "FR")
        ads = TestAgent("ad-agent", "AdTrack Inc.", "US-CA")
        with httpx.Client(base_url=broker.url, headers=admin, timeout=30) as http:
            for agent in (calendar, travel, ads):
                http.post("/v1/agents", json=agent.registration()).raise_for_status()
            alice_key = http.post("/v1/users", json={"user_id": "alice"}).raise_for_status().json()["api_key"]
            auditor_key = http.post("/v1/auditors", json={"name": "Ada"}).raise_for_status().json()["api_key"]
        alice = {"Authorization": f"Bearer {alice_key}"}
        grant = {
            "agent": "travel-agent",
            "resource": CALENDAR,
            "scopes": ["calendar:read"],
            "max_ttl_seconds": 600,
            "max_delegation_depth": 1,
        }
        httpx.post(f"{broker.url}/v1/me/grants", json=grant, headers=alice, timeout=30).raise_for_status()
        yield Live(broker, admin, alice, {"Authorization": f"Bearer {auditor_key}"}, travel, ads)
    finally:
        broker.stop()
        for _ in databases:  # drops the PostgreSQL database
            pass


def _b64(value: bytes | dict[str, Any]) -> str:
    raw = json.dumps(value).encode() if isinstance(value, dict) else value
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _junk_proof(live: Live, alg: str, jwk: dict[str, str]) -> str:
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": jwk}
    claims = {"jti": secrets.token_urlsafe(16), "htm": "POST", "htu": live.token_url, "iat": int(time.time())}
    return f"{_b64(header)}.{_b64(claims)}.{_b64(secrets.token_bytes(64))}"


def _refused(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error


# -- 1. metrics --------------------------------------------------------------------------------


def test_metrics_without_the_scrape_token_are_refused(live: Live) -> None:
    for headers in ({}, {"Authorization": "Bearer " + secrets.token_urlsafe(24)}):
        answer = httpx.get(f"{live.broker.url}/metrics", headers=headers, timeout=30)
        assert answer.status_code == 401
        assert "discretion_" not in answer.text
    scraped = httpx.get(
        f"{live.broker.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=30
    )
    assert scraped.status_code == 200
    assert "discretion_http_requests_total" in scraped.text


# -- 2. strict JSON and form integers ------------------------------------------------------------


@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e999", "99999999999999999999999"])
def test_a_non_finite_or_huge_number_in_a_grant_is_refused(live: Live, number: str) -> None:
    body = (
        '{"agent":"ad-agent","resource":"%s","scopes":["calendar:read"],'
        '"max_ttl_seconds":600,"expires_at":%s}'
    )
    response = httpx.post(
        f"{live.broker.url}/v1/me/grants",
        content=(body % (CALENDAR, number)).encode(),
        headers={**live.alice, "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 422, response.text
    grants = httpx.get(f"{live.broker.url}/v1/me/grants", headers=live.alice, timeout=30).json()["grants"]
    assert all(g["agent"] != "ad-agent" for g in grants)


def test_a_client_assertion_with_exp_nan_is_invalid_client_not_a_server_error(live: Live) -> None:
    form = live.token_form()
    form["client_assertion"] = live.travel.assertion(live.broker.issuer, exp=float("nan"))
    _refused(httpx.post(live.token_url, data=form, timeout=30), 401, "invalid_client")


@pytest.mark.parametrize("value", ["\u00b2", "\u0661", "1e3", "-5", "99999999999999999999"])
def test_a_form_integer_that_is_not_plain_ascii_digits_is_invalid_request(live: Live, value: str) -> None:
    _refused(live.token(expires_in=value), 400, "invalid_request")


# -- 3. the grant log's budget and registered purposes -------------------------------------------


def test_the_longest_scope_list_is_logged_within_budget_as_a_digest(live: Live) -> None:
    # From the ad agent: the resilience detector rightly sees scope probing in such a request and
    # would hold back the travel agent the other tests use.
    _refused(live.token(agent=live.ads, scope=LONGEST_SCOPES), 403, "access_denied")
    events = live.events()
    assert all(len(canonical_json(event)) <= MAX_EVENT_BYTES for event in events)
    denied = [e for e in events if e["type"] == "token.denied"][-1]
    assert is_digest(denied["details"]["inputs"]["scopes"])


def test_a_megabyte_resource_in_an_exchange_is_refused_and_never_logged(live: Live) -> None:
    parent = live.token()
    assert parent.status_code == 200, parent.text
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": parent.json()["access_token"],
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "requested_actor": "ad-agent",
        "resource": CALENDAR + "/" + "a" * 1_000_000,
        **live.travel.auth_form(live.broker.issuer),
    }
    _refused(httpx.post(live.token_url, data=form, timeout=30), 400, "invalid_target")
    assert max(len(canonical_json(event)) for event in live.events()) <= MAX_EVENT_BYTES


@pytest.mark.parametrize("purpose", ["for my wife's surgery", "x" * 65, "trip\nplanning"])
def test_a_free_text_purpose_is_refused_before_the_log(live: Live, purpose: str) -> None:
    before = len(live.events())
    _refused(live.token(purpose=purpose), 400, "invalid_request")
    # The broker's own background events (checkpoints, detector signals) may land meanwhile; no
    # token decision may, and no event may carry the text.
    added = live.events()[before:]
    assert not [event for event in added if str(event.get("type", "")).startswith("token.")]
    assert not [event for event in added if purpose in json.dumps(event)]


# -- 4. bounded work before authentication -------------------------------------------------------


def test_a_250000_item_scope_list_is_refused_quickly_and_live_stays_up(live: Live) -> None:
    started = time.perf_counter()
    # 250,000 items in just under the 1 MiB body limit (":" unescaped, as a form may send it).
    form = live.token_form()
    del form["scope"]
    body = urlencode(form) + "&scope=" + "+".join(["a:b"] * 250_000)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = httpx.post(live.token_url, content=body.encode(), headers=headers, timeout=30)
    _refused(response, 400, "invalid_scope")
    assert time.perf_counter() - started < 5
    assert httpx.get(f"{live.broker.url}/live", timeout=5).status_code == 200


def test_a_dpop_proof_key_with_a_3070_bit_rsa_exponent_is_refused_before_signature_work(live: Live) -> None:
    n = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_numbers().n
    e = 2**3070 + 1
    jwk = {"kty": "RSA", "n": _b64(n.to_bytes(256, "big")), "e": _b64(e.to_bytes(385, "big"))}
    response = live.token(headers={"DPoP": _junk_proof(live, "RS256", jwk)})
    _refused(response, 400, "invalid_dpop_proof")
    assert "key is refused" in response.json()["error_description"]


def test_a_dpop_proof_with_an_ec_point_off_the_curve_is_refused(live: Live) -> None:
    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64((numbers.y + 1).to_bytes(32, "big")),
    }
    response = live.token(headers={"DPoP": _junk_proof(live, "ES256", jwk)})
    _refused(response, 400, "invalid_dpop_proof")
    assert "key is refused" in response.json()["error_description"]


def test_an_unauthenticated_megabyte_json_body_is_refused_before_parsing(live: Live) -> None:
    body = b"[" + b",".join([b"1"] * 400_000) + b"]"
    started = time.perf_counter()
    response = httpx.post(
        f"{live.broker.url}/v1/me/grants",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code in (401, 422), response.text
    assert time.perf_counter() - started < 5


# -- 6. audit verify hashes the exported bytes -----------------------------------------------------


def test_audit_verify_refuses_an_exported_line_with_a_duplicate_decision(live: Live, tmp_path: Path) -> None:
    url = live.broker.url
    assert live.token().status_code == 200
    note = httpx.post(f"{url}/v1/audit/checkpoints", headers=live.auditor, timeout=30).json()["note"]
    lines = httpx.get(f"{url}/v1/audit/export", headers=live.auditor, timeout=30).text.splitlines(
        keepends=True
    )
    keys = httpx.get(f"{url}/v1/audit/keys", headers=live.auditor, timeout=30).json()["keys"]
    (tmp_path / "cp.note").write_text(note)
    (tmp_path / "keys.txt").write_text("".join(k["verifier_key"] + "\n" for k in keys))

    def verify(name: str, log: list[str]) -> subprocess.CompletedProcess[str]:
        (tmp_path / name).write_text("".join(log))
        command = [
            sys.executable,
            "-m",
            "broker.process.cli",
            "audit",
            "verify",
            "--log",
            str(tmp_path / name),
        ]
        command += ["--checkpoint", str(tmp_path / "cp.note"), "--key", str(tmp_path / "keys.txt")]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603

    assert verify("log.jsonl", lines).returncode == 0
    i = next(i for i, line in enumerate(lines) if '"decision":"allow"' in line)
    lines[i] = lines[i].replace('"decision":"allow"', '"decision":"allow","decision":"deny"', 1)
    tampered = verify("bad.jsonl", lines)
    assert tampered.returncode == 1
    assert "duplicate key" in tampered.stdout + tampered.stderr


# -- 7. DPoP proofs only with registered keys -----------------------------------------------------


def test_a_dpop_proof_with_a_key_the_agent_never_registered_is_refused(live: Live) -> None:
    proof = live.travel.dpop_proof(live.token_url, key=Ed25519PrivateKey.generate())
    response = live.token(headers={"DPoP": proof})
    _refused(response, 400, "invalid_dpop_proof")
    assert "registered" in response.json()["error_description"]
    other = live.travel.dpop_proof(live.token_url, key=live.ads.key)  # registered, to someone else
    _refused(live.token(headers={"DPoP": other}), 400, "invalid_dpop_proof")


def test_a_dpop_proof_with_the_agents_registered_key_binds_the_token(live: Live) -> None:
    response = live.token(headers={"DPoP": live.travel.dpop_proof(live.token_url)})
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
