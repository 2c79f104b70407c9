"""`discretion api-keys list|revoke|rotate`: the operator manages any key without a running broker."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from broker.process.cli import app


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DISCRETION_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def run(runner: CliRunner, *args: str, code: int = 0) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    if "--json" in args and code == 0:
        return json.loads(result.stdout)
    return result


def test_list_shows_ids_and_state_never_secrets(runner: CliRunner) -> None:
    user = run(runner, "users", "create", "alice", "--json")
    auditor = run(runner, "auditors", "create", "Ada", "--json")
    listed = run(runner, "api-keys", "list", "--json")
    assert {k["role"] for k in listed} == {"user", "auditor"}
    text = json.dumps(listed)
    assert user["api_key"].split(".")[1] not in text
    assert auditor["api_key"].split(".")[1] not in text
    only_alice = run(runner, "api-keys", "list", "--user", "alice", "--json")
    assert [k["key_id"] for k in only_alice] == [user["api_key"].split(".")[0].split("_")[2]]
    table = run(runner, "api-keys", "list").output
    assert "live" in table
    assert user["api_key"].split(".")[1] not in table


def test_revoke_then_revoke_again_is_refused(runner: CliRunner) -> None:
    user = run(runner, "users", "create", "alice", "--json")
    key_id = user["api_key"].split(".")[0].split("_")[2]
    revoked = run(runner, "api-keys", "revoke", key_id, "--json")
    assert revoked["revoked_at"] is not None
    again = run(runner, "api-keys", "revoke", key_id, code=1)
    assert "already revoked" in again.output
    assert "no such API key" in run(runner, "api-keys", "revoke", "0" * 16, code=1).output


def test_rotate_writes_the_new_key_0600_and_the_old_one_is_revoked(runner: CliRunner, tmp_path: Path) -> None:
    user = run(runner, "users", "create", "alice", "--json")
    key_id = user["api_key"].split(".")[0].split("_")[2]
    key_file = tmp_path / "alice.key"
    shown = run(
        runner, "api-keys", "rotate", key_id, "--label", "laptop", "--key-file", str(key_file), "--json"
    )
    assert "api_key" not in shown
    assert shown["replaces"] == key_id
    assert shown["key"]["label"] == "laptop"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    new_key = key_file.read_text().strip()
    assert new_key.startswith(f"dsc_use_{shown['key']['key_id']}.")
    states = {k["key_id"]: k["revoked_at"] is None for k in run(runner, "api-keys", "list", "--json")}
    assert states == {key_id: False, shown["key"]["key_id"]: True}
    # Shown on the last line without --key-file.
    printed = run(runner, "api-keys", "rotate", shown["key"]["key_id"]).output.strip().splitlines()[-1]
    assert printed.startswith("dsc_use_")


def test_rotate_refuses_a_label_with_markup(runner: CliRunner) -> None:
    user = run(runner, "users", "create", "alice", "--json")
    key_id = user["api_key"].split(".")[0].split("_")[2]
    result = run(runner, "api-keys", "rotate", key_id, "--label", "<b>x</b>", code=1)
    assert "label" in result.output
    assert all(k["revoked_at"] is None for k in run(runner, "api-keys", "list", "--json"))
