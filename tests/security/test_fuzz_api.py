"""Schemathesis fuzzes every operation in the app's OpenAPI document: no input gets a 5xx.

Examples per operation are bounded so the suite stays fast; `DISCRETION_FUZZ_EXAMPLES` raises it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from broker.api import create_app
from broker.services.admin import AdminService
from broker.settings import Settings
from tests.conftest import ISSUER, Clock, auth

STATUSES: list[int] = []  # every status seen, to show the fuzzing went past authentication
EXAMPLES = int(os.environ.get("DISCRETION_FUZZ_EXAMPLES", "12"))


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A broker on its own database, with an admin key, for the whole module."""
    settings_ = Settings(data_dir=tmp_path_factory.mktemp("fuzz"), issuer=ISSUER)
    with TestClient(create_app(settings_, clock=Clock()), base_url=ISSUER) as client:
        yield client


def test_no_input_gets_a_server_error(fuzz_client: TestClient) -> None:
    # Schemathesis's pytest plugin does not run on this pytest; driving its strategies with
    # Hypothesis directly is the same generation.
    admin_key = AdminService(fuzz_client.app.state.ctx).create_admin_key(created_by="fuzz")  # type: ignore[attr-defined]
    user_key = fuzz_client.post("/v1/users", json={"user_id": "fuzz-user"}, headers=auth(admin_key)).json()[
        "api_key"
    ]
    # Authenticated, so the fuzzing reaches validation and the services, not just the 401.
    auditor_key = fuzz_client.post("/v1/auditors", json={"name": "fuzz"}, headers=auth(admin_key)).json()[
        "api_key"
    ]
    keys = {
        "/v1/me": user_key,
        "/v1/agents": admin_key,
        "/v1/users": admin_key,
        "/v1/auditors": admin_key,
        "/v1/audit": auditor_key,
    }
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case: Any) -> None:
            key = next((k for prefix, k in keys.items() if case.path.startswith(prefix)), None)
            response = case.call(headers=auth(key) if key else None)
            where = (case.method, case.formatted_path, response.status_code, response.text[:300])
            STATUSES.append(response.status_code)
            assert response.status_code < 500, where
            if response.status_code in (401, 403):
                # Refusals are always machine-readable and never cached.
                assert response.headers.get("cache-control") == ["no-store"], where
                assert "error" in response.json(), where

        check()
    # The keys got the fuzzing past authentication into validation and the services.
    assert any(200 <= status < 300 for status in STATUSES)
    assert any(status == 422 for status in STATUSES)


NEGATIVE_STATUSES: list[int] = []


def test_no_invalid_input_is_accepted(fuzz_client: TestClient) -> None:
    # Negative generation: bodies that break the schema (wrong types, missing or extra fields,
    # out-of-range numbers). Authenticated as the route's role, each must be refused with a 4xx.
    admin_key = AdminService(fuzz_client.app.state.ctx).create_admin_key(created_by="fuzz-negative")  # type: ignore[attr-defined]
    user_key = fuzz_client.post(
        "/v1/users", json={"user_id": "fuzz-negative"}, headers=auth(admin_key)
    ).json()["api_key"]
    auditor_key = fuzz_client.post("/v1/auditors", json={"name": "neg"}, headers=auth(admin_key)).json()[
        "api_key"
    ]
    keys = {
        "/v1/me": user_key,
        "/v1/agents": admin_key,
        "/v1/users": admin_key,
        "/v1/auditors": admin_key,
        "/v1/audit": auditor_key,
    }
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_client.app)
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/v1/"):
            continue
        # JSON bodies only: query strings are parsed leniently by design (unknown parameters are
        # ignored, as RFC 6749 section 3.1 asks of OAuth endpoints, and a repeated one counts once).
        if not list(operation.body):
            continue

        @given(case=operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE))
        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case: Any) -> None:
            key = next((k for prefix, k in keys.items() if case.path.startswith(prefix)), None)
            response = case.call(headers=auth(key) if key else None)
            NEGATIVE_STATUSES.append(response.status_code)
            where = (
                case.method,
                case.formatted_path,
                case.query,
                case.body,
                response.status_code,
                response.text[:200],
            )
            assert 400 <= response.status_code < 500, where

        # An operation with nothing to get wrong (no parameters, no body) has no negative cases.
        with contextlib.suppress(Unsatisfiable):
            check()
    assert len(NEGATIVE_STATUSES) > 20


# Values that generators rarely draw but people and attackers type: digits `str.isdigit` accepts
# and `int` refuses, non-finite and out-of-range numbers, NUL, an over-long value.
ODD_QUERY_VALUES = ["\u00b2", "\u0661", "NaN", "Infinity", "1e400", str(2**63), "-1", "", "\x00", "9" * 400]


def test_no_odd_query_value_gets_a_server_error(fuzz_client: TestClient) -> None:
    admin_key = AdminService(fuzz_client.app.state.ctx).create_admin_key(created_by="odd")  # type: ignore[attr-defined]
    user_key = fuzz_client.post("/v1/users", json={"user_id": "odd-user"}, headers=auth(admin_key)).json()[
        "api_key"
    ]
    auditor_key = fuzz_client.post("/v1/auditors", json={"name": "odd"}, headers=auth(admin_key)).json()[
        "api_key"
    ]
    spec = fuzz_client.get("/openapi.json").json()
    checked = 0
    for path, operations in spec["paths"].items():
        get = operations.get("get")
        if get is None or "{" in path:
            continue
        names = [p["name"] for p in get.get("parameters", []) if p["in"] == "query"]
        for key in (admin_key, user_key, auditor_key):
            for name in names:
                for value in ODD_QUERY_VALUES:
                    response = fuzz_client.get(path, params={name: value}, headers=auth(key))
                    assert response.status_code < 500, (path, name, value, response.text[:300])
                    checked += 1
    assert checked > 100  # the audit, activity and detection listings all take query parameters
