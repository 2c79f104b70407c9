"""Same-run A/B of the token endpoint: two checkouts of the broker, measured alternately.

Each round runs `benchmarks/token_issuance.py` from checkout A, then from checkout B (each with
its own `.venv`), so both see the same machine load within minutes of each other. Rates are
compared as grants/s and as a share of the bare-HTTP floor measured in the same broker run, which
cancels most of the machine's drift.

    .venv/bin/python benchmarks/ab.py --a ../base --b . [--rounds 3] [--label-a before]
        [--label-b after] -- --seconds 10 --modes plain,dpop,exchange

Arguments after `--` go to both runs unchanged (so use only options that both checkouts know);
`--b-args` adds options for B alone (for example `--alg ES256`).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

RESULT = re.compile(r"^(?:\w+ )?(\w+): ([\d,]+) grants/s = ([\d.]+)% of the bare HTTP floor", re.M)


def run(tree: Path, args: list[str]) -> dict[str, tuple[float, float]]:
    """One token_issuance run from `tree`; mode -> (grants/s, % of floor)."""
    command = [str(tree / ".venv/bin/python"), str(tree / "benchmarks/token_issuance.py"), *args]
    out = subprocess.run(command, cwd=tree, capture_output=True, text=True, check=True).stdout
    found = {m[1]: (float(m[2].replace(",", "")), float(m[3])) for m in RESULT.finditer(out)}
    if not found:
        raise SystemExit(f"no result lines from {tree}:\n{out}")
    return found


def main() -> None:
    """Alternate the two checkouts and print per-mode medians and the B/A ratios."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--a", type=Path, required=True)
    parser.add_argument("--b", type=Path, required=True)
    parser.add_argument("--label-a", default="A")
    parser.add_argument("--label-b", default="B")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--b-args", default="", help="extra options for B's runs only")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    common = [a for a in args.rest if a != "--"]
    runs: dict[str, list[dict[str, tuple[float, float]]]] = {args.label_a: [], args.label_b: []}
    for n in range(args.rounds):
        for label, tree, extra in (
            (args.label_a, args.a.resolve(), []),
            (args.label_b, args.b.resolve(), args.b_args.split()),
        ):
            result = run(tree, [*common, *extra])
            runs[label].append(result)
            shown = "  ".join(f"{m} {r:,.0f}/s ({p:.1f}% floor)" for m, (r, p) in result.items())
            print(f"round {n + 1} {label:<8} {shown}", flush=True)
    print()
    modes = runs[args.label_a][0].keys() & runs[args.label_b][0].keys()
    for mode in sorted(modes):
        a_rate = statistics.median(r[mode][0] for r in runs[args.label_a])
        b_rate = statistics.median(r[mode][0] for r in runs[args.label_b])
        a_share = statistics.median(r[mode][1] for r in runs[args.label_a])
        b_share = statistics.median(r[mode][1] for r in runs[args.label_b])
        print(
            f"{mode:<9} {args.label_a} {a_rate:>6,.0f}/s ({a_share:.1f}% floor)  "
            f"{args.label_b} {b_rate:>6,.0f}/s ({b_share:.1f}% floor)  "
            f"B/A {b_rate / a_rate:.3f} by rate, {b_share / a_share:.3f} by floor share"
        )


if __name__ == "__main__":
    sys.exit(main())
