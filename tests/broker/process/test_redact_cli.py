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


def _one_line_error(result: object) -> str:
    output = getattr(result, "stderr", "") or getattr(result, "output", "")
    lines = [line for line in output.splitlines() if line.startswith("discretion redact:")]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


def test_missing_file_is_one_line_and_status_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["redact", str(tmp_path / "missing.json")])
    assert result.exit_code == 2
    assert "no such file" in _one_line_error(result)


def test_directory_is_one_line_and_status_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["redact", str(tmp_path)])
    assert result.exit_code == 2
    assert "is a directory" in _one_line_error(result)


def test_unreadable_file_is_one_line_and_status_2(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "locked.json"
    source.write_text("{}")
    real_open = Path.open

    def refuse(self: Path, *args: object, **kwargs: object) -> object:
        if self == source:
            raise PermissionError(13, "Permission denied")  # as for a 0o000 file when not root
        return real_open(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", refuse)
    result = runner.invoke(app, ["redact", str(source)])
    assert result.exit_code == 2
    assert "permission denied" in _one_line_error(result)


def test_invalid_json_is_one_line_and_status_2(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "bad.json"
    source.write_text("{not json")
    result = runner.invoke(app, ["redact", str(source)])
    assert result.exit_code == 2
    assert "invalid JSON" in _one_line_error(result)


def test_unknown_reveal_name_is_refused_with_the_valid_names(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text(json.dumps(RECORD))
    result = runner.invoke(app, ["redact", str(source), "--reveal", "EMAIL"])
    assert result.exit_code == 2
    line = _one_line_error(result)
    assert "'EMAIL'" in line
    assert "EMAIL_ADDRESS" in line
    assert "PHONE_NUMBER" in line
    assert result.stdout.strip() == "" or "alice@example.org" not in result.stdout


def test_the_console_script_runs_redact_without_loading_the_broker(tmp_path: Path) -> None:
    # `discretion redact` is run once per file from scripts: its start-up should not pay for the
    # web application, the OAuth server and the management commands.
    import os
    import subprocess
    import sys

    source = tmp_path / "in.json"
    source.write_text(json.dumps(RECORD))
    probe = (
        "import sys\n"
        "sys.argv = ['discretion', 'redact', sys.argv[1]]\n"
        "from broker.process.entry import main\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    heavy = ('broker.api', 'broker.process.cli', 'fastapi')\n"
        "    print('LOADED', [m for m in heavy if m in sys.modules], file=sys.stderr)\n"
    )
    done = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", probe, str(source)],
        capture_output=True,
        text=True,
        env={**os.environ, "DISCRETION_DATA_DIR": str(tmp_path / "data")},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["email"] == "<EMAIL_ADDRESS>"
    assert "LOADED []" in done.stderr


def test_the_console_script_runs_every_other_command_through_the_full_app(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.argv = ['discretion', '--help'];from broker.process.entry import main; main()",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout
    assert "redact" in done.stdout
