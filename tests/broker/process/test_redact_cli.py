"""`discretion redact`: batch redaction from files and stdin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broker.process.cli import app

RECORD = {"name": "Alice Martin", "email": "alice@example.org", "order": {"id": "A-1002", "total": 42.5}}


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DISCRETION_DATA_DIR", str(tmp_path / "data"))
    return CliRunner()


def test_redacts_a_json_file(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps(RECORD))
    result = runner.invoke(app, ["redact", str(source)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["email"] == "<EMAIL_ADDRESS>"
    assert out["name"] == "<PERSON>"
    assert out["order"] == {"id": "A-1002", "total": 42.5}


def test_reveal_keeps_a_type_in_clear(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps(RECORD))
    result = runner.invoke(app, ["redact", str(source), "--reveal", "EMAIL_ADDRESS"])
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["email"] == "alice@example.org"
    assert out["name"] == "<PERSON>"


def test_jsonl_from_stdin_with_pseudonyms_per_recipient(runner: CliRunner) -> None:
    lines = "\n".join(json.dumps({"email": "bob@example.org"}) for _ in range(3)) + "\n"
    first = runner.invoke(
        app, ["redact", "-", "--jsonl", "--operator", "pseudonym", "--recipient", "a"], input=lines
    )
    second = runner.invoke(
        app, ["redact", "-", "--jsonl", "--operator", "pseudonym", "--recipient", "b"], input=lines
    )
    outs_a = [json.loads(x)["email"] for x in first.stdout.splitlines() if x.startswith("{")]
    outs_b = [json.loads(x)["email"] for x in second.stdout.splitlines() if x.startswith("{")]
    assert len(set(outs_a)) == 1  # stable for one recipient
    assert outs_a[0] != outs_b[0]  # unlinkable across recipients
    assert "bob@example.org" not in first.stdout


@pytest.mark.parametrize(
    ("content", "message"), [(b"{not json", "invalid JSON"), (b"\xff\xfe{}", "not UTF-8")]
)
def test_bad_input_is_a_clear_error(runner: CliRunner, tmp_path: Path, content: bytes, message: str) -> None:
    source = tmp_path / "bad.json"
    source.write_bytes(content)
    result = runner.invoke(app, ["redact", str(source)], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert message in result.output
