"""A lean HTTP/1.1 load generator on asyncio streams: pre-built requests, keep-alive connections.

The benchmarks run the broker and the load on the same 2 cores, so the client must cost as little
as possible: no HTTP library, no per-request formatting, just bytes out and a parsed status line in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    """Latencies (seconds) of successful requests, counts of the others, and the wall time."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    elapsed: float = 0.0

    @property
    def ok(self) -> int:
        """Requests answered 200."""
        return len(self.latencies)

    def percentile(self, fraction: float) -> float:
        """A latency percentile in milliseconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def form_request(host: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    """A complete keep-alive POST of a form body."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n{extra}Connection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def _worker(
    host: str,
    port: int,
    requests: Sequence[bytes],
    start: int,
    step: int,
    deadline: float,
    result: LoadResult,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    index = start
    try:
        while index < len(requests) and time.perf_counter() < deadline:
            sent = time.perf_counter()
            writer.write(requests[index])
            try:
                status = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                result.errors += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                index += step
                continue
            if status == 200:
                result.latencies.append(time.perf_counter() - sent)
            else:
                result.statuses[status] = result.statuses.get(status, 0) + 1
            index += step
    finally:
        writer.close()


async def run_load(
    host: str, port: int | Sequence[int], requests: Sequence[bytes], *, concurrency: int, seconds: float
) -> LoadResult:
    """Send `requests` over `concurrency` connections until they run out or time is up; with
    several ports, the connections are spread over them (replicas behind a load balancer)."""
    ports = [port] if isinstance(port, int) else list(port)
    result = LoadResult()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(
            _worker(host, ports[i % len(ports)], requests, i, concurrency, deadline, result)
            for i in range(concurrency)
        )
    )
    result.elapsed = time.perf_counter() - started
    return result
