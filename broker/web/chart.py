"""Decisions over time by reason, laid out as a stacked bar chart for an inline SVG.

The layout is computed here and drawn by the template with plain SVG elements: no script, no
inline styles (the console's Content-Security-Policy allows neither), and a table of the same
numbers beside it for screen readers and copying.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

WIDTH, HEIGHT = 720, 240
_LEFT, _BOTTOM, _TOP = 40, 30, 10
# Colour-blind-safe (Okabe-Ito); `granted` is always the blue-green one.
_PALETTE = ("#0072B2", "#E69F00", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000", "#999999")
_GRANTED = "#009E73"


@dataclass(frozen=True, slots=True)
class Segment:
    """One reason's part of one bar."""

    reason: str
    count: int
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str


@dataclass(slots=True)
class Chart:
    """Everything the template draws."""

    width: int = WIDTH
    height: int = HEIGHT
    segments: list[Segment] = field(default_factory=list)
    legend: list[tuple[str, str, int]] = field(default_factory=list)  # reason, colour, total
    ticks: list[tuple[float, str]] = field(default_factory=list)  # y, label
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    baseline: float = HEIGHT - _BOTTOM
    left: float = _LEFT
    total: int = 0
    bucket_seconds: int = 0


def _reason_of(decision: str, reasons: list[str]) -> str:
    if decision == "allow":
        return "granted"
    return reasons[0] if reasons else "denied"


def _nice_step(top: int) -> int:
    raw = max(1, math.ceil(top / 4))
    magnitude = 10 ** int(math.log10(raw))
    return int(next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw))


def build(
    decisions: list[tuple[float, str, list[str]]],
    *,
    since: float,
    until: float,
    buckets: int = 24,
    fmt: object = None,
) -> Chart:
    """Bucket (time, decision, reasons) into `buckets` columns between since and until."""
    chart = Chart()
    span = max(until - since, 1.0)
    bucket_seconds = max(1, math.ceil(span / buckets))
    chart.bucket_seconds = bucket_seconds
    counts: list[Counter[str]] = [Counter() for _ in range(buckets)]
    for ts, decision, reasons in decisions:
        index = min(buckets - 1, max(0, int((ts - since) // bucket_seconds)))
        counts[index][_reason_of(decision, reasons)] += 1
    totals: Counter[str] = Counter()
    for bucket in counts:
        totals.update(bucket)
    chart.total = sum(totals.values())
    order = sorted(totals, key=lambda r: (r != "granted", r))
    colours = {r: (_GRANTED if r == "granted" else _PALETTE[i % len(_PALETTE)]) for i, r in enumerate(order)}
    chart.legend = [(r, colours[r], totals[r]) for r in order]
    top = max((sum(b.values()) for b in counts), default=0)
    step = _nice_step(top)
    y_max = max(step, math.ceil(top / step) * step)
    plot_h = HEIGHT - _BOTTOM - _TOP
    plot_w = WIDTH - _LEFT - 10
    chart.ticks = [(HEIGHT - _BOTTOM - plot_h * v / y_max, str(v)) for v in range(0, y_max + 1, step)]
    bar_w = plot_w / buckets
    label = fmt if callable(fmt) else (lambda t: f"{t:.0f}")
    for i, bucket in enumerate(counts):
        x = _LEFT + i * bar_w
        y = float(HEIGHT - _BOTTOM)
        for reason in order:
            n = bucket.get(reason, 0)
            if not n:
                continue
            h = plot_h * n / y_max
            y -= h
            when = label(since + i * bucket_seconds)
            chart.segments.append(
                Segment(
                    reason,
                    n,
                    round(x + 1, 2),
                    round(y, 2),
                    round(bar_w - 2, 2),
                    round(h, 2),
                    colours[reason],
                    f"{when}: {n} x {reason}",
                )
            )
    for i in (0, buckets // 2, buckets - 1):
        chart.x_labels.append((round(_LEFT + i * bar_w, 2), str(label(since + i * bucket_seconds))))
    return chart
