"""Resilience: recall per attacker kind and false positives on normal agents over simulated weeks.

A week of grant-log events (benchmarks/resilience_sim.py) goes through the same detector as
`discretion resilience scan`. For each attacker kind: recall (detected with its own kind within
200 of its attack requests; sleepless within one simulated day), and requests to detection. For
normal agents: how many were ever throttled or quarantined, and how many only observed.

Thresholds were set on the tuning seeds (1-3); report the held-out seeds (101-105), which the
thresholds never saw:

    .venv/bin/python benchmarks/resilience.py --seeds 101,102,103,104,105
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.resilience_sim import DAY, KINDS, Week, simulate
from broker.resilience.detector import Detection
from broker.resilience.scan import scan

WITHIN_REQUESTS = 200


def score(week: Week, detections: list[Detection]) -> dict[str, Any]:
    """Recall and requests-to-detection per kind; throttles, quarantines and observations of
    normal agents."""
    time_of = {e["seq"]: e["time_ms"] / 1000 for e in week.events}
    by_agent: dict[str, list[Detection]] = defaultdict(list)
    for d in detections:
        for a in d.agents:
            by_agent[a].append(d)
    kinds: dict[str, dict[str, Any]] = {}
    for attack in week.attacks:
        entry = kinds.setdefault(attack.kind, {"attacks": 0, "detected": 0, "requests": [], "missed": []})
        entry["attacks"] += 1
        hits = sorted(
            (time_of[d.seq], d)
            for a in attack.agents
            for d in by_agent[a]
            if d.kind == attack.kind and time_of[d.seq] >= attack.start
        )
        if not hits:
            entry["missed"].append(attack.pace)
            continue
        when = hits[0][0]
        requests = sum(1 for t, _ in attack.requests if t <= when)
        ok = when - attack.start <= DAY if attack.kind == "sleepless" else requests <= WITHIN_REQUESTS
        if ok:
            entry["detected"] += 1
            entry["requests"].append(requests)
        else:
            entry["missed"].append(f"{attack.pace} (late: {requests} requests)")
    normal = set(week.normal)
    acted: dict[str, set[str]] = {"throttle": set(), "quarantine": set(), "observe": set()}
    for d in detections:
        for a in d.agents:
            if a in normal:
                acted[str(d.action)].add(a)
    return {
        "kinds": kinds,
        "normal_agents": len(normal),
        "normal_throttled": sorted(acted["throttle"]),
        "normal_quarantined": sorted(acted["quarantine"]),
        "normal_observed": sorted(acted["observe"] - acted["throttle"] - acted["quarantine"]),
        "observed_kinds": sorted(
            {str(d.kind) for d in detections for a in d.agents if a in acted["observe"]}
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", default="101,102,103,104,105")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--per-kind", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    totals: dict[str, dict[str, Any]] = {
        k: {"attacks": 0, "detected": 0, "requests": [], "missed": []} for k in KINDS
    }
    normal = throttled = quarantined = observed = events = 0
    seconds = 0.0
    for seed in (int(s) for s in args.seeds.split(",")):
        week = simulate(seed, days=args.days, per_kind=args.per_kind)
        started = time.perf_counter()
        found = list(scan(week.events))
        seconds += time.perf_counter() - started
        events += len(week.events)
        result = score(week, found)
        for kind, entry in result["kinds"].items():
            total = totals[kind]
            for key in ("attacks", "detected"):
                total[key] += entry[key]
            total["requests"] += entry["requests"]
            total["missed"] += entry["missed"]
        normal += result["normal_agents"]
        throttled += len(result["normal_throttled"])
        quarantined += len(result["normal_quarantined"])
        observed += len(result["normal_observed"])
        if result["normal_throttled"] or result["normal_quarantined"]:
            print(
                f"seed {seed}: normal throttled {result['normal_throttled']} quarantined "
                f"{result['normal_quarantined']}",
                file=sys.stderr,
            )
    rows = []
    for kind, t in totals.items():
        reqs = t["requests"]
        rows.append(
            {
                "kind": kind,
                "recall": round(t["detected"] / t["attacks"], 3) if t["attacks"] else None,
                "detected": t["detected"],
                "attacks": t["attacks"],
                "requests_to_detection_median": statistics.median(reqs) if reqs else None,
                "requests_to_detection_max": max(reqs) if reqs else None,
                "missed": t["missed"],
            }
        )
    summary = {
        "seeds": args.seeds,
        "events": events,
        "detector_events_per_s": round(events / seconds) if seconds else None,
        "normal_agents": normal,
        "normal_throttled": throttled,
        "normal_quarantined": quarantined,
        "normal_observed_only": observed,
        "kinds": rows,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"seeds {args.seeds}: {events} events, detector {summary['detector_events_per_s']} events/s")
    print(
        f"normal agents {normal}: throttled {throttled} ({100 * throttled / normal:.1f} %), "
        f"quarantined {quarantined}, observed only {observed}"
    )
    print(f"{'kind':22} {'recall':>7} {'found':>9} {'median req':>10} {'max req':>8}  missed")
    for r in rows:
        print(
            f"{r['kind']:22} {r['recall']!s:>7} {r['detected']:>4}/{r['attacks']:<4} "
            f"{r['requests_to_detection_median']!s:>10} {r['requests_to_detection_max']!s:>8}  {r['missed']}"
        )


if __name__ == "__main__":
    main()
