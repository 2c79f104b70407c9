"""Shared steps for the grant-log tests: an auditor, some traffic, exports and checkpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from broker.grantlog.events import canonical_json
from tests.conftest import World, auth


def auditor_key(world: World) -> str:
    """A fresh auditor API key."""
    response = world.client.post("/v1/auditors", json={"name": "Ada Audit"}, headers=auth(world.admin_key))
    assert response.status_code == 201, response.text
    return str(response.json()["api_key"])


def traffic(world: World) -> None:
    """Grants, issued and denied tokens, a block and a revocation."""
    world.grant()
    assert world.token(world.travel).status_code == 200
    assert world.token(world.ads).status_code == 403
    world.block("organization", "AdTrack Inc.")
    assert world.token(world.travel, scope="calendar:write").status_code == 403


def checkpoint(client: TestClient, key: str) -> dict[str, Any]:
    """Sign a checkpoint now, through the API."""
    response = client.post("/v1/audit/checkpoints", headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def export_lines(client: TestClient, key: str, **params: str) -> list[str]:
    """The JSONL export, as lines."""
    response = client.get("/v1/audit/export", params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    return response.text.splitlines(keepends=True)


def verifier_keys(client: TestClient, key: str) -> list[str]:
    """Every checkpoint verifier key string."""
    response = client.get("/v1/audit/keys", headers=auth(key))
    assert response.status_code == 200, response.text
    return [k["verifier_key"] for k in response.json()["keys"]]


def edit_event(line: str, **changes: Any) -> str:
    """An export line with its event edited but its recorded leaf hash kept."""
    item = json.loads(line)
    item["event"].update(changes)
    return export_line(item["event"], item["leaf_hash"])


def export_line(event: dict[str, Any], leaf_hash: str) -> str:
    """A line in the export's exact form (what a careful forger writes)."""
    return f'{{"event":{canonical_json(event).decode()},"leaf_hash":"{leaf_hash}"}}\n'


def write(path: Path, lines: list[str]) -> Path:
    """Write lines to a file."""
    path.write_text("".join(lines), encoding="utf-8")
    return path
