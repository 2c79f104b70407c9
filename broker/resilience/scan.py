"""`discretion resilience scan`: the live detector over an auditor's export, offline."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from broker.resilience.detector import Detection, Detector
from broker.resilience.kinds import DetectorConfig

_OWN = "resilience.detected"


def read_export(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The events of a JSONL export (`{"event": ..., "leaf_hash": ...}` lines, or bare events)."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"line {number}: not JSON") from exc
        event = record.get("event", record) if isinstance(record, dict) else None
        if not isinstance(event, dict) or "seq" not in event or "time_ms" not in event or "type" not in event:
            raise ValueError(f"line {number}: not a grant-log event")
        yield event


def scan(events: Iterable[dict[str, Any]], config: DetectorConfig | None = None) -> Iterator[Detection]:
    """Every detection the detector makes over `events`, in log order (the log's own detection
    records are skipped: they are what a scan is compared with, not its input)."""
    detector = Detector(config)
    for event in events:
        if event["type"] != _OWN:
            yield from detector.feed(event)


def recorded(events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The detections a live broker recorded in the log it exported."""
    for event in events:
        if event["type"] == _OWN:
            details = event.get("details") or {}
            yield {
                "id": details.get("detection_id"),
                "kind": (event.get("reasons") or [None])[0],
                "agents": event.get("actors"),
                "seq": details.get("trigger_seq"),
            }
