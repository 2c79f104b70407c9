"""Odd values in every form field and query parameter an agent sends: refused with the RFCs'
error codes, never a 5xx. Generators rarely draw these; people and attackers type them."""

from __future__ import annotations

import pytest

from tests.conftest import ISSUER, World

ODD = [
    "\u00b2",
    "\u0661\u0662",
    "NaN",
    "Infinity",
    "1e400",
    str(2**63),
    "-1",
    "",
    "\x00",
    "9" * 400,
    "\ud7ff" * 3,
]

TOKEN_FIELDS = [
    "subject",
    "resource",
    "scope",
    "expires_in",
    "purpose",
    "reveal",
    "audience",
    "requested_token_type",
    "requested_actor",
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "client_assertion_type",
]


@pytest.mark.parametrize(
    "grant_type", ["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"]
)
def test_no_odd_token_form_value_gets_a_server_error(world: World, grant_type: str) -> None:
    world.grant()
    issued = world.token(world.travel)
    assert issued.status_code == 200
    parent = issued.json()["access_token"]
    for field in TOKEN_FIELDS:
        for value in ODD:
            form = world.token_form(world.travel)
            form["grant_type"] = grant_type
            if grant_type != "client_credentials":
                form.update(
                    subject_token=parent,
                    subject_token_type="urn:ietf:params:oauth:token-type:access_token",
                    requested_actor="ad-agent",
                )
            form[field] = value
            response = world.client.post("/oauth2/token", data=form)
            assert response.status_code < 500, (field, value, response.text[:300])
            if response.status_code >= 400:
                assert response.json()["error"] in {
                    "invalid_request",
                    "invalid_client",
                    "invalid_grant",
                    "invalid_scope",
                    "invalid_target",
                    "unauthorized_client",
                    "unsupported_grant_type",
                    "access_denied",
                    "invalid_dpop_proof",
                }, (field, value, response.text[:300])


def test_no_odd_value_at_introspection_revocation_or_the_feed_gets_a_server_error(world: World) -> None:
    world.grant()
    token = world.token(world.travel).json()["access_token"]
    for value in ODD:
        for path, field in (
            ("/oauth2/introspect", "token"),
            ("/oauth2/introspect", "token_type_hint"),
            ("/oauth2/revoke", "token"),
            ("/oauth2/revoke", "token_type_hint"),
        ):
            form = {"token": token, **world.calendar.auth_form(ISSUER, now=world.clock.now), field: value}
            response = world.client.post(path, data=form)
            assert response.status_code < 500, (path, field, value, response.text[:300])
        headers = {"Authorization": f"Bearer {world.calendar.assertion(ISSUER, now=world.clock.now)}"}
        response = world.client.get("/v1/revocations", params={"since": value}, headers=headers)
        assert response.status_code < 500, ("since", value, response.text[:300])
