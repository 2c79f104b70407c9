"""Resilience: recall per attacker kind and false positives on normal agents over simulated weeks.

A week of grant-log events (benchmarks/resilience_sim.py) goes through the same detector as
`discretion resilience scan`. For each attacker kind: recall (detected with its own kind within
200 of its attack requests; sleepless within one simulated day), and requests to detection. For
normal agents: how many were ever throttled or quarantined, and how many only observed.

Thresholds were set on the tuning seeds (1-3). Held-out seeds are ones never run before the rules
were frozen (101-105 for version 2, 301-303 for version 3); `--unseen N` adds N attackers of each
style in `resilience_sim.UNSEEN`, scored apart:

    .venv/bin/python benchmarks/resilience.py --seeds 301,302,303 --unseen 2
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
    unseen: dict[str, dict[str, Any]] = {}
    unseen_ids = {id(a) for a in week.unseen}
    for attack in [*week.attacks, *week.unseen]:
        table = unseen if id(attack) in unseen_ids else kinds
        key = f"{attack.kind} ({attack.pace})" if table is unseen else attack.kind
        entry = table.setdefault(key, {"attacks": 0, "detected": 0, "requests": [], "missed": []})
        entry["attacks"] += 1
        hits = sorted(
            ((time_of[d.seq], d) for a in attack.agents for d in by_agent[a]),
            key=lambda h: h[0],
        )
        hits = [(t, d) for t, d in hits if d.kind == attack.kind and t >= attack.start]
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
    named: dict[str, set[str]] = defaultdict(set)  # kind -> normal agents it named
    for d in detections:
        for a in d.agents:
            if a in normal:
                acted[str(d.action)].add(a)
                named[str(d.kind)].add(a)
    return {
        "kinds": kinds,
        "unseen": unseen,
        "normal_named_by_kind": {k: len(v) for k, v in sorted(named.items())},
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
    parser.add_argument("--seeds", default="301,302,303")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--per-kind", type=int, default=8)
    parser.add_argument(
        "--unseen", type=int, default=0, help="attackers of each unseen style per seed (reported apart)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    totals: dict[str, dict[str, Any]] = {
        k: {"attacks": 0, "detected": 0, "requests": [], "missed": []} for k in KINDS
    }
    unseen: dict[str, dict[str, Any]] = {}
    named: dict[str, int] = defaultdict(int)
    normal = throttled = quarantined = observed = events = 0
    seconds = 0.0
    for seed in (int(s) for s in args.seeds.split(",")):
        week = simulate(seed, days=args.days, per_kind=args.per_kind, unseen=args.unseen)
        started = time.perf_counter()
        found = list(scan(week.events))
        seconds += time.perf_counter() - started
        events += len(week.events)
        result = score(week, found)
        for table, entries in ((totals, result["kinds"]), (unseen, result["unseen"])):
            for kind, entry in entries.items():
                total = table.setdefault(kind, {"attacks": 0, "detected": 0, "requests": [], "missed": []})
                for key in ("attacks", "detected"):
                    total[key] += entry[key]
                total["requests"] += entry["requests"]
                total["missed"] += entry["missed"]
        for kind, n in result["normal_named_by_kind"].items():
            named[kind] += n
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
    rows, unseen_rows = _rows(totals), _rows(unseen)
    summary = {
        "seeds": args.seeds,
        "events": events,
        "detector_events_per_s": round(events / seconds) if seconds else None,
        "normal_agents": normal,
        "normal_throttled": throttled,
        "normal_quarantined": quarantined,
        "normal_observed_only": observed,
        "normal_named_by_kind": dict(sorted(named.items())),
        "kinds": rows,
        "unseen": unseen_rows,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"seeds {args.seeds}: {events} events, detector {summary['detector_events_per_s']} events/s")
    print(
        f"normal agents {normal}: throttled {throttled} ({100 * throttled / normal:.1f} %), "
        f"quarantined {quarantined}, observed only {observed}"
    )
    print(f"normal agents named, by kind (summed over seeds): {dict(sorted(named.items()))}")
    for title, table in (("", rows), ("unseen styles", unseen_rows)):
        if not table:
            continue
        print(title)
        print(f"{'kind':30} {'recall':>7} {'found':>9} {'median req':>10} {'max req':>8}  missed")
        for r in table:
            print(
                f"{r['kind']:30} {r['recall']!s:>7} {r['detected']:>4}/{r['attacks']:<4} "
                f"{r['requests_to_detection_median']!s:>10} {r['requests_to_detection_max']!s:>8}  "
                f"{r['missed']}"
            )


def _rows(totals: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
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
    return rows


if __name__ == "__main__":
    main()
