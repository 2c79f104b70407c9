"""Run the broker's worker processes, each with its own SO_REUSEPORT listener.

uvicorn's own multi-worker mode shares one listening socket, and whichever worker wakes first
accepts every pending connection: under a burst of new keep-alive connections one worker was seen
holding 26 of 32 while the other idled, which doubles the tail latency. With one listener per
worker in a SO_REUSEPORT group, the kernel spreads connections over the workers by address hash.

Only uvicorn's public API is used (Config, Server.run with sockets); the supervisor restarts a
worker that dies after a healthy start and stops everything if one fails while starting.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn

from broker.context import ServiceContext
from broker.oauth.signing_keys import KeyRing, load_key_encryption_key
from broker.resilience.service import Resilience
from broker.settings import Settings
from broker.storage.db import Store

log = logging.getLogger(__name__)
# A worker that exits this soon after it started failed to start (bad settings, a wrong
# key-encryption key, an unreachable database): restarting it would only loop.
STARTUP_GRACE_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 10.0
# The resilience detector's process runs this much nicer than the workers: at full load the token
# path gets the CPU and detection lags; otherwise it keeps up within a poll interval.
DETECTOR_NICENESS = 10


def supports_reuse_port() -> bool:
    """Whether this platform has SO_REUSEPORT (Linux, the BSDs, macOS)."""
    return hasattr(socket, "SO_REUSEPORT")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_port_free(host: str, port: int) -> None:
    """Fail now if anything listens on host:port: with SO_REUSEPORT a second broker started on a
    busy port would otherwise silently share its connections."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def reuse_port_listener(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) socket in the SO_REUSEPORT group of host:port."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker(host: str, port: int, config: dict[str, Any]) -> None:
    # uvicorn starts listening only after the app's startup has finished, so a worker joins the
    # group (and receives connections) only once it can serve them.
    listener = reuse_port_listener(host, port)
    uvicorn.Server(uvicorn.Config(**config)).run(sockets=[listener])


def _detector() -> None:
    """The resilience detector alone, off the workers' CPU (docs/resilience.md)."""
    os.nice(DETECTOR_NICENESS)
    settings = Settings()
    store = Store(settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous)
    ctx = ServiceContext(store, settings, KeyRing(store, load_key_encryption_key(settings)))
    resilience = Resilience(ctx, lead=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    interval = max(0.05, settings.resilience_poll_seconds)
    while not stop.wait(interval):
        try:
            resilience.run_once()
        except Exception:  # the workers may still be migrating the store; the next round retries
            log.exception("resilience: this round failed")
    store.dispose()


class Supervisor:
    """Starts `workers` processes, restarts one that dies, stops them all on SIGINT/SIGTERM."""

    def __init__(self, host: str, port: int, workers: int, config: dict[str, Any]) -> None:
        self._host, self._port, self._config = host, port, config
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[tuple[BaseProcess, float]] = []
        self._workers = workers
        self._stop = threading.Event()
        # With several workers the detector gets a process of its own, and the workers only enforce.
        self._detector = os.environ.get("DISCRETION_RESILIENCE_MODE", "enforce") != "off"
        if self._detector:
            os.environ["DISCRETION_RESILIENCE_DETECTOR"] = "process"  # inherited by the workers

    def _spawn(self, detector: bool = False) -> tuple[BaseProcess, float]:
        if detector:
            process = self._context.Process(target=_detector, name="discretion-resilience")
        else:
            process = self._context.Process(
                target=_worker, args=(self._host, self._port, self._config), name="discretion-worker"
            )
        process.start()
        return process, time.monotonic()

    def run(self) -> int:
        """Serve until a signal asks to stop; returns the exit status."""
        if self._port == 0:
            raise SystemExit("several workers need a fixed port (each would get its own with port 0)")
        check_port_free(self._host, self._port)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self._stop.set())
        self._processes = [self._spawn() for _ in range(self._workers)]
        if self._detector:
            self._processes.append(self._spawn(detector=True))
        status = 0
        while not self._stop.wait(0.5):
            for index, (process, started) in enumerate(self._processes):
                if process.is_alive():
                    continue
                if time.monotonic() - started < STARTUP_GRACE_SECONDS:
                    log.error("worker %s failed to start (exit %s); stopping", process.pid, process.exitcode)
                    status = process.exitcode or 1
                    self._stop.set()
                    break
                log.error("worker %s died (exit %s); starting another", process.pid, process.exitcode)
                self._processes[index] = self._spawn(detector=process.name == "discretion-resilience")
        self._terminate()
        return status

    def _terminate(self) -> None:
        for process, _ in self._processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes in-flight requests
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process, _ in self._processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()


def serve(host: str, port: int, workers: int, config: dict[str, Any]) -> None:
    """Serve `config` (uvicorn.Config keyword arguments, without host and port) on host:port."""
    if workers == 1 or not supports_reuse_port():
        uvicorn.run(host=host, port=port, workers=workers, **config)
        return
    sys.exit(Supervisor(host, port, workers, config).run())
