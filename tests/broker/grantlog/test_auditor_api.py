"""The auditor API: who may call it, filters, cursor pages, exports, decisions, replay, proofs."""

from __future__ import annotations

import json

from broker.grantlog.merkle import verify_inclusion
from broker.grantlog.replay import replay_log
from policy import Limits
from tests.broker.grantlog.helpers import auditor_key, checkpoint, export_lines, traffic
from tests.conftest import CALENDAR_URI, World, auth


def _events(world: World, key: str, **params: object) -> list[dict[str, object]]:
    response = world.client.get("/v1/audit/events", params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()["events"]  # type: ignore[no-any-return]


def test_only_auditor_keys_read_the_log(world: World) -> None:
    assert world.client.get("/v1/audit/events").status_code == 401
    assert world.client.get("/v1/audit/events", headers=auth(world.alice_key)).status_code == 403
    assert world.client.get("/v1/audit/events", headers=auth(world.admin_key)).status_code == 403
    assert world.client.get("/v1/audit/events", headers=auth(auditor_key(world))).status_code == 200


def test_filters(world: World) -> None:
    key = auditor_key(world)
    traffic(world)
    denied = _events(world, key, decision="deny")
    assert denied
    assert all(e["decision"] == "deny" for e in denied)
    assert {e["type"] for e in _events(world, key, type="token.issued")} == {"token.issued"}
    assert all("travel-agent" in e["actors"] for e in _events(world, key, agent="travel-agent"))
    # The holder is an agent of the chain too, though not an actor of the request.
    assert any(e["type"] == "token.issued" for e in _events(world, key, agent="calendar-holder"))
    assert all(e["resource"] == CALENDAR_URI for e in _events(world, key, resource=CALENDAR_URI))
    assert [e["reasons"] for e in _events(world, key, reason="scope_not_granted")] == [["scope_not_granted"]]
    issued = _events(world, key, type="token.issued")[0]
    assert _events(world, key, jti=issued["jti"])[0]["seq"] == issued["seq"]
    subject = issued["subject"]
    assert all(e["subject"] == subject for e in _events(world, key, subject=subject))
    since = issued["time_ms"] / 1000
    assert _events(world, key, until=since, type="token.issued") == []
    assert _events(world, key, since=since, type="token.issued")


def test_cursor_pages_cover_the_log_once(world: World) -> None:
    key = auditor_key(world)
    traffic(world)
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = world.client.get("/v1/audit/events", params=params, headers=auth(key)).json()
        seen += [e["seq"] for e in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(1, len(seen) + 1))
    assert len(seen) == len(export_lines(world.client, key))


def test_ocsf_export_is_api_activity(world: World) -> None:
    key = auditor_key(world)
    traffic(world)
    response = world.client.get("/v1/audit/export", params={"format": "ocsf"}, headers=auth(key))
    records = response.json()
    assert records
    assert all(r["class_uid"] == 6003 and r["category_uid"] == 6 for r in records)
    denied = [r for r in records if r["unmapped"]["decision"] == "deny"]
    assert denied
    assert all(r["status_id"] == 2 for r in denied)
    assert all(r["type_uid"] == 600300 + r["activity_id"] for r in records)


def test_decision_by_jti_has_inputs_policy_version_and_reasons(world: World) -> None:
    key = auditor_key(world)
    world.grant()
    token = world.token(world.travel).json()["access_token"]
    jti = world.introspect(token)["jti"]
    decision = world.client.get(f"/v1/audit/decisions/{jti}", headers=auth(key)).json()
    assert decision["decision"] == "allow"
    assert decision["reasons"] == ["granted"]
    assert decision["policy_version"]
    assert decision["inputs"]["requester"] == "travel-agent"
    assert world.client.get("/v1/audit/decisions/nope", headers=auth(key)).status_code == 404


def test_replay_gives_the_same_decisions(world: World) -> None:
    key = auditor_key(world)
    traffic(world)
    world.clock.advance(5)
    assert world.token(world.travel, subject="nobody").status_code == 403
    events = [json.loads(line)["event"] for line in export_lines(world.client, key)]
    results = replay_log(events, Limits())
    assert len(results) >= 4
    assert all(r.same for r in results), [(r.logged, r.replayed) for r in results if not r.same]
    assert {r.logged["decision"] for r in results} == {"allow", "deny"}


def test_replay_notices_a_doctored_decision(world: World) -> None:
    key = auditor_key(world)
    traffic(world)
    events = [json.loads(line)["event"] for line in export_lines(world.client, key)]
    denied = next(e for e in events if e["type"] == "token.denied")
    denied["decision"], denied["reasons"] = "allow", ["granted"]
    assert not all(r.same for r in replay_log(events, Limits()))


def test_inclusion_and_consistency_proofs_verify(world: World) -> None:
    key = auditor_key(world)
    traffic(world)
    cp = checkpoint(world.client, key)
    size = cp["tree_size"]
    for seq in (1, size // 2, size):
        proof = world.client.get("/v1/audit/proofs/inclusion", params={"seq": seq}, headers=auth(key)).json()
        path = [bytes.fromhex(p) for p in proof["path"]]
        verify_inclusion(
            bytes.fromhex(proof["leaf_hash"]), seq - 1, size, path, bytes.fromhex(cp["root_hash"])
        )
    bad = world.client.get("/v1/audit/proofs/inclusion", params={"seq": size + 5}, headers=auth(key))
    assert bad.status_code == 422


def test_users_get_inclusion_proofs_for_their_own_activity(world: World) -> None:
    key = auditor_key(world)
    traffic(world)
    cp = checkpoint(world.client, key)
    response = world.client.get("/v1/me/activity/proofs", headers=auth(world.alice_key))
    body = response.json()
    assert body["checkpoint"]["tree_size"] == cp["tree_size"]
    root = bytes.fromhex(cp["root_hash"])
    for item in body["events"]:
        proof = item["inclusion_proof"]
        path = [bytes.fromhex(p) for p in proof["path"]]
        verify_inclusion(bytes.fromhex(proof["leaf_hash"]), item["seq"] - 1, cp["tree_size"], path, root)
