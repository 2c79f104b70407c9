"""POST /v1/disclose: the holder shares redacted data with the token's bearer, and the log records it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from broker.storage.schema import grant_log
from tests.conftest import ISSUER, World

RECORD = {
    "customer": {"name": "Alice Martin", "email": "alice.martin@example.com", "ssn": 536228726},
    "note": "Alice Martin asked about order ORD-2024-55812 (129.99 USD); mail alice.martin@example.com",
    "items": [{"sku": "SKU-1", "product": {"name": "Acme Widget Pro"}, "status": "shipped"}],
}


def _token(world: World, **grant: Any) -> str:
    world.grant(**grant)
    response = world.token(world.travel)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _disclose(world: World, body: Any, holder: Any = None, raw: bytes | None = None) -> Any:
    holder = holder or world.calendar
    headers = {
        "Authorization": f"Bearer {holder.assertion(ISSUER, now=world.clock.now)}",
        "Content-Type": "application/json",
    }
    content = raw if raw is not None else json.dumps(body).encode()
    return world.client.post("/v1/disclose", content=content, headers=headers)


def test_holder_gets_redacted_data_report_and_receipt(world: World) -> None:
    token = _token(world)
    response = _disclose(world, {"token": token, "data": RECORD})
    assert response.status_code == 200, response.text
    body = response.json()
    text = json.dumps(body["data"])
    assert "Alice" not in text
    assert "alice.martin" not in text
    assert "536228726" not in text
    assert "ORD-2024-55812" in text
    assert "Acme Widget Pro" in text
    assert "shipped" in text
    assert body["data"]["customer"]["email"] == "<EMAIL_ADDRESS>"
    assert body["report"]["counts"]["EMAIL_ADDRESS"] == 2
    assert body["report"]["paths"]["$.customer.ssn"] == {"US_SSN": 1}
    assert body["receipt_id"].isdigit()
    assert response.headers["cache-control"] == "no-store"


def test_disclosure_is_logged_without_values(world: World) -> None:
    token = _token(world)
    body = _disclose(world, {"token": token, "data": RECORD}).json()
    with world.client.app.state.ctx.store.read() as conn:  # type: ignore[attr-defined]
        row = conn.execute(select(grant_log).where(grant_log.c.seq == int(body["receipt_id"]))).one()
    event = json.loads(row.event)
    assert event["type"] == "data.disclosed"
    assert event["details"]["recipient"] == "travel-agent"
    assert event["details"]["holder"] == "calendar-holder"
    assert event["details"]["counts"]["PERSON"] >= 1
    assert event["details"]["output_sha256"] == body["output_sha256"]
    assert event["jti"]
    assert "Alice" not in row.event
    assert "alice" not in row.event.replace("alice_ref", "")


def test_reveal_claim_shows_those_types_in_clear(world: World) -> None:
    token = _token(world, reveal=["EMAIL_ADDRESS"])
    body = _disclose(world, {"token": token, "data": RECORD}).json()
    assert body["data"]["customer"]["email"] == "alice.martin@example.com"
    assert body["data"]["customer"]["name"] == "<PERSON>"


def test_pseudonyms_differ_per_recipient_and_repeat_for_one(world: World) -> None:
    token = _token(world)
    first = _disclose(world, {"token": token, "data": RECORD, "operator": "pseudonym"}).json()
    second = _disclose(world, {"token": token, "data": RECORD, "operator": "pseudonym"}).json()
    assert first["data"] == second["data"]
    assert first["data"]["customer"]["email"].startswith("<EMAIL_ADDRESS_")


def test_token_for_another_holder_is_refused(world: World) -> None:
    token = _token(world)
    response = _disclose(world, {"token": token, "data": RECORD}, holder=world.ads)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_expired_and_revoked_tokens_are_refused(world: World) -> None:
    token = _token(world)
    world.clock.advance(400)
    assert _disclose(world, {"token": token, "data": RECORD}).status_code == 403
    world.clock.advance(-400)
    form = {"token": token, **world.calendar.auth_form(ISSUER, now=world.clock.now)}
    assert world.client.post("/oauth2/revoke", data=form).status_code == 200
    assert _disclose(world, {"token": token, "data": RECORD}).status_code == 403


def test_missing_assertion_is_invalid_client(world: World) -> None:
    response = world.client.post("/v1/disclose", json={"token": "x", "data": {}})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"\xff\xfe not utf-8", 400),
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b'{"token": "t", "data": NaN}', 400),
        (b'{"token": "t"}', 422),
        (b'{"token": "t", "data": "\\ud800"}', 400),
        (b'{"token": 5, "data": {}}', 422),
        (b'{"token": "t", "data": {}, "operator": "shred"}', 422),
        (b'{"token": "t", "data": {}, "extra": 1}', 422),
        (b'{"token": "t", "data": ' + b"[" * 100 + b"]" * 100 + b"}", 413),
        (b'{"token": "t", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 413),
    ],
)
def test_bad_bodies(world: World, raw: bytes, status: int) -> None:
    response = _disclose(world, None, raw=raw)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_oversized_body_is_413(world: World) -> None:
    big = b'{"token": "t", "data": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    assert _disclose(world, None, raw=big).status_code == 413


def test_garbage_token_is_forbidden(world: World) -> None:
    response = _disclose(world, {"token": "not-a-token", "data": {}})
    assert response.status_code == 403


def test_grant_refuses_unknown_reveal_names_with_the_valid_ones(world: World) -> None:
    payload = {
        "agent": "travel-agent",
        "resource": "https://calendar.example/api",
        "scopes": ["calendar:read"],
        "max_ttl_seconds": 600,
        "reveal": ["PHONE"],  # upper case and well formed, but no type the redactor reports
    }
    response = world.client.post(
        "/v1/me/grants", json=payload, headers={"Authorization": f"Bearer {world.alice_key}"}
    )
    assert response.status_code == 422, response.text
    assert "PHONE_NUMBER" in response.text
    assert "'PHONE'" in response.text


def test_grant_accepts_national_identifier_types(world: World) -> None:
    grant = world.grant(reveal=["UK_NINO", "PHONE_NUMBER"])
    assert sorted(grant["reveal"]) == ["PHONE_NUMBER", "UK_NINO"]
