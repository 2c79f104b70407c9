"""Attacks on accounts: session cookies that outlive sign-out or their key, guessing API keys, and
reaching another principal's keys. Through the app's HTTP interface, on SQLite or PostgreSQL."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from broker.api import create_app
from broker.services import principals as principal_service
from broker.settings import Settings
from broker.storage import StoreUnavailable, sign_in_limits
from broker.storage.schema import console_sessions, grant_log, sign_in_failures
from tests.broker.web.helpers import csrf_of, sign_in
from tests.conftest import ISSUER, Clock, World, auth

LIMITS = principal_service.LIMITS


def _user_key(client: TestClient, admin_key: str, user_id: str = "alice") -> str:
    response = client.post("/v1/users", json={"user_id": user_id}, headers=auth(admin_key))
    assert response.status_code == 201, response.text
    return str(response.json()["api_key"])


def _key_id(key: str) -> str:
    return key.split(".")[0].split("_")[2]


def _session_cookie(client: TestClient) -> tuple[str, str]:
    (name,) = [n for n in client.cookies if n.endswith("discretion-session")]
    return name, str(client.cookies[name])


def _signed_in(client: TestClient, key: str) -> str:
    """Sign in; returns the session cookie's value."""
    sign_in(client, key)
    return _session_cookie(client)[1]


def _page_with(client: TestClient, name: str, cookie: str, path: str = "/console/grants") -> Any:
    client.cookies.clear()
    client.cookies.set(name, cookie)
    return client.get(path, follow_redirects=False)


@pytest.fixture
def replica(settings: Settings, clock: Clock, client: TestClient) -> Iterator[TestClient]:
    """A second broker app on the same database: another replica behind the load balancer."""
    app = create_app(settings, clock=clock)
    with TestClient(app, base_url=ISSUER, raise_server_exceptions=False) as other:
        yield other


