"""The live detector: runs off the token path, shares its state through the database.

Every process (worker or replica) runs `Resilience.run_once` every poll interval. Each writes its
token path's counts as one `resilience.signals` event and reloads the map of agents under a
response. The process holding the lease (a row in the database) also runs the detector: it
reads the grant-log events after its cursor on read snapshots, feeds them to the detector, and
records each detection (table and grant-log event, with its evidence) and applies its response
in a short write transaction. It saves the detector's state every few seconds (compare-and-set
on its version); if it dies, another process takes the lease over when it runs out and goes on
from the saved state. The state is the one a scan of the same log would have, so what the live
broker found is reproducible from an export, and a successor that replays a stretch already
handled finds the same detections, which are stored once (their ids come from the log).
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from broker.context import ServiceContext
from broker.errors import NotFound
from broker.grantlog import events
from broker.oauth.revocation import revoke_and_log
from broker.periodic import PeriodicThread
from broker.resilience.detector import Detection, Detector
from broker.resilience.guard import Guard
from broker.resilience.kinds import Action, DetectorConfig
from broker.storage import agents as agent_store
from broker.storage import resilience as store
from broker.storage import tokens as token_store

log = logging.getLogger(__name__)
BATCH = 5000
_OWN_EVENTS = frozenset({str(events.EventType.RESILIENCE_DETECTED)})


class Resilience:
    """Detections, responses and releases for one broker process."""

    def __init__(
        self, ctx: ServiceContext, config: DetectorConfig | None = None, *, lead: bool = True
    ) -> None:
        self._ctx = ctx
        # False in a worker when a process of its own runs the detector (resilience_detector).
        self.leads = lead
        self.config = config or DetectorConfig()
        mode = ctx.settings.resilience_mode
        self.enforce = mode == "enforce"
        self.guard = Guard(enforce=self.enforce, retry_after=self.config.retry_after)
        self._detector: Detector | None = None
        self._version = self._cursor = 0
        self._saved = 0.0
        self._id = uuid.uuid4().hex
        # One process runs the detector while its lease runs; the others only enforce.
        self.lease_seconds = max(10.0, 5 * ctx.settings.resilience_poll_seconds)
        self.persist_seconds = 10.0

    # -- the round ----------------------------------------------------------------------------

    def run_once(self) -> list[Detection]:
        """Flush the counts; if this process holds the lease, detect over every event not yet
        seen; refresh the token path's map. Returns the detections this process recorded."""
        self._flush_signals()
        found = self._detect_all() if self.leads and self._lead() else []
        self.refresh()
        return found

    def _flush_signals(self) -> None:
        counts = self.guard.take()
        if counts is None:
            return
        with self._ctx.store.write() as conn:
            event = events.Event(type=events.EventType.RESILIENCE_SIGNALS, details=counts)
            events.append(conn, event, now=self._ctx.clock())

    def _lead(self) -> bool:
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            leading = store.take_lease(conn, self._id, now=now, until=now + self.lease_seconds)
        if not leading:
            self._detector = None  # another process leads; start from its saved state if we take over
        return leading

    def _load(self) -> Detector:
        with self._ctx.store.read() as conn:
            stored = store.load_state(conn)
        self._version, self._cursor = stored.version, stored.cursor
        if stored.state:
            try:
                return Detector.restore(json.loads(stored.state), self.config)
            except ValueError:
                log.warning(
                    "resilience: stored detector state is of another configuration; rereading the log"
                )
        self._cursor = 0
        return Detector(self.config)

    def _detect_all(self) -> list[Detection]:
        detector = self._detector or self._load()
        self._detector = detector
        found: list[Detection] = []
        while True:
            with self._ctx.store.read() as conn:
                rows = store.events_after(conn, self._cursor, BATCH)
            batch: list[Detection] = []
            for _, text in rows:
                event = json.loads(text)
                if event["type"] not in _OWN_EVENTS:
                    batch += detector.feed(event)
            if rows:
                self._cursor = rows[-1][0]
            if batch:
                with self._ctx.store.write() as conn:
                    now = self._ctx.clock()
                    # One stored already (a successor replaying from an older saved state) is not new.
                    batch = [detection for detection in batch if self._record(conn, detection, now)]
                found += batch
            if len(rows) < BATCH:
                break
        now = self._ctx.clock()
        if found or (self._cursor > 0 and now - self._saved >= self.persist_seconds):
            self._save(detector, now)
        for detection in found:
            log.warning(
                "resilience: %s by %s (action %s%s)",
                detection.kind,
                ",".join(detection.agents),
                detection.action,
                "" if self.enforce else ", dry run",
            )
        return found

    def _save(self, detector: Detector, now: float) -> None:
        # Saving is what lets a successor start from here instead of the start of the log; the
        # detections do not depend on it (they are stored as found, and derived from the log).
        state = json.dumps(detector.snapshot(), separators=(",", ":"))
        with self._ctx.store.write() as conn:
            saved = store.save_state(conn, expected=self._version, cursor=self._cursor, state=state, now=now)
        if saved:
            self._version += 1
            self._saved = now
        else:
            self._detector = None  # another process took over meanwhile

    def _record(self, conn: Any, detection: Detection, now: float) -> bool:
        applied = self.enforce and detection.action is not Action.OBSERVE
        new = store.insert_detection(
            conn,
            detection_id=detection.id,
            seq=detection.seq,
            ts=detection.time_ms / 1000,
            kind=str(detection.kind),
            agents=detection.agents,
            action=str(detection.action),
            applied=applied,
            evidence=detection.evidence,
        )
        if not new:
            return False
        events.append(
            conn,
            events.Event(
                type=events.EventType.RESILIENCE_DETECTED,
                actors=detection.agents,
                decision=str(detection.action),
                reasons=(str(detection.kind),),
                details={
                    "detection_id": detection.id,
                    "trigger_seq": detection.seq,
                    "applied": applied,
                    **detection.evidence,
                },
            ),
            now=now,
        )
        if not applied:
            return True
        for client_id in detection.agents:
            if detection.action is Action.QUARANTINE:
                watch = store.Watch(client_id, store.QUARANTINED, None, detection.id, now)
                if store.set_watch(conn, watch):
                    live = token_store.live_tokens_with_party(conn, client_id, now)
                    revoke_and_log(conn, live, reason="quarantined", now=now)
            else:
                until = now + self.config.throttle_seconds
                store.set_watch(conn, store.Watch(client_id, store.THROTTLED, until, detection.id, now))
        return True

    def refresh(self) -> None:
        """Reload the agents under a response into the token path's map."""
        with self._ctx.store.read() as conn:
            self.guard.update(store.watches(conn, self._ctx.clock()))

    # -- admin and auditor --------------------------------------------------------------------

    def status(self, client_id: str, suspended: bool) -> str:
        """active, throttled, quarantined or suspended."""
        if suspended:
            return agent_store.SUSPENDED
        with self._ctx.store.read() as conn:
            watch = store.watch_of(conn, client_id, self._ctx.clock())
        return agent_store.ACTIVE if watch is None else watch.status

    def release(self, client_id: str, *, admin: str) -> None:
        """Lift a throttle or quarantine and close the agent's open detections (logged)."""
        with self._ctx.store.write() as conn:
            now = self._ctx.clock()
            if agent_store.get_agent(conn, client_id, with_resources=False) is None:
                raise NotFound("no such agent")
            store.release(conn, client_id, now=now, by=admin)
            events.append(
                conn,
                events.Event(
                    type=events.EventType.AGENT_RELEASED, actors=(client_id,), details={"by": admin}
                ),
                now=now,
            )
        self.refresh()

    def detections(
        self,
        *,
        since: float | None = None,
        kind: str | None = None,
        agent: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Stored detections, newest first, as the API shows them."""
        with self._ctx.store.read() as conn:
            rows = store.list_detections(conn, since=since, kind=kind, agent=agent, limit=limit)
        return [
            {
                "id": r.detection_id,
                "kind": r.kind,
                "agents": list(r.agents),
                "seq": r.seq,
                "time": r.ts,
                "action": r.action,
                "applied": r.applied,
                "status": r.status,
                "released_at": r.released_at,
                "released_by": r.released_by,
                "evidence": r.evidence,
            }
            for r in rows
        ]

    def detections_of(self, agents: list[str], limit: int = 20) -> list[dict[str, Any]]:
        """The newest detections naming any of `agents` (a user's activity: the agents that
        asked for the user's data), without their evidence."""
        found: dict[str, dict[str, Any]] = {}
        for agent in agents[:50]:
            for d in self.detections(agent=agent, limit=limit):
                found.setdefault(d["id"], {k: v for k, v in d.items() if k != "evidence"})
        return sorted(found.values(), key=lambda d: d["time"], reverse=True)[:limit]

    def profile(self, client_id: str) -> dict[str, Any] | None:
        """An agent's hourly requests and refusals over the last day, against its cluster's band
        (median and 90th percentile of its organization's agents), from the detector's state."""
        detector = self._detector
        if detector is None:  # not the lease holder: read the saved state
            with self._ctx.store.read() as conn:
                stored = store.load_state(conn)
            if not stored.state:
                return None
            try:
                detector = Detector.restore(json.loads(stored.state), self.config)
            except ValueError:
                return None
        agent = detector.agents.get(client_id)
        if agent is None or not agent.hours:
            return None
        last = max(agent.hours)
        hours = list(range(last - 23, last + 1))
        peers = [detector.agents[p] for p in detector.orgs.get(agent.org, ()) if p != client_id]
        band = []
        for hour in hours:
            values = sorted(p.hours.get(hour, [0, 0])[0] for p in peers) or [0]
            band.append((values[len(values) // 2], values[min(len(values) - 1, int(len(values) * 0.9))]))
        return {
            "hours": hours,
            "requests": [agent.hours.get(h, [0, 0])[0] for h in hours],
            "refusals": [agent.hours.get(h, [0, 0])[1] for h in hours],
            "band": band,
            "organization": agent.org,
        }


class Watcher(PeriodicThread):
    """Runs the detector round every `interval` seconds."""

    def __init__(self, resilience: Resilience, interval: float) -> None:
        super().__init__("resilience", interval, resilience.run_once)
