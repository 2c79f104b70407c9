"""`discretion serve --workers N`: one SO_REUSEPORT listener per worker (broker/process/serving.py)."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from examples.broker_process import BrokerProcess, free_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT"),
]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _inodes(port: int, state: str) -> set[int]:
    """Sockets on local `port` in a TCP state (01 established, 0A listening), from /proc/net/tcp."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == state:
            inodes.add(int(fields[9]))
    return inodes


def _wait_for_listeners(port: int, count: int) -> None:
    # /ready answers as soon as one worker serves; a worker joins the group once it has started.
    deadline = time.monotonic() + 30
    while len(_inodes(port, "0A")) < count:
        assert time.monotonic() < deadline, "the workers did not all start listening"
        time.sleep(0.1)


def _key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc")
def test_connections_opened_together_are_spread_over_the_workers() -> None:
    # With one shared listener, the first worker to wake accepted 26 of 32 such connections.
    with BrokerProcess(workers=2) as broker:
        assert broker.process is not None
        _wait_for_listeners(broker.port, 2)
        clients = []
        try:
            for _ in range(32):
                sock = socket.create_connection(("127.0.0.1", broker.port))
                sock.sendall(b"GET /live HTTP/1.1\r\nHost: broker\r\n\r\n")
                clients.append(sock)
            for sock in clients:
                assert sock.recv(1024).startswith(b"HTTP/1.1 200")
            established = _inodes(broker.port, "01")
            workers = _children(broker.process.pid)
            held = [len(_socket_inodes(pid) & established) for pid in workers]
        finally:
            for sock in clients:
                sock.close()
    assert sum(held) == 32
    # Spread by address hash: each of two workers holds at least 4 (the chance of fewer is ~1e-6).
    # (The other child process is multiprocessing's resource tracker.)
    serving = [count for count in held if count > 0]
    assert len(serving) == 2
    assert min(serving) >= 4


def test_a_busy_port_is_refused_instead_of_shared(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "broker.process.cli", "serve", "--port", str(port), "--workers", "2"],
            env={**os.environ, "DISCRETION_DATA_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_a_worker_that_cannot_start_stops_the_broker(tmp_path: Path) -> None:
    env = {**os.environ, "DISCRETION_DATA_DIR": str(tmp_path), "DISCRETION_KEY_ENCRYPTION_KEY": _key()}
    subprocess.run(
        [sys.executable, "-m", "broker.process.cli", "init"], env=env, check=True, capture_output=True
    )
    # Another key-encryption key cannot unseal the signing key: every worker fails its start-up,
    # and the supervisor stops with an error instead of restarting them forever.
    env["DISCRETION_KEY_ENCRYPTION_KEY"] = _key()
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "broker.process.cli", "serve", "--port", str(free_port()), "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "failed to start" in result.stderr
