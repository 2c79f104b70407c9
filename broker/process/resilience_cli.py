"""`discretion resilience`: run the detector over an exported grant log."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from broker.resilience.scan import read_export, recorded, scan

resilience_app = typer.Typer(
    help="Detect agents going off script in an exported grant log.", no_args_is_help=True
)


@resilience_app.command("scan")
def scan_command(
    log: Annotated[Path, typer.Option("--log", help="a JSONL export (GET /v1/audit/export)", exists=True)],
    compare: Annotated[
        bool, typer.Option("--compare", help="also check that every detection recorded in the log is found")
    ] = False,
) -> None:
    """Print the detections as JSON lines, in log order (events' timestamps are the clock)."""
    with log.open(encoding="utf-8") as lines:
        events = list(read_export(lines))
    found = []
    for detection in scan(events):
        found.append(detection.id)
        sys.stdout.write(json.dumps(detection.to_json(), sort_keys=True, separators=(",", ":")) + "\n")
    if compare:
        missing = [d for d in recorded(events) if d["id"] not in set(found)]
        for record in missing:
            typer.echo(f"recorded but not reproduced: {json.dumps(record)}", err=True)
        raise typer.Exit(1 if missing else 0)
