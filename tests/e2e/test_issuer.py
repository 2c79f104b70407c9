"""`discretion serve` derives its issuer from --host/--port unless DISCRETION_ISSUER is set, and a
changed issuer stops the start with a message naming the settings, not an integrity error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from broker.process.cli import derived_issuer
from examples.broker_process import free_port

pytestmark = pytest.mark.e2e


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISCRETION_")}
    return {**env, "DISCRETION_DATA_DIR": str(data_dir), "DISCRETION_LOG_LEVEL": "warning", **extra}


@contextmanager
def _serving(port: int, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "broker.process.cli", "serve", "--port", str(port)]
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, env=env, stderr=stderr, start_new_session=True)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the broker did not start"
            time.sleep(0.1)
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def _metadata_issuer(port: int) -> str:
    url = f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server"
    return str(httpx.get(url).json()["issuer"])


def test_the_issuer_follows_the_port_then_a_changed_issuer_names_its_settings(tmp_path: Path) -> None:
    first = free_port()
    log = tmp_path / "stderr.txt"
    with _serving(first, _env(tmp_path), log):
        assert _metadata_issuer(first) == f"http://127.0.0.1:{first}"
        jwks = httpx.get(f"http://127.0.0.1:{first}/.well-known/oauth-authorization-server").json()
        assert jwks["jwks_uri"] == f"http://127.0.0.1:{first}/.well-known/jwks.json"
    banner = " ".join(log.read_text().split())
    assert f"issuer http://127.0.0.1:{first} (derived from --host and --port" in banner

    # The same data on another port: the issuer moves, and the grant log's checkpoints were signed
    # for the old one. The start is refused with the two settings that fix it.
    second = free_port()
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "broker.process.cli", "serve", "--port", str(second)],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "not tampering" in message
    assert "DISCRETION_ISSUER" in message
    assert f"DISCRETION_CHECKPOINT_ORIGIN=127.0.0.1:{first}/grant-log" in message
    assert "integrity" not in message

    # Either fix works: the old issuer, or the new one keeping the log's origin.
    with _serving(second, _env(tmp_path, DISCRETION_ISSUER=f"http://127.0.0.1:{first}"), log):
        assert _metadata_issuer(second) == f"http://127.0.0.1:{first}"
    assert "(from DISCRETION_ISSUER)" in " ".join(log.read_text().split())
    origin = f"127.0.0.1:{first}/grant-log"
    with _serving(second, _env(tmp_path, DISCRETION_CHECKPOINT_ORIGIN=origin), log):
        assert _metadata_issuer(second) == f"http://127.0.0.1:{second}"


def test_derived_issuer_spells_hosts_as_urls() -> None:
    assert derived_issuer("127.0.0.1", 8765) == "http://127.0.0.1:8765"
    assert derived_issuer("localhost", 80) == "http://localhost:80"
    assert derived_issuer("0.0.0.0", 8000) == "http://127.0.0.1:8000"  # noqa: S104
    assert derived_issuer("::1", 8000) == "http://[::1]:8000"
    assert derived_issuer("::", 8000) == "http://[::1]:8000"


def test_production_without_an_issuer_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "broker.process.cli", "serve", "--port", str(free_port())],
        env=_env(tmp_path, DISCRETION_ENVIRONMENT="production"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "production needs DISCRETION_ISSUER" in result.stderr
