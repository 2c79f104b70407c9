"""`audit verify` on an exported log: every kind of tampering is caught and the first bad event named."""

from __future__ import annotations

import json

import pytest

from broker.grantlog.verify import Report, load_verifiers, verify
from tests.broker.grantlog.helpers import (
    auditor_key,
    checkpoint,
    edit_event,
    export_line,
    export_lines,
    traffic,
    verifier_keys,
)
from tests.conftest import World, auth


@pytest.fixture
def signed(world: World) -> tuple[list[str], str, list[str], str]:
    """An export, a checkpoint over all of it, the verifier keys and the auditor key."""
    key = auditor_key(world)
    traffic(world)
    note = checkpoint(world.client, key)["note"]
    lines = export_lines(world.client, key)
    assert len(lines) >= 10
    return lines, note, verifier_keys(world.client, key), key


def _verify(lines: list[str], notes: list[str], keys: list[str], **kw: object) -> Report:
    return verify(lines, notes, load_verifiers(keys), **kw)  # type: ignore[arg-type]


def test_untouched_log_verifies(signed: tuple[list[str], str, list[str], str]) -> None:
    lines, note, keys, _ = signed
    report = _verify(lines, [note], keys)
    assert report.ok, report.problems
    assert report.verified_sizes == [len(lines)]


def test_modified_event_is_named(signed: tuple[list[str], str, list[str], str]) -> None:
    lines, note, keys, _ = signed
    lines[6] = edit_event(lines[6], decision="allow", reasons=["granted"])
    report = _verify(lines, [note], keys)
    assert report.first_bad == 7
    assert "event 7: modified" in report.problems[0]


def test_modified_event_with_rewritten_leaf_hash_is_bounded(world: World) -> None:
    key = auditor_key(world)
    world.grant()
    early = checkpoint(world.client, key)["note"]
    traffic(world)
    late = checkpoint(world.client, key)["note"]
    lines = export_lines(world.client, key)
    early_size = int(early.split("\n")[1])
    # A careful forger recomputes the leaf hash of the event it edits.
    item = json.loads(lines[early_size + 1])
    item["event"]["actors"] = ["forged-agent"]
    from broker.grantlog.events import canonical_json, leaf_hash

    lines[early_size + 1] = export_line(item["event"], leaf_hash(canonical_json(item["event"])))
    report = _verify(lines, [early, late], verifier_keys(world.client, key))
    assert not report.ok
    assert report.first_bad == early_size + 1  # bounded by the last checkpoint that verifies
    assert f"{early_size + 1}..{len(lines)}" in report.problems[0]


def test_deleted_event_is_named(signed: tuple[list[str], str, list[str], str]) -> None:
    lines, note, keys, _ = signed
    del lines[4]
    report = _verify(lines, [note], keys)
    assert report.first_bad == 5
    assert "event 5: deleted" in report.problems[0]


def test_reordered_events_are_named(signed: tuple[list[str], str, list[str], str]) -> None:
    lines, note, keys, _ = signed
    lines[3], lines[5] = lines[5], lines[3]
    report = _verify(lines, [note], keys)
    assert report.first_bad == 4
    assert "event 4: reordered" in report.problems[0]


def test_inserted_event_is_named(signed: tuple[list[str], str, list[str], str]) -> None:
    lines, note, keys, _ = signed
    lines.insert(3, edit_event(lines[2], type="grant.created"))
    report = _verify(lines, [note], keys)
    assert report.first_bad == 4
    assert "event 4: inserted" in report.problems[0]


def test_truncated_log_is_detected(signed: tuple[list[str], str, list[str], str]) -> None:
    lines, note, keys, _ = signed
    kept = len(lines) - 3
    report = _verify(lines[:kept], [note], keys)
    assert report.first_bad == kept + 1
    assert "truncated" in report.problems[0]


def test_fork_fails_the_consistency_proof(world: World) -> None:
    key = auditor_key(world)
    world.grant()
    old = checkpoint(world.client, key)
    # The operator rewrites history under the broker and signs the rewritten tree.
    store = world.client.app.state.ctx.store  # type: ignore[attr-defined]
    from sqlalchemy import select, update

    from broker.grantlog.events import canonical_json, leaf_hash
    from broker.storage.schema import grant_log

    with store.write() as conn:
        row = conn.execute(select(grant_log).where(grant_log.c.seq == 3)).one()
        body = json.loads(row.event)
        body["actors"] = ["someone-else"]
        data = canonical_json(body)
        conn.execute(
            update(grant_log)
            .where(grant_log.c.seq == 3)
            .values(event=data.decode(), leaf_hash=leaf_hash(data))
        )
    world.client.app.state.audit_log._tree.levels = [[]]  # type: ignore[attr-defined]
    traffic(world)
    new = checkpoint(world.client, key)
    response = world.client.get(
        "/v1/audit/proofs/consistency",
        params={"first": old["tree_size"], "second": new["tree_size"]},
        headers=auth(key),
    )
    proof = response.json()
    lines = export_lines(world.client, key)
    report = _verify(lines, [old["note"], new["note"]], verifier_keys(world.client, key), consistency=proof)
    assert any(p.startswith("fork: consistency proof") for p in report.problems), report.problems
    assert any(p.startswith("fork: checkpoint") for p in report.problems), report.problems


def test_checkpoint_signed_by_unknown_key_is_rejected(signed: tuple[list[str], str, list[str], str]) -> None:
    lines, note, _, _ = signed
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from broker.grantlog.checkpoints import Signer

    stranger = Signer(note.split("\n", 1)[0].replace("/", "-"), Ed25519PrivateKey.generate())
    forged = stranger.sign(note.split("\n\n", 1)[0] + "\n")
    report = _verify(lines, [forged], [verifier_keys_of(note, signed)])
    assert "unknown key" in report.problems[0]


def verifier_keys_of(_: str, signed: tuple[list[str], str, list[str], str]) -> str:
    """The broker's one verifier key."""
    return signed[2][0]


def test_rotated_key_still_verifies_old_checkpoints(world: World) -> None:
    key = auditor_key(world)
    world.grant()
    old = checkpoint(world.client, key)["note"]
    world.clock.advance(10)
    world.client.app.state.audit_log.rotate_key()  # type: ignore[attr-defined]
    traffic(world)
    new = checkpoint(world.client, key)["note"]
    assert old.rsplit("\u2014 ", 1)[1][:60] != new.rsplit("\u2014 ", 1)[1][:60]
    keys = verifier_keys(world.client, key)
    assert len(keys) == 2
    report = _verify(export_lines(world.client, key), [old, new], keys)
    assert report.ok, report.problems
    # With only the new key the old checkpoint is from an unknown key.
    only_new = [k for k in keys if k in keys[:1]]
    assert "unknown key" in _verify(export_lines(world.client, key), [old], only_new).problems[0]
