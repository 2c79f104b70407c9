"""Known personal values pushed through users, grants, lists and token requests never reach the
grant log, its index, its checkpoints or its exports."""

from __future__ import annotations

from sqlalchemy import select

from broker.storage.schema import checkpoints, grant_log, grant_log_terms
from tests.broker.grantlog.helpers import auditor_key, export_lines
from tests.conftest import World, auth

EMAIL = "carol.canary@example.com"
GHOST = "ghost.canary@example.org"
NOTE = "Carol sees Dr Canary about her diagnosis"
PHONE = "+44 20 7946 0958"
SECRET_FIELD = "Canary-Diagnosis-7731"
CANARIES = (EMAIL, GHOST, NOTE, PHONE, SECRET_FIELD, "canary@", "Canary about")


def test_personal_values_never_reach_the_log(world: World) -> None:
    client = world.client
    created = client.post("/v1/users", json={"user_id": EMAIL}, headers=auth(world.admin_key))
    assert created.status_code == 201
    carol = created.json()["api_key"]
    grant = {
        "agent": "travel-agent",
        "resource": world.calendar.resource_uris[0],
        "scopes": ["calendar:read"],
    }
    assert (
        client.post("/v1/me/grants", json={**grant, "max_ttl_seconds": 60}, headers=auth(carol)).status_code
        == 201
    )
    entry = {"kind": "organization", "value": "AdTrack Inc.", "note": NOTE}
    assert client.post("/v1/me/blocklist", json=entry, headers=auth(carol)).status_code == 201
    issued = world.token(world.travel, subject=EMAIL)
    assert issued.status_code == 200
    # A disclosure of data full of personal values: the log keeps counts and a hash, never values.
    data = {"patient": {"email": EMAIL, "phone": PHONE, "diagnosis": SECRET_FIELD}, "note": NOTE}
    shared = client.post(
        "/v1/disclose",
        json={"token": issued.json()["access_token"], "data": data},
        headers={
            "Authorization": f"Bearer {world.calendar.assertion('https://broker.test', now=world.clock.now)}"
        },
    )
    assert shared.status_code == 200, shared.text
    assert world.token(world.ads, subject=EMAIL).status_code == 403
    assert world.token(world.travel, subject=GHOST).status_code == 403
    key = auditor_key(world)
    texts = export_lines(client, key)
    texts.append(client.get("/v1/audit/export", params={"format": "ocsf"}, headers=auth(key)).text)
    texts.append(client.get("/v1/audit/events", params={"limit": 1000}, headers=auth(key)).text)
    store = client.app.state.ctx.store  # type: ignore[attr-defined]
    with store.read() as conn:
        for table in (grant_log, grant_log_terms, checkpoints):
            texts += [repr(tuple(row)) for row in conn.execute(select(table))]
    whole = "\n".join(texts).casefold()
    assert "token.issued" in whole  # the scan did see the traffic
    assert "data.disclosed" in whole
    for canary in CANARIES:
        assert canary.casefold() not in whole, canary
