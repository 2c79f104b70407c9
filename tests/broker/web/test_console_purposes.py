"""Purposes in the console: the grant form offers the live registered purposes as a multi-select
with nothing chosen, grants show their purposes' descriptions, and the admin registers and retires
purposes (retiring only once confirmed)."""

from __future__ import annotations

import re

from tests.broker.web.helpers import sign_in
from tests.conftest import CALENDAR_URI, World, auth


def _select(page: str) -> str:
    match = re.search(r'<select id="grant-purposes" name="purposes" multiple[^>]*>(.*?)</select>', page, re.S)
    assert match, "no purpose picker on the grant form"
    return match.group(1)


def test_the_grant_form_offers_live_purposes_with_none_chosen(world: World) -> None:
    world.purpose("trip-planning", "Plan and book travel")
    world.purpose("advertising", "Show advertisements")
    world.client.delete("/v1/purposes/advertising", headers=auth(world.admin_key))
    sign_in(world.client, world.alice_key)
    options = _select(world.client.get("/console/grants").text)
    assert 'value="trip-planning"' in options
    assert "Plan and book travel" in options
    assert "advertising" not in options  # retired: not offered
    assert "selected" not in options


def test_a_grant_made_in_the_console_lists_the_chosen_purposes_by_description(world: World) -> None:
    world.purpose("trip-planning", "Plan and book travel")
    world.purpose("expenses", "File travel expenses")
    csrf = sign_in(world.client, world.alice_key)
    form = {
        "csrf": csrf,
        "target": "agent",
        "agent": "travel-agent",
        "resource": CALENDAR_URI,
        "scopes": "calendar:read",
        "max_ttl_seconds": "600",
        "purposes": ["trip-planning", "expenses"],
    }
    made = world.client.post("/console/grants", data=form, follow_redirects=True)
    assert made.status_code == 200, made.text
    (grant,) = world.client.get("/v1/me/grants", headers=auth(world.alice_key)).json()["grants"]
    assert grant["purposes"] == ["trip-planning", "expenses"]
    row = made.text.split(f'data-grant="{grant["grant_id"]}"')[1].split("</tr>")[0]
    assert "Plan and book travel" in row
    assert "File travel expenses" in row
    # A purpose that is not offered (posted by hand) is refused with the page, not stored.
    refused = world.client.post("/console/grants", data={**form, "purposes": ["made-up"]})
    assert refused.status_code == 422
    assert "not a registered, live purpose" in refused.text


def test_the_admin_registers_and_retires_a_purpose_in_the_console(world: World) -> None:
    csrf = sign_in(world.client, world.admin_key)
    page = world.client.get("/console/admin/purposes")
    assert page.status_code == 200
    form = {"csrf": csrf, "code": "trip-planning", "description": "Plan and book travel"}
    assert world.client.post("/console/admin/purposes", data=form, follow_redirects=False).status_code == 303
    duplicate = world.client.post("/console/admin/purposes", data=form)
    assert duplicate.status_code == 409
    retire = {"csrf": csrf, "code": "trip-planning"}
    asked = world.client.post("/console/admin/purposes/retire", data=retire, follow_redirects=False)
    assert asked.status_code == 200
    assert "Retire Plan and book travel?" in asked.text
    listed = world.client.get("/v1/purposes", headers=auth(world.admin_key)).json()["purposes"]
    assert listed[0]["retired"] is False
    done = world.client.post(
        "/console/admin/purposes/retire", data={**retire, "confirm": "yes"}, follow_redirects=False
    )
    assert done.status_code == 303
    listed = world.client.get("/v1/purposes", headers=auth(world.admin_key)).json()["purposes"]
    assert listed[0]["retired"] is True


def test_a_user_cannot_reach_the_admin_purpose_page(world: World) -> None:
    sign_in(world.client, world.alice_key)
    assert world.client.get("/console/admin/purposes").status_code == 403
