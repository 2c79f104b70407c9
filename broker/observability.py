"""Prometheus metrics and structured JSON logs.

With several worker processes, metrics are aggregated through prometheus_client's multiprocess
mode: `discretion serve` points PROMETHEUS_MULTIPROC_DIR at a fresh folder in the data directory
before the workers start. /metrics is closed unless a scrape token is configured: its counts move
with individual requests, so an agent that could read them would learn what its own request hit.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# prometheus_client picks its value storage when first imported; a process that imported it before
# the multiprocess folder was named (`discretion serve` with one worker) keeps its counters in memory.
_MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

REQUESTS = Counter(
    "discretion_http_requests", "HTTP requests by route and status", ["method", "route", "status"]
)
LATENCY = Histogram(
    "discretion_http_request_duration_seconds",
    "HTTP request latency by route",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
DECISIONS = Counter(
    "discretion_decisions", "Token decisions by outcome and reason", ["type", "decision", "reason"]
)


def record_decision(event_type: str, decision: str | None, reasons: Sequence[str]) -> None:
    """Count one logged decision, once per reason code."""
    for reason in reasons or ("none",):
        DECISIONS.labels(event_type, decision or "none", reason).inc()


class MetricsMiddleware:
    """Counts requests and times them by route template (never by raw path, which has ids)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            REQUESTS.labels(scope["method"], template, str(status)).inc()
            LATENCY.labels(template).observe(time.perf_counter() - started)


def metrics_allowed(authorization: str | None, token: str | None) -> bool:
    """Whether a scrape may read /metrics: only with `Authorization: Bearer <token>` for the configured
    token (compared in constant time); never when no token is configured."""
    if token is None:
        return False
    scheme, _, presented = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.encode(), token.encode())


def metrics_response() -> Response:
    """The Prometheus exposition of this process, or of every worker in multiprocess mode."""
    if _MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception type, never a
    traceback with local values)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, fmt: str) -> None:
    """Root logging for the broker process: JSON lines, or plain text for development."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
