"""Secrets stay secret: API keys hashed and compared in constant time, nothing secret in logs,
reprs or error bodies."""

from __future__ import annotations

import inspect
import logging

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from discretion_wire import b64url_encode as b64url

from broker.storage import principals
from tests.conftest import ISSUER, World, auth


def test_api_keys_are_compared_in_constant_time() -> None:
    source = inspect.getsource(principals.check_api_key)
    assert "hmac.compare_digest" in source
    # An unknown key id still pays for a comparison, so misses and wrong secrets cost the same.
    assert "_DUMMY_HASH" in source


def test_full_scenario_leaks_no_secret_into_logs(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    world.grant()
    assertion = world.travel.assertion(ISSUER, now=world.clock.now)
    issued = world.token(world.travel).json()["access_token"]
    world.introspect(issued)
    world.token(world.ads)  # refused
    world.client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "subject": "alice",
            "resource": "https://calendar.example/api",
            "scope": "calendar:read",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion + "tampered",
        },
    )
    world.client.get("/v1/me/grants", headers=auth(world.alice_key + "x"))
    world.block("organization", "AdTrack Inc.")
    private = world.travel.key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    secrets = [
        world.alice_key,
        world.admin_key,
        issued,
        assertion,
        b64url(private),
        world.alice_key.split(".", 1)[1],
        issued.split(".")[2],
    ]
    text = "\n".join(record.getMessage() + " " + str(record.args) for record in caplog.records)
    for secret in secrets:
        assert secret not in text


def test_error_bodies_never_echo_credentials(world: World) -> None:
    bad_key = world.alice_key[:-4] + "AAAA"
    response = world.client.get("/v1/me/grants", headers=auth(bad_key))
    assert response.status_code == 401
    assert bad_key not in response.text
    assertion = world.travel.assertion("https://elsewhere.example", now=world.clock.now)
    form = {
        "grant_type": "client_credentials",
        "subject": "alice",
        "resource": "https://calendar.example/api",
        "scope": "calendar:read",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }
    response = world.client.post("/oauth2/token", data=form)
    assert response.status_code == 401
    assert assertion not in response.text


def test_signing_key_repr_hides_key_material(world: World) -> None:
    key = world.client.app.state.ctx.keyring.current()  # type: ignore[attr-defined]
    raw = key.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    assert b64url(raw) not in repr(key)
    assert raw.hex() not in repr(key)
    assert "private_key" not in repr(key)


def test_key_encryption_key_is_not_in_settings_repr(world: World) -> None:
    settings = world.client.app.state.ctx.settings  # type: ignore[attr-defined]
    changed = settings.model_copy(
        update={"key_encryption_key": "c2VjcmV0LWtlay12YWx1ZS0xMjM0NTY3ODkwMTIzNDU2"}
    )
    assert "c2VjcmV0" not in repr(changed)
