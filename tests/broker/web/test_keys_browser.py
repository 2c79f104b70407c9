"""The API keys page in a real browser against a real broker process: a user rotates her own key
(confirming first), an admin revokes it, and a copied session cookie dies on sign-out, on rotation
and on revocation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from examples.broker_process import BrokerProcess
from tests.broker.web.conftest import shot

pytestmark = pytest.mark.e2e


def sign_in(page: Any, broker: BrokerProcess, key: str) -> None:
    """Sign in on the page with an API key, using the keyboard like a person would."""
    page.goto(f"{broker.url}/console/signin")
    page.get_by_label("API key").fill(key)
    page.get_by_label("API key").press("Enter")
    page.wait_for_load_state()


def _context(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    return context


def _thief(browser: Any, victim: Any) -> Any:
    """Another browser holding a copy of the victim's cookies."""
    context = _context(browser)
    context.add_cookies(victim.cookies())
    return context.new_page()


def _signed_in(page: Any, url: str) -> bool:
    page.goto(f"{url}/console/keys")
    return bool(page.url == f"{url}/console/keys")


def test_keys_page_rotate_revoke_and_sign_out_end_sessions(browser: Any, broker: BrokerProcess) -> None:
    url = broker.url
    admin_key = broker.create_admin_key()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_key}"}) as admin:
        alice_key = admin.post("/v1/users", json={"user_id": "alice"}).raise_for_status().json()["api_key"]
    alice_id = alice_key.split(".")[0].split("_")[2]

    # Sign-out ends a copied cookie too.
    alice = _context(browser)
    page = alice.new_page()
    sign_in(page, broker, alice_key)
    thief = _thief(browser, alice)
    assert _signed_in(thief, url)
    page.get_by_role("button", name="Sign out").click()
    assert "You are signed out." in page.inner_text(".notice")
    assert not _signed_in(thief, url)
    thief.context.close()

    # Alice finds her key on the keys page and rotates it, confirming first.
    sign_in(page, broker, alice_key)
    thief = _thief(browser, alice)
    page.get_by_role("link", name="API keys").click()
    row = page.locator("tr", has_text=alice_id)
    assert "(this session)" in row.inner_text()
    assert "live" in row.inner_text()
    shot(page, "keys")
    row.get_by_role("link", name=f"Rotate key {alice_id}").click()
    assert "This is the key of this session" in page.inner_text("[role=alert]")
    page.get_by_label("Label of the new key (optional)").fill("laptop")
    shot(page, "key_confirm")
    page.get_by_role("button", name=f"Rotate key {alice_id}").click()
    new_key = page.input_value("#new-key")
    assert new_key.startswith("dsc_use_")
    shot(page, "key_rotated")
    assert not _signed_in(thief, url)  # the rotated key's sessions are over
    assert not _signed_in(page, url)
    thief.context.close()

    # The new key signs in; the old one shows as revoked, the new one carries the label.
    sign_in(page, broker, new_key)
    page.get_by_role("link", name="API keys").click()
    new_id = new_key.split(".")[0].split("_")[2]
    assert "revoked" in page.locator("tr", has_text=alice_id).inner_text()
    assert "laptop" in page.locator("tr", has_text=new_id).inner_text()

    # An admin revokes it from the same page: Alice's session ends at once.
    admin_page = _context(browser).new_page()
    sign_in(admin_page, broker, admin_key)
    admin_page.get_by_role("link", name="API keys").click()
    admin_page.locator("tr", has_text=new_id).get_by_role("link", name=f"Revoke key {new_id}").click()
    admin_page.get_by_role("link", name="Cancel").click()  # changing one's mind costs nothing
    assert "live" in admin_page.locator("tr", has_text=new_id).inner_text()
    admin_page.locator("tr", has_text=new_id).get_by_role("link", name=f"Revoke key {new_id}").click()
    admin_page.get_by_role("button", name=f"Revoke key {new_id}").click()
    assert "The API key is revoked" in admin_page.inner_text(".notice")
    assert "revoked" in admin_page.locator("tr", has_text=new_id).inner_text()
    shot(admin_page, "keys_admin")
    assert not _signed_in(page, url)
    admin_page.context.close()
    alice.close()
