"""Run a real broker process (`discretion serve`) on a free loopback port, for demos, e2e tests and
benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx


def free_port() -> int:
    """A TCP port that is free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BrokerProcess:
    """`discretion serve` in a child process with its own data directory (SQLite by default)."""

    def __init__(
        self,
        *,
        workers: int = 1,
        database_url: str | None = None,
        data_dir: Path | None = None,
        log_level: str = "warning",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        # Where to reach this process, and the issuer it speaks for (the same unless set, e.g.
        # for several replicas behind one public URL).
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = (extra_env or {}).get("DISCRETION_ISSUER", self.url)
        self._tmp = tempfile.TemporaryDirectory(prefix="discretion-") if data_dir is None else None
        self.data_dir = Path(self._tmp.name) if self._tmp else data_dir
        self.env = {
            **os.environ,
            "DISCRETION_DATA_DIR": str(self.data_dir),
            "DISCRETION_ISSUER": self.url,
            "DISCRETION_LOG_LEVEL": log_level,
            **({"DISCRETION_DATABASE_URL": database_url} if database_url else {}),
            **(extra_env or {}),
        }
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None

    def _cli(self) -> list[str]:
        return [sys.executable, "-m", "broker.process.cli"]

    def start(self, timeout: float = 30.0) -> BrokerProcess:
        """Start the broker and wait until /ready answers."""
        command = [
            *self._cli(),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        self.process = subprocess.Popen(command, env=self.env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the broker exited with status {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the broker did not become ready in time")

    def create_admin_key(self) -> str:
        """Run `discretion admin create-key` against the same database; the key is the last line."""
        result = subprocess.run(
            [*self._cli(), "admin", "create-key", "--label", "demo"],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        """Stop the broker (and its workers)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> BrokerProcess:
        return self.start()

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()
