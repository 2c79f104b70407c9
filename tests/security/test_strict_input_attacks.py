"""Values that two JSON readers read differently, or that Python reads and then chokes on, are refused
at the door with a client error, on every /v1 body, every JWT and every form or query integer."""

from __future__ import annotations

import base64
import json

import pytest

from tests.broker.web.helpers import sign_in
from tests.conftest import ISSUER, World, auth

GRANT = '{"agent":"travel-agent","resource":"https://calendar.example/api","scopes":["calendar:read"],'


def _post_grant(world: World, tail: str) -> int:
    response = world.client.post(
        "/v1/me/grants",
        content=(GRANT + tail).encode(),
        headers={**auth(world.alice_key), "Content-Type": "application/json"},
    )
    return response.status_code


@pytest.mark.parametrize(
    "tail",
    [
        '"max_ttl_seconds":600,"expires_at":Infinity}',
        '"max_ttl_seconds":600,"expires_at":-Infinity}',
        '"max_ttl_seconds":600,"expires_at":NaN}',
        '"max_ttl_seconds":600,"expires_at":1e999}',
        '"max_ttl_seconds":600,"expires_at":99999999999999999999999}',
        '"max_ttl_seconds":600,"max_ttl_seconds":60}',
        '"max_ttl_seconds":600,"purpose":"\\ud800"}',
    ],
    ids=["inf", "minus-inf", "nan", "overflowing-float", "huge-integer", "duplicate-key", "lone-surrogate"],
)
def test_a_grant_body_that_is_not_strict_json_is_refused(world: World, tail: str) -> None:
    assert _post_grant(world, tail) == 422
    # Nothing was stored, and the user's pages still render.
    listed = world.client.get("/v1/me/grants", headers=auth(world.alice_key))
    assert listed.status_code == 200
    assert listed.json()["grants"] == []


def test_a_deeply_nested_body_is_refused_before_parsing(world: World) -> None:
    deep = '"max_ttl_seconds":600,"x":' + "[" * 5000 + "]" * 5000 + "}"
    assert _post_grant(world, deep) == 422


def test_a_strict_grant_body_is_still_accepted(world: World) -> None:
    assert _post_grant(world, '"max_ttl_seconds":600,"expires_at":4102444800.5}') == 201


@pytest.mark.parametrize("exp", [float("nan"), float("inf")])
def test_a_client_assertion_with_a_non_finite_exp_is_invalid_client(world: World, exp: float) -> None:
    world.grant()
    form = world.token_form(world.travel)
    form["client_assertion"] = world.travel.assertion(ISSUER, now=world.clock.now, exp=exp)
    response = world.client.post("/oauth2/token", data=form)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_a_client_assertion_with_a_duplicate_claim_is_invalid_client(world: World) -> None:
    world.grant()
    good = world.travel.assertion(ISSUER, now=world.clock.now)
    header, payload, _ = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    doubled = json.dumps(claims)[:-1] + ',"sub":"calendar-holder"}'
    forged = base64.urlsafe_b64encode(doubled.encode()).rstrip(b"=").decode()
    form = world.token_form(world.travel)
    form["client_assertion"] = f"{header}.{forged}.{good.split('.')[2]}"
    response = world.client.post("/oauth2/token", data=form)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("value", ["\u00b2", "\u0661\u0662", "1e3", "0x10", "-5", "99999999999999999999"])
def test_a_lifetime_that_is_not_a_plain_number_is_invalid_request(world: World, value: str) -> None:
    world.grant()
    response = world.token(world.travel, expires_in=value)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_an_activity_cursor_past_64_bits_is_a_client_error(world: World) -> None:
    response = world.client.get(
        "/v1/me/activity", params={"before": str(2**63)}, headers=auth(world.alice_key)
    )
    assert response.status_code == 422


@pytest.mark.parametrize("before", [str(2**63), "\u00b2", "-1"])
def test_a_console_activity_cursor_that_is_not_a_plain_count_is_a_client_error(
    world: World, before: str
) -> None:
    sign_in(world.client, world.alice_key)
    response = world.client.get("/console/activity", params={"before": before})
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize("cursor", ["\u00b2", "\u0661\u0662", "-1", "1e3", " 1", str(10**18)])
def test_an_audit_cursor_that_is_not_a_plain_count_is_a_client_error(world: World, cursor: str) -> None:
    # "²" passes str.isdigit() and then fails int(): it was a 500 on the auditor's event pages.
    from tests.broker.grantlog.helpers import auditor_key

    response = world.client.get(
        "/v1/audit/events", params={"cursor": cursor}, headers=auth(auditor_key(world))
    )
    assert response.status_code == 422


def test_a_checkpoint_whose_size_is_not_ascii_digits_is_not_a_checkpoint() -> None:
    from broker.grantlog.checkpoints import Checkpoint, NoteError

    root = "A" * 43 + "="
    assert Checkpoint.parse(f"origin\n12\n{root}\ntime 5\n").size == 12
    with pytest.raises(NoteError):
        Checkpoint.parse(f"origin\n1\u00b2\n{root}\ntime 5\n")
    assert Checkpoint.parse(f"origin\n12\n{root}\ntime \u00b2\n").time_ms == 0


# PostgreSQL text cannot hold a NUL character: one that reached a query was a 503 (and an ERROR
# "database unavailable" line) that any caller could cause at will. Refused at the edge instead.
def test_a_nul_in_a_token_form_is_invalid_request(world: World) -> None:
    world.grant()
    response = world.token(world.travel, subject="ali\x00ce")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_a_nul_in_a_json_body_is_refused(world: World) -> None:
    response = world.client.post(
        "/v1/users",
        content=b'{"user_id": "bob\\u0000"}',
        headers={**auth(world.admin_key), "Content-Type": "application/json"},
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    "target", ["/v1/audit/events?event_type=%00", "/v1/agents/travel%00agent", "/v1/me/activity?before=1%00"]
)
def test_a_nul_in_the_path_or_query_is_a_bad_request(world: World, target: str) -> None:
    response = world.client.get(target, headers=auth(world.admin_key))
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]


def test_a_nul_in_a_console_form_is_refused(world: World) -> None:
    sign_in(world.client, world.alice_key)
    page = world.client.get("/console/blocklist")
    from tests.broker.web.helpers import csrf_of

    response = world.client.post(
        "/console/blocklist",
        data={"kind": "organization", "value": "Ad\x00Track", "csrf": csrf_of(page.text)},
        headers={"Origin": ISSUER},
    )
    assert 400 <= response.status_code < 500


def test_data_to_redact_may_hold_a_nul() -> None:
    # Disclosed data is redacted, not stored: a NUL in it is the holder's business.
    from broker import strict_json

    assert strict_json.loads(b'{"note": "a\\u0000b"}', nul_allowed=True) == {"note": "a\x00b"}
    with pytest.raises(strict_json.StrictJSONError):
        strict_json.loads(b'{"note": "a\\u0000b"}')
