"""Signing keys: sealed at rest, rotated with overlap, picked up by every replica."""

from __future__ import annotations

import jwt
from sqlalchemy import select

from broker.oauth.signing_keys import KeyRing, load_key_encryption_key
from broker.services.signing_keys import rotate_signing_key
from broker.settings import Settings
from broker.storage.schema import signing_keys
from tests.conftest import World


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def test_private_keys_are_sealed_at_rest(world: World) -> None:
    ctx = world.client.app.state.ctx  # type: ignore[attr-defined]
    key = ctx.keyring.current()
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    raw = key.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    with ctx.store.read() as conn:
        sealed = conn.execute(select(signing_keys.c.private_key_sealed)).scalar_one()
    assert raw not in sealed


def test_rotation_keeps_old_tokens_verifiable_until_they_expire(world: World) -> None:
    world.grant(max_ttl_seconds=600)
    ctx = world.client.app.state.ctx  # type: ignore[attr-defined]
    old_token = world.token(world.travel, expires_in="600").json()["access_token"]
    new_kid = rotate_signing_key(ctx.store, ctx.keyring, now=world.clock.now)
    new_token = world.token(world.travel).json()["access_token"]
    assert _kid(new_token) == new_kid != _kid(old_token)
    kids = {k["kid"] for k in world.client.get("/.well-known/jwks.json").json()["keys"]}
    assert kids == {_kid(old_token), new_kid}
    assert world.introspect(old_token)["active"] is True
    world.clock.advance(ctx.settings.max_token_lifetime + ctx.settings.clock_skew_seconds + 1)
    kids = {k["kid"] for k in world.client.get("/.well-known/jwks.json").json()["keys"]}
    assert kids == {new_kid}


def test_another_replica_picks_up_a_rotation_without_restart(world: World, settings: Settings) -> None:
    ctx = world.client.app.state.ctx  # type: ignore[attr-defined]
    replica = KeyRing(ctx.store, load_key_encryption_key(settings), refresh_seconds=0)
    before = replica.current().kid
    rotated = rotate_signing_key(ctx.store, ctx.keyring, now=world.clock.now)
    assert replica.current().kid == rotated != before


def test_wrong_key_encryption_key_cannot_unseal(world: World, settings: Settings) -> None:
    import pytest
    from cryptography.exceptions import InvalidTag

    ctx = world.client.app.state.ctx  # type: ignore[attr-defined]
    other = KeyRing(ctx.store, b"\x00" * 32, refresh_seconds=0)
    with pytest.raises(InvalidTag):
        other.current()


def test_wrong_key_encryption_key_stops_the_start(world: World, settings: Settings) -> None:
    import pytest
    from discretion_wire import b64url_encode as b64url
    from fastapi.testclient import TestClient

    from broker.api import create_app

    wrong = settings.model_copy(update={"key_encryption_key": b64url(b"\x01" * 32)})
    with pytest.raises(RuntimeError, match="cannot unseal"), TestClient(create_app(wrong)):
        pass


def test_a_refused_start_closes_the_store(world: World, settings: Settings) -> None:
    import pytest
    from discretion_wire import b64url_encode as b64url
    from fastapi.testclient import TestClient

    from broker.api import create_app

    app = create_app(settings.model_copy(update={"key_encryption_key": b64url(b"\x01" * 32)}))
    pool = app.state.ctx.store.engine.pool
    with pytest.raises(RuntimeError, match="cannot unseal"), TestClient(app):
        pass
    # The start read the signing keys through the pool; a disposed engine has closed those.
    assert pool.checkedin() == 0
    assert app.state.ctx.store.engine.pool is not pool
