"""docs/clients.md, run as written against a real broker: its authlib script, its oauth4webapi
script and its curl commands (with the assertion script they use), each as one of the agents of
tests/interop/conftest.py.

The page's conventions: a python block whose first line is `# FILE.py` and a js block whose first
line is `// FILE.mjs` are those files; each `$ ` line of a console block is a shell command, run
in order. The snippets read BROKER, CLIENT_ID, CLIENT_KEY, SUBJECT and RESOURCE.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.conftest import CALENDAR, NODE_DIR, InteropBroker

pytestmark = pytest.mark.e2e

DOC = Path(__file__).resolve().parents[2] / "docs" / "clients.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def files() -> dict[str, str]:
    """The page's named files, by name."""
    named = {}
    for kind, body in BLOCK.findall(DOC.read_text(encoding="utf-8")):
        first = body.splitlines()[0]
        match = re.fullmatch(r"(?:# |// )([\w.]+\.(?:py|mjs))", first)
        if kind in ("python", "js") and match:
            named[match.group(1)] = body
    return named


def console_commands() -> list[str]:
    """The page's `$ ` commands, in order."""
    return [
        line[2:]
        for kind, body in BLOCK.findall(DOC.read_text(encoding="utf-8"))
        if kind == "console"
        for line in body.splitlines()
        if line.startswith("$ ")
    ]


def environment(broker: InteropBroker, client_id: str, folder: Path) -> dict[str, str]:
    """The variables the snippets read, for `client_id`."""
    key_file = folder / f"{client_id}.jwk.json"
    key_file.write_text(json.dumps(broker.keys[client_id]), encoding="utf-8")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {
        **os.environ,
        "PATH": path,
        "BROKER": broker.issuer,
        "CLIENT_ID": client_id,
        "CLIENT_KEY": str(key_file),
        "SUBJECT": "alice",
        "RESOURCE": CALENDAR,
    }


def test_the_page_has_every_snippet() -> None:
    assert set(files()) == {"authlib_client.py", "oauth4webapi_client.mjs", "make_assertion.py"}
    assert len(console_commands()) == 2


@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_the_authlib_snippet_runs(broker: InteropBroker, tmp_path: Path) -> None:
    script = tmp_path / "authlib_client.py"
    script.write_text(files()["authlib_client.py"], encoding="utf-8")
    result = subprocess.run(  # noqa: S603 - the page's own script
        [sys.executable, "-W", "ignore", str(script)],
        env=environment(broker, "py-ed25519", tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == ["token_type Bearer scope calendar:read", "revoked"]


def test_the_oauth4webapi_snippet_runs(node: str, broker: InteropBroker, tmp_path: Path) -> None:
    # Beside the pinned node_modules, so that its imports resolve to them.
    script = NODE_DIR / f"doc-{os.getpid()}.mjs"
    script.write_text(files()["oauth4webapi_client.mjs"], encoding="utf-8")
    try:
        result = subprocess.run(  # noqa: S603 - the page's own script
            [node, str(script)],
            env=environment(broker, "js-ed25519", tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        script.unlink()
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == ["token_type dpop scope calendar:read", "verified EdDSA"]


def test_the_curl_commands_run(broker: InteropBroker, tmp_path: Path) -> None:
    (tmp_path / "make_assertion.py").write_text(files()["make_assertion.py"], encoding="utf-8")
    outputs = []
    for command in console_commands():
        result = subprocess.run(  # noqa: S603 - the page's own commands
            ["bash", "-o", "pipefail", "-c", command],  # noqa: S607
            cwd=tmp_path,
            env=environment(broker, "py-eddsa", tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (command, result.stderr[-2000:])
        outputs.append(result.stdout.strip())
    assert outputs == [f'"token_endpoint":"{broker.token_endpoint}"', '"token_type":"Bearer"']
