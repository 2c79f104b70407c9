"""`/v1/api-keys`: listing, revoking and rotating keys; who may do what; last use."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Clock, auth


def _user(client: TestClient, admin_key: str, user_id: str = "alice") -> str:
    response = client.post("/v1/users", json={"user_id": user_id}, headers=auth(admin_key))
    assert response.status_code == 201, response.text
    return str(response.json()["api_key"])


def _key_id(key: str) -> str:
    return key.split(".")[0].split("_")[2]


def test_a_user_lists_its_own_keys_with_times_and_no_secret(
    client: TestClient, admin_key: str, clock: Clock
) -> None:
    key = _user(client, admin_key)
    clock.advance(5)
    listed = client.get("/v1/api-keys", headers=auth(key))
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["keys"]
    assert item["key_id"] == _key_id(key)
    assert item["role"] == "user"
    assert item["revoked_at"] is None
    assert item["label"] is None
    assert item["last_used_at"] == clock.now  # this very request
    assert item["created_at"] == clock.now - 5


def test_last_use_is_written_at_most_once_a_minute(client: TestClient, admin_key: str, clock: Clock) -> None:
    key = _user(client, admin_key)
    first = client.get("/v1/api-keys", headers=auth(key)).json()["keys"][0]["last_used_at"]
    clock.advance(30)
    assert client.get("/v1/api-keys", headers=auth(key)).json()["keys"][0]["last_used_at"] == first
    clock.advance(31)
    assert client.get("/v1/api-keys", headers=auth(key)).json()["keys"][0]["last_used_at"] == clock.now


def test_an_admin_lists_every_key(client: TestClient, admin_key: str) -> None:
    alice = _user(client, admin_key)
    auditor = client.post("/v1/auditors", json={"name": "Ada"}, headers=auth(admin_key)).json()
    listed = client.get("/v1/api-keys", params={"all": "true"}, headers=auth(admin_key)).json()["keys"]
    assert {k["key_id"] for k in listed} == {_key_id(alice), _key_id(admin_key), _key_id(auditor["api_key"])}
    assert {k["role"] for k in listed} == {"user", "admin", "auditor"}
    own = client.get("/v1/api-keys", headers=auth(admin_key)).json()["keys"]
    assert [k["key_id"] for k in own] == [_key_id(admin_key)]


def test_rotate_keeps_role_principal_and_label_and_revokes_the_old_key(
    client: TestClient, admin_key: str
) -> None:
    key = _user(client, admin_key)
    first = client.post(f"/v1/api-keys/{_key_id(key)}/rotate", json={"label": "phone"}, headers=auth(key))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["replaces"] == _key_id(key)
    assert body["key"]["label"] == "phone"
    assert body["key"]["role"] == "user"
    assert body["api_key"].startswith(f"dsc_use_{body['key']['key_id']}.")
    second = client.post(f"/v1/api-keys/{body['key']['key_id']}/rotate", headers=auth(body["api_key"]))
    assert second.json()["key"]["label"] == "phone"  # kept when none is given
    assert client.get("/v1/me/grants", headers=auth(second.json()["api_key"])).status_code == 200
    states = {
        k["key_id"]: k["revoked_at"] is None
        for k in client.get("/v1/api-keys", headers=auth(second.json()["api_key"])).json()["keys"]
    }
    assert states == {_key_id(key): False, body["key"]["key_id"]: False, second.json()["key"]["key_id"]: True}


def test_revoking_twice_is_a_conflict(client: TestClient, admin_key: str) -> None:
    key = _user(client, admin_key)
    assert client.post(f"/v1/api-keys/{_key_id(key)}/revoke", headers=auth(admin_key)).status_code == 200
    again = client.post(f"/v1/api-keys/{_key_id(key)}/revoke", headers=auth(admin_key))
    assert again.status_code == 409
    rotate = client.post(f"/v1/api-keys/{_key_id(key)}/rotate", headers=auth(admin_key))
    assert rotate.status_code == 409


def test_a_user_may_revoke_its_own_key(client: TestClient, admin_key: str) -> None:
    key = _user(client, admin_key)
    response = client.post(f"/v1/api-keys/{_key_id(key)}/revoke", headers=auth(key))
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert client.get("/v1/api-keys", headers=auth(key)).status_code == 401


def test_an_auditor_rotates_its_own_key(client: TestClient, admin_key: str) -> None:
    auditor = client.post("/v1/auditors", json={"name": "Ada"}, headers=auth(admin_key)).json()
    key = auditor["api_key"]
    rotated = client.post(f"/v1/api-keys/{_key_id(key)}/rotate", headers=auth(key))
    assert rotated.status_code == 200
    assert rotated.json()["key"]["principal"] == auditor["auditor_id"]
    assert client.get("/v1/audit/checkpoint", headers=auth(key)).status_code == 401


def test_a_malformed_key_id_is_refused_before_any_lookup(client: TestClient, admin_key: str) -> None:
    for bad in ("ZZ", "0" * 17, "abc%20def"):
        response = client.post(f"/v1/api-keys/{bad}/revoke", headers=auth(admin_key))
        assert response.status_code in (404, 422), (bad, response.status_code)


def test_unknown_fields_in_the_rotate_body_are_refused(client: TestClient, admin_key: str) -> None:
    key = _user(client, admin_key)
    response = client.post(f"/v1/api-keys/{_key_id(key)}/rotate", json={"role": "admin"}, headers=auth(key))
    assert response.status_code == 422
