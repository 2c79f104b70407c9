"""Storage for broker/resilience: the detector's shared state, detections, agents under a response."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from broker.storage.schema import agent_watch, detection_agents, detections, grant_log, resilience_state

THROTTLED = "throttled"
QUARANTINED = "quarantined"


@dataclass(frozen=True, slots=True)
class StoredState:
    """The detector's state as of log position `cursor`; `version` counts committed rounds."""

    version: int
    cursor: int
    state: str


@dataclass(frozen=True, slots=True)
class Watch:
    """An agent under a response."""

    client_id: str
    status: str
    until: float | None
    detection_id: str
    since: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectionRow:
    """A stored detection."""

    detection_id: str
    seq: int
    ts: float
    kind: str
    agents: tuple[str, ...]
    action: str
    applied: bool
    status: str
    evidence: dict[str, Any]
    released_at: float | None
    released_by: str | None


def load_state(conn: Connection) -> StoredState:
    """The shared detector state (the migration creates its row)."""
    row = conn.execute(select(resilience_state).where(resilience_state.c.id == 1)).one()
    return StoredState(version=row.version, cursor=row.cursor, state=row.state)


def take_lease(conn: Connection, owner: str, *, now: float, until: float) -> bool:
    """Become (or stay) the process that runs the detector, if no other holds a running lease."""
    result = conn.execute(
        update(resilience_state)
        .where(
            resilience_state.c.id == 1,
            (resilience_state.c.owner == owner) | (resilience_state.c.lease_until < now),
        )
        .values(owner=owner, lease_until=until)
    )
    return result.rowcount == 1


def save_state(conn: Connection, *, expected: int, cursor: int, state: str, now: float) -> bool:
    """Compare-and-set: store the state if no other round committed since `expected`."""
    result = conn.execute(
        update(resilience_state)
        .where(resilience_state.c.id == 1, resilience_state.c.version == expected)
        .values(version=expected + 1, cursor=cursor, state=state, updated_at=now)
    )
    return result.rowcount == 1


def events_after(conn: Connection, cursor: int, limit: int) -> list[tuple[int, str]]:
    """Grant-log events after `cursor`, in log order: (seq, canonical JSON)."""
    rows = conn.execute(
        select(grant_log.c.seq, grant_log.c.event)
        .where(grant_log.c.seq > cursor)
        .order_by(grant_log.c.seq)
        .limit(limit)
    ).all()
    return [(row.seq, row.event) for row in rows]


def insert_detection(
    conn: Connection,
    *,
    detection_id: str,
    seq: int,
    ts: float,
    kind: str,
    agents: Sequence[str],
    action: str,
    applied: bool,
    evidence: dict[str, Any],
) -> bool:
    """Store a detection unless it is stored already; True when it is new."""
    exists = conn.execute(
        select(detections.c.detection_id).where(detections.c.detection_id == detection_id)
    ).first()
    if exists is not None:
        return False
    conn.execute(
        insert(detections).values(
            detection_id=detection_id,
            seq=seq,
            ts=ts,
            kind=kind,
            action=action,
            applied=applied,
            status="open",
            evidence=json.dumps(evidence, sort_keys=True, separators=(",", ":")),
        )
    )
    if agents:
        conn.execute(
            insert(detection_agents), [{"client_id": a, "detection_id": detection_id} for a in agents]
        )
    return True


def set_watch(conn: Connection, watch: Watch) -> bool:
    """Put an agent under a response; a throttle never softens a quarantine. True if changed."""
    current = conn.execute(select(agent_watch).where(agent_watch.c.client_id == watch.client_id)).first()
    if current is not None:
        if current.status == QUARANTINED and watch.status != QUARANTINED:
            return False
        conn.execute(delete(agent_watch).where(agent_watch.c.client_id == watch.client_id))
    conn.execute(
        insert(agent_watch).values(
            client_id=watch.client_id,
            status=watch.status,
            until=watch.until,
            detection_id=watch.detection_id,
            since=watch.since,
        )
    )
    return True


def watches(conn: Connection, now: float) -> list[Watch]:
    """Every agent under a response that has not run out."""
    rows = conn.execute(
        select(agent_watch).where((agent_watch.c.until.is_(None)) | (agent_watch.c.until > now))
    ).all()
    return [_watch(row) for row in rows]


def watch_of(conn: Connection, client_id: str, now: float) -> Watch | None:
    """The response an agent is under, if any is in force."""
    row = conn.execute(select(agent_watch).where(agent_watch.c.client_id == client_id)).first()
    if row is None or (row.until is not None and row.until <= now):
        return None
    return _watch(row)


def _watch(row: Any) -> Watch:
    return Watch(
        client_id=row.client_id,
        status=row.status,
        until=row.until,
        detection_id=row.detection_id,
        since=row.since,
    )


def release(conn: Connection, client_id: str, *, now: float, by: str) -> bool:
    """Lift any response on an agent and close its open detections; True if there was one."""
    lifted = conn.execute(delete(agent_watch).where(agent_watch.c.client_id == client_id)).rowcount
    ids = select(detection_agents.c.detection_id).where(detection_agents.c.client_id == client_id)
    closed = conn.execute(
        update(detections)
        .where(detections.c.detection_id.in_(ids), detections.c.status == "open")
        .values(status="released", released_at=now, released_by=by)
    ).rowcount
    return bool(lifted or closed)


def list_detections(
    conn: Connection,
    *,
    since: float | None = None,
    kind: str | None = None,
    agent: str | None = None,
    limit: int = 100,
) -> list[DetectionRow]:
    """Detections, newest first, filtered."""
    query = select(detections)
    if since is not None:
        query = query.where(detections.c.ts >= since)
    if kind is not None:
        query = query.where(detections.c.kind == kind)
    if agent is not None:
        ids = select(detection_agents.c.detection_id).where(detection_agents.c.client_id == agent)
        query = query.where(detections.c.detection_id.in_(ids))
    rows = conn.execute(query.order_by(detections.c.ts.desc(), detections.c.seq.desc()).limit(limit)).all()
    if not rows:
        return []
    members: dict[str, list[str]] = {}
    for link in conn.execute(
        select(detection_agents).where(detection_agents.c.detection_id.in_([r.detection_id for r in rows]))
    ):
        members.setdefault(link.detection_id, []).append(link.client_id)
    return [
        DetectionRow(
            detection_id=r.detection_id,
            seq=r.seq,
            ts=r.ts,
            kind=r.kind,
            agents=tuple(sorted(members.get(r.detection_id, ()))),
            action=r.action,
            applied=bool(r.applied),
            status=r.status,
            evidence=json.loads(r.evidence),
            released_at=r.released_at,
            released_by=r.released_by,
        )
        for r in rows
    ]
