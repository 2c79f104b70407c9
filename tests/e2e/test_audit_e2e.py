"""`discretion audit verify` and `audit replay` as separate processes, on an export of a live log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.broker.grantlog.helpers import (
    auditor_key,
    checkpoint,
    edit_event,
    export_lines,
    traffic,
    verifier_keys,
    write,
)
from tests.conftest import World


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "broker.process.cli", "audit", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603


def test_verify_and_replay_from_the_command_line(world: World, tmp_path: Path) -> None:
    key = auditor_key(world)
    traffic(world)
    note = checkpoint(world.client, key)["note"]
    lines = export_lines(world.client, key)
    log = write(tmp_path / "log.jsonl", lines)
    (tmp_path / "cp.note").write_text(note)
    keys = write(tmp_path / "keys.txt", [k + "\n" for k in verifier_keys(world.client, key)])
    common = ("--checkpoint", str(tmp_path / "cp.note"), "--key", str(keys))
    ok = _cli("verify", "--log", str(log), *common)
    assert ok.returncode == 0, ok.stderr
    assert f"OK: {len(lines)} events" in ok.stdout
    lines[4] = edit_event(lines[4], actors=["forged"])
    bad = _cli("verify", "--log", str(write(tmp_path / "bad.jsonl", lines)), *common)
    assert bad.returncode == 1
    assert "first bad event: 5" in bad.stderr
    replay = _cli("replay", "--log", str(log))
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "DIFFERENT" not in replay.stdout
    assert replay.stdout.count(": same") >= 3
