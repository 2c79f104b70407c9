"""The console's security properties over the ASGI app: cookies, CSRF, fixation, roles, headers,
expiry and key revocation. One test per attack, named after it (the browser tests repeat the
main ones in Chromium)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from broker.storage.schema import api_keys
from broker.web.sessions import IDLE_SECONDS
from tests.broker.web.helpers import csrf_of, sign_in
from tests.conftest import ISSUER, World, auth

COOKIE = "__Host-discretion-session"  # the issuer is https in these tests


def _entries(world: World) -> list[dict[str, Any]]:
    return list(world.client.get("/v1/me/blocklist", headers=auth(world.alice_key)).json()["entries"])


def _block(world: World, csrf: str | None, **headers: str) -> Any:
    data = {"kind": "organization", "value": "AdTrack Inc.", "confirm": "yes"}
    if csrf is not None:
        data["csrf"] = csrf
    return world.client.post("/console/blocklist", data=data, headers=headers, follow_redirects=False)


def test_session_cookie_is_httponly_samesite_strict_secure_and_host_prefixed(world: World) -> None:
    form = world.client.get("/console/signin")
    response = world.client.post(
        "/console/signin",
        data={"api_key": world.alice_key, "csrf": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/grants"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith(COOKIE + "="))
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=strict", "path=/"} <= attributes
    assert not any(a.startswith("domain=") for a in attributes)
    assert world.alice_key not in response.text
    assert world.alice_key.split(".")[1] not in cookie


def test_csrf_missing_token_is_refused(world: World) -> None:
    sign_in(world.client, world.alice_key)
    assert _block(world, None).status_code == 403
    assert _entries(world) == []


def test_csrf_forged_token_is_refused(world: World) -> None:
    sign_in(world.client, world.alice_key)
    assert _block(world, "A" * 43).status_code == 403
    assert _entries(world) == []


def test_csrf_token_of_another_session_is_refused(world: World) -> None:
    bob = world.client.post("/v1/users", json={"user_id": "bob"}, headers=auth(world.admin_key)).json()
    bobs_token = sign_in(world.client, bob["api_key"])
    world.client.cookies.clear()
    sign_in(world.client, world.alice_key)
    assert _block(world, bobs_token).status_code == 403
    assert _entries(world) == []


def test_csrf_token_from_a_cross_origin_page_is_refused(world: World) -> None:
    csrf = sign_in(world.client, world.alice_key)
    assert _block(world, csrf, Origin="https://evil.example").status_code == 403
    assert _block(world, csrf, Origin="null").status_code == 403
    assert _entries(world) == []
    assert _block(world, csrf, Origin=ISSUER).status_code == 303
    assert [e["value"] for e in _entries(world)] == ["adtrack-inc"]


def test_login_csrf_without_the_pre_session_token_is_refused(world: World) -> None:
    # A cross-site page cannot sign the victim in to the attacker's account.
    response = world.client.post("/console/signin", data={"api_key": world.alice_key}, follow_redirects=False)
    assert response.status_code == 403
    assert COOKIE not in response.cookies


def test_session_fixation_planted_cookie_is_replaced_at_sign_in(world: World) -> None:
    world.client.cookies.set(COOKIE, "attacker-chosen", domain="broker.test")
    sign_in(world.client, world.alice_key)
    session = world.client.cookies.get(COOKIE)
    assert session not in (None, "attacker-chosen")
    world.client.cookies.clear()
    world.client.cookies.set(COOKIE, "attacker-chosen", domain="broker.test")
    assert (
        world.client.get("/console/grants", follow_redirects=False).headers["location"] == "/console/signin"
    )


def test_session_id_rotates_on_every_sign_in(world: World) -> None:
    csrf = sign_in(world.client, world.alice_key)
    first = world.client.cookies.get(COOKIE)
    out = world.client.post("/console/signout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert world.client.cookies.get(COOKIE) is None
    sign_in(world.client, world.alice_key)
    assert world.client.cookies.get(COOKIE) not in (None, first)


def test_tampered_session_cookie_is_refused(world: World) -> None:
    sign_in(world.client, world.alice_key)
    body, mac = str(world.client.cookies.get(COOKIE)).split(".")
    world.client.cookies.clear()
    world.client.cookies.set(COOKIE, body[:-2] + "AA." + mac, domain="broker.test")
    assert world.client.get("/console/grants", follow_redirects=False).status_code == 303


def test_idle_session_expires(world: World) -> None:
    sign_in(world.client, world.alice_key)
    world.clock.advance(IDLE_SECONDS + 1)
    assert world.client.get("/console/grants", follow_redirects=False).status_code == 303


def test_revoked_api_key_ends_its_sessions(world: World) -> None:
    sign_in(world.client, world.alice_key)
    assert world.client.get("/console/grants").status_code == 200
    key_id = world.alice_key.split(".")[0].split("_")[2]
    store = world.client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.write() as conn:
        conn.execute(update(api_keys).where(api_keys.c.key_id == key_id).values(revoked_at=world.clock.now))
    assert world.client.get("/console/grants", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("page", "allowed"),
    [("/console/grants", "user"), ("/console/audit", "auditor"), ("/console/admin/agents", "admin")],
)
def test_pages_of_another_role_are_forbidden(world: World, page: str, allowed: str) -> None:
    auditor = world.client.post("/v1/auditors", json={"name": "Ann"}, headers=auth(world.admin_key)).json()
    keys = {"user": world.alice_key, "auditor": auditor["api_key"], "admin": world.admin_key}
    for role, key in keys.items():
        world.client.cookies.clear()
        sign_in(world.client, key)
        assert world.client.get(page).status_code == (200 if role == allowed else 403), role


def test_signed_out_visitor_is_sent_to_sign_in(world: World) -> None:
    for page in ("/console/grants", "/console/audit", "/console/admin/people", "/console/activity"):
        response = world.client.get(page, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/console/signin"


def test_wrong_api_key_gets_one_answer_and_is_not_echoed(world: World) -> None:
    form = world.client.get("/console/signin")
    for key in ("dsc_use_0000.wrong", world.alice_key[:-3] + "xyz", "garbage"):
        response = world.client.post("/console/signin", data={"api_key": key, "csrf": csrf_of(form.text)})
        assert response.status_code == 401
        assert "That API key is not valid." in response.text
        assert key not in response.text


def test_pages_carry_a_strict_csp_and_docs_keep_theirs(world: World) -> None:
    sign_in(world.client, world.alice_key)
    page = world.client.get("/console/grants")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script>" not in page.text
    assert " style=" not in page.text
    assert "http://" not in page.text.replace("http://www.w3.org/2000/svg", "")
    # /docs keeps its own policy (same origin, with the inline bootstrap Swagger UI needs), not the
    # console's, which would leave the page blank.
    docs_csp = world.client.get("/docs").headers["content-security-policy"]
    assert docs_csp != csp
    assert "default-src 'self'" in docs_csp
    assert world.client.get("/console/static/console.js").status_code == 200
