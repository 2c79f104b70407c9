"""A background thread that runs one task at a fixed interval until it is stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class PeriodicThread:
    """Runs `task` every `interval` seconds on a daemon thread; an interval of 0 never starts it.

    A round that raises is logged and the next one tries again: the store may be away for a while,
    and the thread must outlive that."""

    def __init__(self, name: str, interval: float, task: Callable[[], object]) -> None:
        self._name = name
        self._interval = interval
        self._task = task
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread, unless the interval is 0."""
        if self._interval > 0:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._task()
            except Exception:
                log.exception("%s: this round failed", self._name)

    def stop(self) -> None:
        """Stop and wait for the thread, so that no round runs after the store closes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