def test_session_cookie_dies_on_sign_out(client: TestClient, admin_key: str) -> None:
    key = _user_key(client, admin_key)
    csrf = sign_in(client, key)
    name, cookie = _session_cookie(client)
    assert client.get("/console/grants").status_code == 200
    out = client.post("/console/signout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    # The attacker replays the copied cookie: the session is gone from the store.
    replayed = _page_with(client, name, cookie)
    assert replayed.status_code == 303
    assert replayed.headers["location"] == "/console/signin"


def test_copied_cookie_dies_on_every_replica_after_sign_out(
    client: TestClient, replica: TestClient, admin_key: str
) -> None:
    key = _user_key(client, admin_key)
    csrf = sign_in(client, key)
    name, cookie = _session_cookie(client)
    assert _page_with(replica, name, cookie).status_code == 200  # the other replica honours it...
    client.cookies.set(name, cookie)
    client.post("/console/signout", data={"csrf": csrf}, follow_redirects=False)
    assert _page_with(replica, name, cookie).status_code == 303  # ...until sign-out, anywhere


def test_revoked_key_kills_its_sessions(client: TestClient, admin_key: str) -> None:
    key = _user_key(client, admin_key)
    name, cookie = _signed_in(client, key), None
    name, cookie = _session_cookie(client)
    revoked = client.post(f"/v1/api-keys/{_key_id(key)}/revoke", headers=auth(admin_key))
    assert revoked.status_code == 200, revoked.text
    assert _page_with(client, name, cookie).status_code == 303
    assert client.get("/v1/me/grants", headers=auth(key)).status_code == 401


def test_rotated_key_kills_its_sessions(client: TestClient, admin_key: str) -> None:
    key = _user_key(client, admin_key)
    _signed_in(client, key)
    name, cookie = _session_cookie(client)
    rotated = client.post(f"/v1/api-keys/{_key_id(key)}/rotate", headers=auth(key))
    assert rotated.status_code == 200, rotated.text
    new_key = rotated.json()["api_key"]
    assert _page_with(client, name, cookie).status_code == 303
    # The old key stops working at once (no overlap); the new one works.
    assert client.get("/v1/me/grants", headers=auth(key)).status_code == 401
    assert client.get("/v1/me/grants", headers=auth(new_key)).status_code == 200


def test_forged_session_for_a_live_key_without_a_stored_session_is_refused(
    client: TestClient, admin_key: str
) -> None:
    # Whoever holds the cookie MAC key (a backup of the key-encryption key) still cannot mint a
    # session the store never opened.
    key = _user_key(client, admin_key)
    codec = client.app.state.console.codec  # type: ignore[attr-defined]
    _, cookie = codec.issue(_key_id(key), client.app.state.ctx.clock())  # type: ignore[attr-defined]
    assert _page_with(client, codec.cookie_name, cookie).status_code == 303


def test_sessions_per_key_are_capped(client: TestClient, admin_key: str, clock: Clock) -> None:
    key = _user_key(client, admin_key)
    first = _signed_in(client, key)
    name = _session_cookie(client)[0]
    for _ in range(principal_service.SESSIONS_PER_KEY):
        clock.advance(1)
        client.cookies.clear()
        _signed_in(client, key)
    store = client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.read() as conn:
        rows = conn.execute(select(func.count()).select_from(console_sessions)).scalar_one()
    assert rows == principal_service.SESSIONS_PER_KEY
    assert _page_with(client, name, first).status_code == 303  # the oldest was ended


def test_session_check_fails_closed_when_the_store_is_down(
    client: TestClient, admin_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = _user_key(client, admin_key)
    _signed_in(client, key)

    def down(*_: Any, **__: Any) -> Any:
        raise StoreUnavailable("down", None, Exception("down"))

    monkeypatch.setattr(principal_service.console_sessions, "session_owner", down)
    response = client.get("/console/grants", follow_redirects=False)
    assert response.status_code == 503
    assert "Grants" not in response.text


def _wrong(key: str) -> str:
    return key.split(".")[0] + "." + secrets.token_urlsafe(32)


def test_api_key_brute_force_is_throttled_per_key_id(client: TestClient, admin_key: str) -> None:
    key = _user_key(client, admin_key)
    for _ in range(LIMITS.per_key):
        assert client.get("/v1/me/grants", headers=auth(_wrong(key))).status_code == 401
    throttled = client.get("/v1/me/grants", headers=auth(_wrong(key)))
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["retry-after"]) <= LIMITS.window_seconds
    # Even the right secret waits: else the limit would let a guess be confirmed.
    assert client.get("/v1/me/grants", headers=auth(key)).status_code == 429
    # From another address too: the count is the key id's.
    with TestClient(client.app, base_url=ISSUER, client=("192.0.2.7", 4000)) as other:
        assert other.get("/v1/me/grants", headers=auth(key)).status_code == 429


def test_sign_in_brute_force_is_throttled(client: TestClient, admin_key: str, clock: Clock) -> None:
    key = _user_key(client, admin_key)
    form = client.get("/console/signin")
    csrf = csrf_of(form.text)
    for _ in range(LIMITS.per_key):
        wrong = client.post("/console/signin", data={"api_key": _wrong(key), "csrf": csrf})
        assert wrong.status_code == 401
    throttled = client.post("/console/signin", data={"api_key": key, "csrf": csrf}, follow_redirects=False)
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert not [n for n in client.cookies if n.endswith("discretion-session")]
    clock.advance(LIMITS.window_seconds + 1)
    ok = client.post("/console/signin", data={"api_key": key, "csrf": csrf}, follow_redirects=False)
    assert ok.status_code == 303


def test_key_id_spraying_is_throttled_per_source_address(client: TestClient, admin_key: str) -> None:
    key = _user_key(client, admin_key)
    with TestClient(client.app, base_url=ISSUER, client=("198.51.100.9", 4000)) as sprayer:
        for _ in range(LIMITS.per_address):
            guess = f"dsc_use_{secrets.token_hex(8)}.{secrets.token_urlsafe(32)}"
            assert sprayer.get("/v1/me/grants", headers=auth(guess)).status_code == 401
        assert sprayer.get("/v1/me/grants", headers=auth(key)).status_code == 429
    # Another address is not affected.
    assert client.get("/v1/me/grants", headers=auth(key)).status_code == 200


def test_throttling_does_not_reveal_which_key_ids_exist(client: TestClient, admin_key: str) -> None:
    known = _user_key(client, admin_key)
    unknown = f"dsc_use_{secrets.token_hex(8)}.{secrets.token_urlsafe(32)}"
    answers: dict[str, list[tuple[int, str]]] = {}
    for name, key in (("known", _wrong(known)), ("unknown", unknown)):
        answers[name] = []
        for _ in range(LIMITS.per_key + 1):
            response = client.get("/v1/me/grants", headers=auth(key))
            answers[name].append((response.status_code, response.json()["type"]))
    assert answers["known"] == answers["unknown"]
    assert [status for status, _ in answers["known"]] == [401] * LIMITS.per_key + [429]


def test_unauthenticated_noise_cannot_grow_the_failure_table(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small bucket space makes the bound visible: 300 distinct key ids from 300 addresses leave
    # at most 2 x 8 rows, where a table keyed by id would hold 600.
    monkeypatch.setattr(sign_in_limits, "BUCKETS", 8)
    monkeypatch.setattr(sign_in_limits, "_ADDRESS_BASE", 8)
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    limits = principal_service.SignInLimits(per_key=10**6, per_address=10**6)
    for i in range(300):
        guess = f"dsc_use_{secrets.token_hex(8)}.x"
        assert (
            principal_service.authenticate(ctx, guess, source=f"203.0.113.{i % 250}", limits=limits) is None
        )
    with ctx.store.read() as conn:
        rows = conn.execute(select(func.count()).select_from(sign_in_failures)).scalar_one()
    assert rows <= 16


def test_a_user_cannot_list_revoke_or_rotate_another_users_key(client: TestClient, admin_key: str) -> None:
    alice = _user_key(client, admin_key, "alice")
    bob = _user_key(client, admin_key, "bob")
    listed = client.get("/v1/api-keys", headers=auth(alice)).json()["keys"]
    assert [k["key_id"] for k in listed] == [_key_id(alice)]
    assert client.get("/v1/api-keys?all=true", headers=auth(alice)).status_code == 403
    unknown = secrets.token_hex(8)
    for action in ("revoke", "rotate"):
        theirs = client.post(f"/v1/api-keys/{_key_id(bob)}/{action}", headers=auth(alice))
        nobody = client.post(f"/v1/api-keys/{unknown}/{action}", headers=auth(alice))
        assert theirs.status_code == nobody.status_code == 404
        assert theirs.json() == nobody.json()
    assert client.get("/v1/me/grants", headers=auth(bob)).status_code == 200


def test_an_auditor_cannot_revoke_an_admin_key(client: TestClient, admin_key: str) -> None:
    created = client.post("/v1/auditors", json={"name": "Ada"}, headers=auth(admin_key)).json()
    response = client.post(f"/v1/api-keys/{_key_id(admin_key)}/revoke", headers=auth(created["api_key"]))
    assert response.status_code == 404
    assert client.get("/v1/agents", headers=auth(admin_key)).status_code == 200


def test_key_listing_never_shows_a_secret_or_its_hash(client: TestClient, admin_key: str) -> None:
    key = _user_key(client, admin_key)
    listed = client.get("/v1/api-keys?all=true", headers=auth(admin_key))
    text = listed.text
    assert key.split(".")[1] not in text
    assert admin_key.split(".")[1] not in text
    for item in listed.json()["keys"]:
        assert set(item) == {
            "key_id",
            "role",
            "principal",
            "label",
            "created_at",
            "last_used_at",
            "revoked_at",
        }


@pytest.mark.parametrize(
    "label",
    ["<script>alert(1)</script>", "x" * 65, "a\u202eb", "tab\there", " leading", "", "name\n"],
)
def test_key_label_with_markup_control_or_excess_length_is_refused(
    client: TestClient, admin_key: str, label: str
) -> None:
    key = _user_key(client, admin_key)
    response = client.post(f"/v1/api-keys/{_key_id(key)}/rotate", json={"label": label}, headers=auth(key))
    assert response.status_code == 422
    assert client.get("/v1/me/grants", headers=auth(key)).status_code == 200  # nothing rotated


def test_rotation_and_revocation_events_hold_no_secret_or_label(client: TestClient, admin_key: str) -> None:
    key = _user_key(client, admin_key)
    rotated = client.post(
        f"/v1/api-keys/{_key_id(key)}/rotate", json={"label": "laptop"}, headers=auth(key)
    ).json()
    client.post(f"/v1/api-keys/{rotated['key']['key_id']}/revoke", headers=auth(admin_key))
    store = client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.read() as conn:
        bodies = [json.loads(e) for (e,) in conn.execute(select(grant_log.c.event).order_by(grant_log.c.seq))]
    kinds = [b for b in bodies if b["type"].startswith("api_key.")]
    assert [b["type"] for b in kinds] == ["api_key.rotated", "api_key.revoked"]
    text = json.dumps(kinds)
    assert rotated["api_key"].split(".")[1] not in text
    assert key.split(".")[1] not in text
    assert "laptop" not in text
    assert kinds[0]["details"]["new_key_id"] == rotated["key"]["key_id"]


def test_activity_before_past_the_log_range_is_refused_not_a_crash(world: World) -> None:
    sign_in(world.client, world.alice_key)
    for value in (str(2**63), "2**63", "\u00b2", "-1", "1e3"):
        response = world.client.get("/console/activity", params={"before": value})
        assert 400 <= response.status_code < 500, (value, response.status_code)
