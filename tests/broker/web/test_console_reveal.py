"""The console's grant form refuses reveal names the redactor never reports, and says which exist."""

from __future__ import annotations

import html

from tests.broker.web.helpers import sign_in
from tests.conftest import World, auth


def _grants(world: World) -> list[object]:
    return list(world.client.get("/v1/me/grants", headers=auth(world.alice_key)).json()["grants"])


def test_console_grant_refuses_an_unknown_reveal_name_with_the_valid_ones(world: World) -> None:
    csrf = sign_in(world.client, world.alice_key)
    form = {
        "csrf": csrf,
        "target": "agent",
        "agent": "travel-agent",
        "resource": "https://calendar.example/api",
        "scopes": "calendar:read",
        "max_ttl_seconds": "600",
        "max_delegation_depth": "0",
        "reveal": "PERSON",
        "reveal_other": "PHONE",  # well formed, but no type the redactor reports
    }
    response = world.client.post("/console/grants", data=form, follow_redirects=False)
    assert response.status_code == 422, response.text
    page = html.unescape(response.text)
    assert "'PHONE'" in page
    assert "PHONE_NUMBER" in page  # the valid names are listed
    assert _grants(world) == []
    # The same form with a valid name creates the grant: the refusal was the name.
    form["reveal_other"] = "PHONE_NUMBER"
    response = world.client.post("/console/grants", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert len(_grants(world)) == 1
