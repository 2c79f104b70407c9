"""`discretion audit verify` hashes the exported bytes: a line that another reader could read differently
(a duplicate key, a non-JSON number, a re-serialized event) is refused, never verified."""

from __future__ import annotations

import json

import pytest

from broker.grantlog.verify import Report, load_verifiers, verify
from tests.broker.grantlog.helpers import auditor_key, checkpoint, export_lines, traffic, verifier_keys
from tests.conftest import World


@pytest.fixture
def export(world: World) -> tuple[list[str], str, list[str]]:
    """An export, a checkpoint over all of it, and the verifier keys."""
    key = auditor_key(world)
    traffic(world)
    note = checkpoint(world.client, key)["note"]
    return export_lines(world.client, key), note, verifier_keys(world.client, key)


def _verify(lines: list[str], note: str, keys: list[str]) -> Report:
    return verify(lines, [note], load_verifiers(keys))


def _a_decision_line(lines: list[str]) -> int:
    return next(i for i, line in enumerate(lines) if '"decision":"' in line)


def test_a_duplicate_key_that_flips_the_decision_is_refused(export: tuple[list[str], str, list[str]]) -> None:
    lines, note, keys = export
    i = _a_decision_line(lines)
    decision = json.loads(lines[i])["event"]["decision"]
    other = "deny" if decision == "allow" else "allow"
    # Python's json keeps the last duplicate, other readers the first: the two would disagree.
    flipped = f'"decision":"{decision}","decision":"{other}"'
    lines[i] = lines[i].replace(f'"decision":"{decision}"', flipped, 1)
    report = _verify(lines, note, keys)
    assert not report.ok
    assert report.first_bad == i + 1
    assert f"line {i + 1}: refused, duplicate key" in report.problems[0]


def test_the_duplicate_in_the_other_order_is_refused_too(export: tuple[list[str], str, list[str]]) -> None:
    lines, note, keys = export
    i = _a_decision_line(lines)
    decision = json.loads(lines[i])["event"]["decision"]
    lines[i] = lines[i].replace(f'"decision":"{decision}"', f'"decision":"deny","decision":"{decision}"', 1)
    report = _verify(lines, note, keys)
    assert not report.ok
    assert "duplicate key" in report.problems[0]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_non_json_number_is_refused(export: tuple[list[str], str, list[str]], constant: str) -> None:
    lines, note, keys = export
    lines[0] = lines[0].replace('"seq":1', f'"seq":1,"x":{constant}', 1)
    report = _verify(lines, note, keys)
    assert not report.ok
    assert "line 1: refused, non-JSON number" in report.problems[0]


def test_a_re_serialized_but_equal_event_is_refused(export: tuple[list[str], str, list[str]]) -> None:
    """Same JSON value, other bytes (spaces, key order): the signed bytes are not what is shown."""
    lines, note, keys = export
    lines[2] = json.dumps(json.loads(lines[2]), indent=None) + "\n"
    report = _verify(lines, note, keys)
    assert not report.ok
    assert "line 3: refused, not in canonical form" in report.problems[0]


def test_the_untouched_export_still_verifies(export: tuple[list[str], str, list[str]]) -> None:
    lines, note, keys = export
    report = _verify(lines, note, keys)
    assert report.ok, report.problems
