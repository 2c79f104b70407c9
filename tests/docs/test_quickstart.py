"""docs/quickstart.md, run as written: a broker process, the CLI, the bank holder under uvicorn and the
budgeting agent, ending with the holder sharing redacted data and then refusing after a block.

The page's conventions (stated in a comment at its top): a python block whose first line is
`# FILE.py` is that file; each `$ ` line of a console block is run in order (`&`: in the background,
waited for on its --port); a text block holds lines of the previous command's output, a log block
lines of a background process's output. Ports 8765 and 8766 are replaced by free ones.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from examples.broker_process import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "quickstart.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(text)]


def commands(block: str) -> list[str]:
    return [line[2:].strip() for line in block.splitlines() if line.startswith("$ ")]


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered on port {port}: {log.read_text()}")


def test_the_quickstart_runs_as_written(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    for port in ("8765", "8766"):
        text = text.replace(port, str(free_port()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISCRETION_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PWD"] = str(tmp_path)
    background: list[tuple[subprocess.Popen[bytes], Path]] = []
    last_output = ""
    checked = {"text": 0, "log": 0, "files": 0, "commands": 0}
    try:
        for kind, body in blocks(text):
            first = body.splitlines()[0] if body else ""
            if kind == "python" and re.fullmatch(r"# [\w.]+\.py", first):
                (tmp_path / first[2:]).write_text(body, encoding="utf-8")
                checked["files"] += 1
            elif kind == "console":
                for command in commands(body):
                    checked["commands"] += 1
                    if command.startswith("export "):
                        name, _, value = command.removeprefix("export ").partition("=")
                        env[name] = value.replace("$PWD", str(tmp_path))
                        assert "$" not in env[name], f"this test expands only $PWD: {command}"
                        continue
                    if command.endswith("&"):
                        log = tmp_path / f"background-{len(background)}.log"
                        with log.open("wb") as out:
                            process = subprocess.Popen(  # noqa: S603
                                shlex.split(command.removesuffix("&")),
                                cwd=tmp_path,
                                env=env,
                                stdout=out,
                                stderr=subprocess.STDOUT,
                                start_new_session=True,
                            )
                        background.append((process, log))
                        port = int(re.search(r"--port (\d+)", command).group(1))  # type: ignore[union-attr]
                        _wait_for_port(port, process, log)
                        continue
                    result = subprocess.run(  # noqa: S603
                        shlex.split(command),
                        cwd=tmp_path,
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=120,
                    )
                    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
                    last_output = result.stdout
            elif kind == "text":
                lines = {line.strip() for line in last_output.splitlines()}
                for expected in body.strip().splitlines():
                    assert expected.strip() in lines, f"{expected!r} not in:\n{last_output}"
                checked["text"] += 1
            elif kind == "log":
                time.sleep(0.5)
                logs = "".join(log.read_text() for _, log in background)
                for expected in body.strip().splitlines():
                    assert expected.strip() in logs, f"{expected!r} not in the background logs:\n{logs}"
                checked["log"] += 1
    finally:
        for process, _ in background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
    # The page was really exercised: three files, the CLI path, two outputs and the holder's log.
    assert checked["files"] == 3
    assert checked["commands"] >= 9
    assert checked["text"] == 2
    assert checked["log"] == 1
    assert stat_mode(tmp_path / "budgeting.pem") == 0o600


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777
